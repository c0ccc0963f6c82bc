"""Spark job: a table's text column -> chunks with character spans -> embeddings, with per-row lineage.

    lakehouse submit jobs/embed_table.py --source docs.documents --column text
    lakehouse embed docs.documents --column text          # the same through the CLI
    lakehouse embed docs.documents --plan                 # what would be embedded, updated, deleted; nothing runs

Incremental: only new chunks and chunks whose text, span or model version changed are embedded; embeddings of deleted
source rows are removed; unchanged rows are not touched. All changes land in one MERGE commit (see
:mod:`lakehouse.spark.incremental`). Changing the model of a column is deliberate (``--reembed``). The source is read
incrementally too where its history allows: only the data files changed since the snapshot the embeddings last
reflected (see :mod:`lakehouse.spark.embed_io`); the progress and ``--plan`` output say which read was done and why.

The embedding runs in a pandas UDF; each Python worker loads the model once (the registry caches it per process and
Spark reuses workers) with one torch thread per task slot, so ``local[N]`` uses N cores without oversubscription.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

from lakehouse.lineage.events import new_run_id
from lakehouse.spark.embed_io import CHUNKING_PROP, SNAPSHOT_PROP

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakehouse.config import Settings
    from lakehouse.lineage import LineageRun
    from lakehouse.spark.embed_io import SourceRows
    from lakehouse.spark.incremental import EmbedPlan
    from lakehouse.spark.progress import UnitsAddress
    from lakehouse.table.spark.delta_merge import DeltaEmbeddings

_THROUGHPUT_PROP = "lakehouse.embeddings.throughput"  # chunks/s of the last run that embedded anything


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
    reembed: bool = False  # allow a model change: re-embed everything of this source with ``model``
    full: bool = False  # read and compare the whole source even where an incremental read is possible
    plan_only: bool = False  # decide and report; write nothing
    format: str | None = None  # iceberg | delta: the output table's format (default: the ``format`` setting)
    run_id: str = field(default_factory=new_run_id)  # the OpenLineage run id (UUIDv7), also written on every row


def chunk_rows(df: DataFrame, params: EmbedParams, *, source_snapshot_id: int | None, model_version: str) -> DataFrame:
    """Source rows -> chunk rows with every lineage column, without vectors (cheap: no model involved)."""
    from pyspark.sql import functions as F

    from lakehouse.spark.udfs import CHUNK_DDL, chunk_batches

    chunks = df.select(F.col(params.key).cast("string").alias(params.key), F.col(params.column)).mapInArrow(
        lambda it: chunk_batches(
            it, key=params.key, column=params.column, size=params.chunk_size, overlap=params.chunk_overlap
        ),
        schema=CHUNK_DDL,
    )
    ident = F.concat_ws(
        "|", F.lit(params.source), F.col("source_key"), F.col("chunk_index").cast("string"), F.lit(params.model)
    )
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
    )


def with_embeddings(
    rows: DataFrame, params: EmbedParams, progress: UnitsAddress | None = None, *, chunks: int | None = None
) -> DataFrame:
    """Add the ``embedding`` column, the rows spread evenly over tasks sized by their count (``chunks``, when known:
    :func:`lakehouse.spark.embed_io.embed_partitions`; else several tasks per core); ``progress``: where the tasks
    report chunks as they embed them (:class:`lakehouse.spark.progress.UnitCounter`)."""
    from pyspark.sql import functions as F

    from lakehouse.spark.embed_io import balance_chunks
    from lakehouse.spark.udfs import embed_udf

    slots = rows.sparkSession.sparkContext.defaultParallelism
    if chunks is None:
        balanced = rows.repartition(params.partitions or max(2, slots * 8))
    else:
        balanced = balance_chunks(rows, chunks, slots, partitions=params.partitions)
    return balanced.withColumn("embedding", embed_udf(params.model, params.batch_size, progress)(F.col("chunk_text")))


def transform(df: DataFrame, params: EmbedParams, *, source_snapshot_id: int | None, model_version: str) -> DataFrame:
    """Pure transformation: source rows -> embedding rows with lineage columns (nothing is written)."""
    return with_embeddings(
        chunk_rows(df, params, source_snapshot_id=source_snapshot_id, model_version=model_version), params
    )


@dataclass(frozen=True)
class EmbedResult:
    output: str
    source_snapshot_id: int | None
    output_snapshot_id: int | None
    source_rows: int
    chunks: int  # embeddings of this source after the run
    seconds: float
    run_id: str
    plan: EmbedPlan | None = None
    embed_seconds: float = 0.0


def run(
    spark: SparkSession,
    params: EmbedParams,
    settings: Settings,
    *,
    log: Callable[[str], object] = print,
    parent: LineageRun | None = None,
) -> EmbedResult:
    """Bring the embeddings of ``params.source`` (at its current snapshot) up to date, in one commit.

    Emits OpenLineage START, then COMPLETE (with the output snapshot, statistics and column lineage) or FAIL;
    ``params.run_id`` is both the OpenLineage run id and the value of every written row's ``run_id``.
    """
    from lakehouse.embed import get_model
    from lakehouse.lineage import LineageEmitter, iceberg_input
    from lakehouse.spark.embed_io import app_version, is_delta, plan_source_read, record_output, table_properties
    from lakehouse.spark.incremental import check_model_change
    from lakehouse.table import VectorTable, split_identifier
    from lakehouse.table.formats import check_format
    from lakehouse.table.spark.delta_merge import DeltaEmbeddings
    from lakehouse.table.spark.iceberg_write import table_exists
    from lakehouse.vector import VectorSpec

    started = time.perf_counter()
    ns, name = split_identifier(params.source, settings)
    params = replace(params, source=f"{ns}.{name}")  # one spelling in ids, rows and properties
    out_ns, out_name = split_identifier(params.output or f"{ns}.embeddings", settings)
    output = f"{out_ns}.{out_name}"
    target = f"{settings.catalog.name}.{output}"
    source_table = VectorTable.load(params.source, settings=settings)
    snapshot_id = source_table.snapshot_id
    model = get_model(params.model)
    spec = VectorSpec(
        "embedding",
        dim=model.dim,
        metric="cosine",
        model=model.name,
        model_version=model.version,
        source_column=f"{params.source}.{params.column}",
        normalized=model.normalized,
    )
    out = DeltaEmbeddings.at(output, settings) if check_format(params.format, settings) == "delta" else None
    exists = out.exists if out else table_exists(spark, target)
    props = (out.properties if out else table_properties(spark, target)) if exists else {}

    def read_target() -> DataFrame:
        return out.read(spark) if out else spark.table(target)

    check_model_change(read_target, target, props, spec, params)
    if is_delta(source_table):
        from lakehouse.table.delta import lineage_dataset

        source_input = lineage_dataset(source_table, settings, version=snapshot_id)  # type: ignore[arg-type]
    else:
        source_input = iceberg_input(source_table, settings, snapshot_id=snapshot_id)

    # a dry run writes nothing, so it emits no lineage either
    emitter = (
        LineageEmitter([], namespace=settings.lineage.namespace)
        if params.plan_only
        else (LineageEmitter.from_settings(settings))
    )
    with emitter.run(
        "embed_table",
        inputs=[source_input],
        params={k: v for k, v in asdict(params).items() if k != "run_id"},
        run_id=params.run_id,
        parent=parent,
    ) as lineage:
        source_rows = source_table.count()
        source = plan_source_read(
            spark,
            params,
            settings,
            source_table,
            snapshot_id,
            props,
            exists=exists,
            model_version=model.version,
            rows_total=source_rows,
        )
        log(f"reading {params.source}: {source.read.describe()}")
        if out:
            out.app_version = app_version(source_table, snapshot_id)
        result = _embed(
            spark,
            params,
            settings,
            source,
            spec,
            model.version,
            props,
            exists,
            target,
            output,
            snapshot_id,
            source_rows,
            log,
            read_target,
            out,
        )
        if not params.plan_only and result.plan and result.plan.changes:
            record_output(lineage, output, params, spec, settings, delta=out is not None)
    return replace(result, seconds=time.perf_counter() - started)


def _embed(
    spark: SparkSession,
    params: EmbedParams,
    settings: Settings,
    source: SourceRows,
    spec: object,
    model_version: str,
    props: dict[str, str],
    exists: bool,
    target: str,
    output: str,
    snapshot_id: int | None,
    source_rows: int,
    log: Callable[[str], object],
    read_target: Callable[[], DataFrame],
    delta: DeltaEmbeddings | None = None,
) -> EmbedResult:
    from contextlib import ExitStack

    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from lakehouse.spark.incremental import EmbedPlan, count_ops, diff_chunks, merge_changes
    from lakehouse.spark.progress import UnitCounter, track
    from lakehouse.table import VectorTable
    from lakehouse.table.spark.checks import translate_vector_errors, with_vector_checks
    from lakehouse.table.spark.iceberg_write import write_vector_table

    chunking = f"{params.chunk_size}/{params.chunk_overlap}"
    source_prop = params.source
    throughput = float(props[_THROUGHPUT_PROP]) if _THROUGHPUT_PROP in props else None

    def result(plan: EmbedPlan, embed_seconds: float = 0.0) -> EmbedResult:
        written = exists or (plan.changes and not params.plan_only)
        out = (delta.load(settings) if delta else VectorTable.load(output, settings=settings)) if written else None
        count = 0
        if out is not None:  # a first run's --plan wrote nothing: there is no table to count in
            now = delta.read(spark, latest=True) if delta else read_target()
            count = now.filter(F.col("source_table") == params.source).count()
        return EmbedResult(
            output,
            snapshot_id,
            out.snapshot_id if out else None,
            source_rows,
            count,
            0.0,
            params.run_id,
            plan,
            embed_seconds,
        )

    if source.rows is None:  # unchanged since the snapshot the embeddings reflect
        kept = read_target().filter(F.col("source_table") == params.source).count()
        log(f"{output} is up to date with {params.source} at snapshot {snapshot_id}: nothing to embed")
        return result(EmbedPlan(keep=kept, read=source.read))

    rows = chunk_rows(source.rows, params, source_snapshot_id=snapshot_id, model_version=model_version)
    existing = read_target().filter(F.col("source_table") == params.source) if exists else None
    existing_count = None
    if existing is not None and source.keys is not None:  # incremental: compare only the changed keys' embeddings
        existing_count = existing.count()
        existing = existing.join(F.broadcast(source.keys), "source_key", "left_semi")
    diff = diff_chunks(rows, existing).persist(StorageLevel.MEMORY_AND_DISK)
    stack = ExitStack()  # the chunk counter's socket, once opened
    try:
        plan = count_ops(diff, read=source.read, existing=existing_count)
        log(f"plan for {params.source} -> {output}: {plan.describe(throughput)}")
        if params.plan_only:
            return result(plan)
        new_props = {
            SNAPSHOT_PROP.format(source=source_prop): str(snapshot_id),
            CHUNKING_PROP.format(source=source_prop): chunking,
            "lakehouse.embeddings.source-table": params.source,
        }
        columns = [*rows.columns, "embedding"]
        counter = stack.enter_context(UnitCounter.open(spark))
        inserts = diff.filter(F.col("op").isin("insert", "update"))
        to_embed = with_embeddings(inserts, params, counter.address, chunks=plan.to_embed)
        embed_started = time.perf_counter()
        label = f"embedding {plan.to_embed} chunks"
        with track(spark, label, log=log, units=counter, total=plan.to_embed, unit="chunks"):
            if not exists and delta:
                delta.write(to_embed.select(*columns), spec, new_props)
            elif not exists:
                write_vector_table(
                    to_embed.select(*columns),
                    target,
                    specs=[spec],
                    key_column="embedding_id",
                    mode="create",
                    properties=new_props,
                    partition_by=["source_table"],
                )
            elif plan.changes:
                checked = with_vector_checks(to_embed, [spec], "embedding_id")  # type: ignore[list-item]
                deletes = diff.filter(F.col("op") == "delete").select("embedding_id", "op")
                changes = checked.unionByName(deletes, allowMissingColumns=True).persist(StorageLevel.MEMORY_AND_DISK)
                try:
                    with translate_vector_errors():
                        changes.count()  # embeds once; MERGE then reads the persisted rows
                        if delta:
                            delta.merge(changes, columns, spec, params.source)
                        else:
                            merge_changes(spark, target, changes, columns, params.source)
                finally:
                    changes.unpersist()
        embed_seconds = time.perf_counter() - embed_started
        if plan.to_embed:
            new_props[_THROUGHPUT_PROP] = f"{plan.to_embed / embed_seconds:.2f}"
        if exists and delta:
            delta.set_properties({**new_props, **spec.to_properties()})  # type: ignore[attr-defined]
        elif exists:
            from lakehouse.table.spark.iceberg_write import set_table_properties

            set_table_properties(spark.table(target), target, {**new_props, **spec.to_properties()})  # type: ignore[attr-defined]
        return result(plan, embed_seconds)
    finally:
        stack.close()
        diff.unpersist()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="embed_table", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--source", required=True, help="source table, e.g. docs.documents")
    p.add_argument("--column", default="text", help="text column to embed (default: text)")
    p.add_argument("--key", default="key", help="key column of the source table (default: key)")
    p.add_argument("--output", default=None, help="embeddings table (default: <namespace>.embeddings)")
    p.add_argument("--model", default=None, help="embedding model (default: from configuration, all-MiniLM-L6-v2)")
    p.add_argument("--chunk-size", type=int, default=None)
    p.add_argument("--chunk-overlap", type=int, default=None)
    p.add_argument("--reembed", action="store_true", help="re-embed the whole column with --model (a model change)")
    p.add_argument(
        "--full", action="store_true", help="read and compare the whole source, not only the files changed since"
    )
    p.add_argument(
        "--plan", action="store_true", help="print what would be embedded, updated and deleted; write nothing"
    )
    p.add_argument(
        "--format",
        default=None,
        choices=["iceberg", "delta"],
        help="format of the embeddings table (default: the format setting, iceberg)",
    )
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
        reembed=args.reembed,
        full=args.full,
        plan_only=args.plan,
        format=args.format,
    )
    spark = build_spark(settings, app_name="embed_table", master=args.master)
    r = run(spark, params, settings)
    print(f"{r.output}: {r.chunks} embeddings of {r.source_rows} rows (snapshot {r.output_snapshot_id})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
