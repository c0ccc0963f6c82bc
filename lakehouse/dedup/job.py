"""The dedup job: semantic deduplication of a vector table -> a ``dedup`` result table (+ optionally the kept rows).

    lakehouse dedup docs.embeddings --column embedding --threshold 0.95 --filtered-table docs.embeddings_curated
    lakehouse submit jobs/dedup.py --table docs.embeddings --column embedding --threshold 0.95   # spark-submit

Exact duplicates share a content hash (the ``content_sha256`` column when the table has one); near duplicates have
cosine similarity >= the threshold, found by an exact batch join of the vectors (``--candidates exact``, the
default: :func:`lakehouse.index.pairs_within`, blockwise matrix products over k-means partitions) or as the k
nearest neighbours of every row through the column's ANN index (``--candidates ann``: built or refreshed first).
Pairs are grouped into clusters by union-find; each cluster keeps the row with the smallest key (string order:
deterministic) and drops the others. The finding is driver-side (pyiceberg + numpy, or Lance for ``ann``, see
:mod:`lakehouse.dedup`); Spark writes the result table (one row per cluster: ``cluster_id``, ``kept_key``,
``dropped_keys``, ``size``, ``kind``, ``max/min_similarity`` of the dropped rows to the kept one) and the filtered
table (every column of the source, dropped rows left out, vector specs kept). Both are replaced on each run, in one
commit each; lineage records the input snapshot and the output snapshots. Removed tokens are whitespace-split words
of the text column (``chunk_text`` or ``text`` when present).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from lakehouse.lineage.events import new_run_id

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakehouse.config import Settings
    from lakehouse.dedup import Duplicates
    from lakehouse.dedup.neighbours import Candidates
    from lakehouse.lineage import LineageRun
    from lakehouse.table import VectorTable

RESULT_DDL = (
    "cluster_id string, kept_key string, dropped_keys array<string>, size int, kind string, "
    "max_similarity double, min_similarity double"
)


@dataclass(frozen=True)
class DedupParams:
    table: str  # e.g. docs.embeddings
    column: str = "embedding"
    threshold: float = 0.95
    output: str | None = None  # default: <namespace>.<table>_dedup
    filtered_table: str | None = None  # write the kept rows here too
    candidates: Candidates = "exact"  # exact: batch join of all vectors; ann: k nearest neighbours through the index
    k: int = 10  # neighbours searched per row (ann)
    nprobes: int | None = None  # index search overrides (None: the index's own; 0: off)
    refine_factor: int | None = 0
    workers: int = 4
    hash_column: str | None = "content_sha256"
    text_column: str | None = None  # default: chunk_text or text when present
    run_id: str = field(default_factory=new_run_id)


@dataclass(frozen=True)
class DedupResult:
    table: str
    output: str
    filtered_table: str | None
    source_snapshot_id: int | None
    output_snapshot_id: int | None
    filtered_snapshot_id: int | None
    summary: dict[str, Any]
    seconds: float
    run_id: str

    @property
    def rows_removed(self) -> int:
        return int(self.summary["rows_removed"])

    @property
    def tokens_removed(self) -> int | None:
        value = self.summary["tokens_removed"]
        return None if value is None else int(value)


def result_frame(spark: SparkSession, found: Duplicates, run_id: str) -> DataFrame:
    """The clusters as a Spark DataFrame (``RESULT_DDL`` + ``run_id``)."""
    from pyspark.sql import functions as F

    return spark.createDataFrame(found.clusters.to_pandas(), schema=RESULT_DDL).withColumn("run_id", F.lit(run_id))


def kept_rows(spark: SparkSession, settings: Settings, found: Duplicates) -> DataFrame:
    """The source rows at the deduplicated snapshot, less the dropped ones."""
    from pyspark.sql import functions as F

    reader = spark.read.format("iceberg")
    if found.snapshot_id is not None:
        reader = reader.option("snapshot-id", found.snapshot_id)
    rows = reader.load(f"{settings.catalog.name}.{found.table}")
    if not found.rows_removed:
        return rows
    dropped = spark.createDataFrame([(k,) for k in found.dropped_keys.cast("string").to_pylist()], "_dropped string")
    return rows.join(F.broadcast(dropped), F.col(found.key).cast("string") == F.col("_dropped"), "left_anti")


def run(
    spark: SparkSession,
    params: DedupParams,
    settings: Settings,
    *,
    log: Callable[[str], object] = print,
    parent: LineageRun | None = None,
) -> DedupResult:
    """Find the duplicates of ``params.table`` and write the result (and filtered) table, under one lineage run."""
    from lakehouse.dedup import KEEP_RULE, SearchOptions, find_duplicates
    from lakehouse.lineage import LineageEmitter, iceberg_input
    from lakehouse.table import VectorTable, split_identifier
    from lakehouse.table.spark.iceberg_write import write_vector_table

    started = time.perf_counter()
    ns, name = split_identifier(params.table, settings)
    source = VectorTable.load(f"{ns}.{name}", settings=settings)
    out_ns, out_name = split_identifier(params.output or f"{ns}.{name}_dedup", settings)
    output = f"{out_ns}.{out_name}"
    filtered = None
    if params.filtered_table:
        f_ns, f_name = split_identifier(params.filtered_table, settings)
        filtered = f"{f_ns}.{f_name}"
    search = SearchOptions(
        method=params.candidates,
        k=params.k,
        nprobes=params.nprobes,
        refine_factor=params.refine_factor,
        workers=params.workers,
    )
    with LineageEmitter.from_settings(settings).run(
        "dedup",
        inputs=[],
        params={k: v for k, v in asdict(params).items() if k != "run_id"},
        run_id=params.run_id,
        parent=parent,
    ) as lineage:
        found = find_duplicates(
            source,
            params.column,
            threshold=params.threshold,
            search=search,
            hash_column=params.hash_column,
            text_column=params.text_column,
            settings=settings,
            log=log,
        )
        source.refresh()
        lineage.add_input(iceberg_input(source, settings, snapshot_id=found.snapshot_id))
        log(_describe(found))
        props = {
            "lakehouse.dedup.source-table": found.table,
            "lakehouse.dedup.source-snapshot-id": str(found.snapshot_id),
            "lakehouse.dedup.column": found.column,
            "lakehouse.dedup.threshold": str(found.threshold),
            "lakehouse.dedup.keep-rule": KEEP_RULE,
            "lakehouse.dedup.summary": json.dumps({k: v for k, v in found.summary().items() if k != "seconds"}),
        }
        target = f"{settings.catalog.name}.{output}"
        write_vector_table(
            result_frame(spark, found, params.run_id),
            target,
            specs=[],
            key_column="cluster_id",
            mode="replace",
            properties=props,
        )
        out = VectorTable.load(output, settings=settings)
        _record(lineage, out, settings)
        filtered_snapshot = None
        if filtered:
            write_vector_table(
                kept_rows(spark, settings, found),
                f"{settings.catalog.name}.{filtered}",
                specs=list(source.specs.values()),
                key_column=found.key,
                mode="replace",
                properties={**props, "lakehouse.dedup.result-table": output},
            )
            kept = VectorTable.load(filtered, settings=settings)
            filtered_snapshot = kept.snapshot_id
            _record(lineage, kept, settings)
    return DedupResult(
        found.table,
        output,
        filtered,
        found.snapshot_id,
        out.snapshot_id,
        filtered_snapshot,
        found.summary(),
        time.perf_counter() - started,
        params.run_id,
    )


def _record(lineage: LineageRun, table: VectorTable, settings: Settings) -> None:
    from lakehouse.lineage import iceberg_output

    lineage.add_output(iceberg_output(table, settings))


def _describe(found: Duplicates) -> str:
    s = found.summary()
    tokens = (
        f", {s['tokens_removed']:,} of {s['tokens']:,} tokens (whitespace-split words of {s['text_column']})"
        if s["tokens"] is not None
        else " (no text column: tokens not counted)"
    )
    return (
        f"{found.table}@{found.snapshot_id}: {s['clusters']:,} clusters ({s['exact_clusters']:,} exact, "
        f"{s['near_clusters']:,} near) from {s['pairs']:,} pairs; {s['rows_removed']:,} of {s['rows']:,} rows "
        f"removed{tokens}; candidates by {s['candidates']}"
    )
