"""Spark job: a table's text column -> chunks with character spans -> embeddings, with per-row lineage.

    spark-submit $(lakehouse spark-args) jobs/embed_table.py --source docs.documents --column text
    lakehouse embed docs.documents --column text          # the same through the CLI

The embedding runs in a pandas UDF; each Python worker loads the model once (the registry caches it per process and
Spark reuses workers) with one torch thread per task slot, so ``local[N]`` uses N cores without oversubscription.
Output rows carry the lineage columns of DESIGN.md: embedding_id, source_table, source_key, source_snapshot_id,
chunk_index, chunk_start, chunk_end, content_sha256, model, model_version, run_id.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING


from lakehouse.lineage.events import new_run_id

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakehouse.config import Settings
    from lakehouse.lineage import LineageRun


@dataclass(frozen=True)
class EmbedParams:
    source: str  # e.g. docs.documents
    column: str = "text"
    key: str = "key"
    output: str | None = None  # default: <namespace>.embeddings
    model: str = "all-MiniLM-L6-v2"
    chunk_size: int = 800
    chunk_overlap: int = 80
    batch_size: int = 32
    partitions: int | None = None
    run_id: str = field(default_factory=new_run_id)  # the OpenLineage run id (UUIDv7), also written on every row


def transform(df: DataFrame, params: EmbedParams, *, source_snapshot_id: int | None, model_version: str) -> DataFrame:
    """Pure transformation: source rows -> embedding rows with lineage columns (nothing is written)."""
    from pyspark.sql import functions as F

    from lakehouse.spark.udfs import CHUNK_DDL, chunk_batches, embed_udf

    chunks = df.select(F.col(params.key).cast("string").alias(params.key), F.col(params.column)).mapInArrow(
        lambda it: chunk_batches(
            it, key=params.key, column=params.column, size=params.chunk_size, overlap=params.chunk_overlap
        ),
        schema=CHUNK_DDL,
    )
    # several tasks per core: finer progress, and one slow partition does not hold the whole stage back
    partitions = params.partitions or max(2, df.sparkSession.sparkContext.defaultParallelism * 8)
    chunks = chunks.repartition(partitions)
    ident = F.concat_ws("|", F.lit(params.source), F.col("source_key"), F.col("chunk_index").cast("string"), F.lit(params.model))
    return chunks.select(
        F.substring(F.sha2(ident, 256), 1, 32).alias("embedding_id"),
        F.lit(params.source).alias("source_table"),
        "source_key",
        F.lit(source_snapshot_id).cast("long").alias("source_snapshot_id"),
        "chunk_index",
        "chunk_start",
        "chunk_end",
        "chunk_text",
        "content_sha256",
        F.lit(params.model).alias("model"),
        F.lit(model_version).alias("model_version"),
        F.lit(params.run_id).alias("run_id"),
        embed_udf(params.model, params.batch_size)(F.col("chunk_text")).alias("embedding"),
    )


@dataclass(frozen=True)
class EmbedResult:
    output: str
    source_snapshot_id: int | None
    output_snapshot_id: int | None
    source_rows: int
    chunks: int
    seconds: float
    run_id: str


def run(
    spark: SparkSession,
    params: EmbedParams,
    settings: Settings,
    *,
    log: Callable[[str], object] = print,
    parent: LineageRun | None = None,
) -> EmbedResult:
    """Embed ``params.source`` at its current snapshot and write the embeddings table in one commit.

    Emits OpenLineage START, then COMPLETE (with the output snapshot, statistics and column lineage) or FAIL;
    ``params.run_id`` is both the OpenLineage run id and the value of every written row's ``run_id``.
    """
    from pyspark.sql import functions as F

    from lakehouse.embed import get_model
    from lakehouse.lineage import (
        LineageEmitter,
        dataset_namespace,
        embedding_column_lineage,
        iceberg_input,
        iceberg_output,
    )
    from lakehouse.spark.progress import track
    from lakehouse.spark.write import write_vector_table
    from lakehouse.table import VectorTable, split_identifier
    from lakehouse.vector import VectorSpec

    started = time.perf_counter()
    ns, name = split_identifier(params.source, settings)
    source = f"{ns}.{name}"
    out_ns, out_name = split_identifier(params.output or f"{ns}.embeddings", settings)
    output = f"{out_ns}.{out_name}"
    source_table = VectorTable.load(source, settings=settings)
    snapshot_id = source_table.snapshot_id
    model = get_model(params.model)
    spec = VectorSpec(
        "embedding",
        dim=model.dim,
        metric="cosine",
        model=model.name,
        model_version=model.version,
        source_column=f"{source}.{params.column}",
        normalized=model.normalized,
    )
    emitter = LineageEmitter.from_settings(settings)
    job_params = {k: v for k, v in asdict(params).items() if k != "run_id"}
    with emitter.run(
        "embed_table",
        inputs=[iceberg_input(source_table, settings, snapshot_id=snapshot_id)],
        params=job_params,
        run_id=params.run_id,
        parent=parent,
    ) as lineage:
        reader = spark.read.format("iceberg")
        if snapshot_id is not None:
            reader = reader.option("snapshot-id", snapshot_id)
        df = reader.load(f"{settings.catalog.name}.{source}")
        missing = [c for c in (params.key, params.column) if c not in df.columns]
        if missing:
            from lakehouse.errors import LakehouseError

            raise LakehouseError(
                f"{source} has no column(s) {', '.join(missing)} (columns: {', '.join(df.columns)})",
                hint="pass --column/--key naming the text and key columns",
            )
        source_rows = source_table.count()
        log(f"embedding {source}.{params.column} at snapshot {snapshot_id} ({source_rows} rows) with {model.name} -> {output}")
        embedded = transform(df, params, source_snapshot_id=snapshot_id, model_version=model.version)
        with track(spark, f"embedding {source_rows} rows", log=log):
            write_vector_table(
                embedded,
                f"{settings.catalog.name}.{output}",
                specs=[spec],
                key_column="embedding_id",
                mode="overwrite",
                overwrite_where=F.col("source_table") == F.lit(source),
                properties={"lakehouse.embeddings.source-table": source},
                # one partition per source table, so re-embedding a source replaces whole files atomically
                partition_by=["source_table"],
            )
        out = VectorTable.load(output, settings=settings)
        chunks = out.count()
        column_lineage = embedding_column_lineage(
            dataset_namespace(settings), source, text_column=params.column, key_column=params.key,
            model=model.name, model_version=model.version,
            chunk_size=params.chunk_size, chunk_overlap=params.chunk_overlap,
        )
        lineage.add_output(iceberg_output(out, settings, extra_facets={"columnLineage": column_lineage}))
    return EmbedResult(output, snapshot_id, out.snapshot_id, source_rows, chunks, time.perf_counter() - started, params.run_id)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="embed_table", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--source", required=True, help="source table, e.g. docs.documents")
    p.add_argument("--column", default="text", help="text column to embed (default: text)")
    p.add_argument("--key", default="key", help="key column of the source table (default: key)")
    p.add_argument("--output", default=None, help="embeddings table (default: <namespace>.embeddings)")
    p.add_argument("--model", default=None, help="embedding model (default: from configuration, all-MiniLM-L6-v2)")
    p.add_argument("--chunk-size", type=int, default=None)
    p.add_argument("--chunk-overlap", type=int, default=None)
    p.add_argument("--master", default=None, help="Spark master (default: configuration, local[*])")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from lakehouse.config import load_settings
    from lakehouse.spark import build_spark

    args = parse_args(argv)
    settings = load_settings()
    params = EmbedParams(
        source=args.source,
        column=args.column,
        key=args.key,
        output=args.output,
        model=args.model or settings.embed.model,
        chunk_size=args.chunk_size or settings.embed.chunk_size,
        chunk_overlap=args.chunk_overlap if args.chunk_overlap is not None else settings.embed.chunk_overlap,
        batch_size=settings.embed.batch_size,
    )
    spark = build_spark(settings, app_name="embed_table", master=args.master)
    result = run(spark, params, settings)
    print(
        f"wrote {result.chunks} embeddings to {result.output} (snapshot {result.output_snapshot_id}) "
        f"from {result.source_rows} rows in {result.seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
