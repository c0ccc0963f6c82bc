"""What the embed job reads and records around its core: the source (all of it, or only what changed since the
snapshot the embeddings last reflected), the target's properties, the app version of a Delta commit, and the
OpenLineage output of a run.

Incremental reads: the embeddings table records, per source, the source snapshot (Delta: version) its last run
reflected. When that snapshot is still in the source's history and an ancestor of the current one, and the chunking
and model version are unchanged, only the data files added since are read (their rows, delete files applied) and
the keys of the files removed since (read at the recorded snapshot) tell which rows were deleted or rewritten. The
file difference comes from the manifests (Delta: the log's add actions) through :mod:`lakehouse.index.snapshots`,
never from the data. Anything else falls back to reading the whole source, and :class:`SourceRead` says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

    from jobs.embed_table import EmbedParams
    from lakehouse.config import Settings
    from lakehouse.lineage import LineageRun

# table properties the embed job keeps on the embeddings table, per source table
SNAPSHOT_PROP = "lakehouse.embeddings.{source}.snapshot-id"
CHUNKING_PROP = "lakehouse.embeddings.{source}.chunking"
MODEL_VERSION_PROP = "lakehouse.vector.embedding.model-version"
# above this share of the source's rows in changed files, a full (distributed) read is as cheap as reading the
# changed files on the driver
INCREMENTAL_MAX_SHARE = 0.5

ReadMode = Literal["full", "incremental", "unchanged"]
# chunks per embed task: ~1.5 s of all-MiniLM-L6-v2 on one idle core (45 chunks/s a thread), so the last wave of
# tasks, where slots sit idle, is short. Measured on 740 PostgreSQL-manual chunks under load (BENCHMARKS.md): 16
# tasks of 46 chunks embedded 7.8 chunks/s, 6 of 124 6.9 chunks/s; the hand-over per task did not show
TASK_CHUNKS = 64
MAX_WAVES = 64  # at most this many tasks per slot, however many chunks


@dataclass(frozen=True)
class SourceRead:
    """How an embed run read its source: every row (``full``, with the ``reason``), only the rows of data files
    changed since ``base_snapshot_id`` (``incremental``), or nothing (``unchanged``: the embeddings already reflect
    ``snapshot_id``). Counts are of data files and rows of the source."""

    mode: ReadMode
    snapshot_id: int | None
    base_snapshot_id: int | None = None
    reason: str = ""
    files_read: int = 0
    files_total: int = 0
    rows_read: int = 0
    rows_total: int = 0
    files_removed: int = 0  # data files of the base snapshot no longer (all) live
    keys_deleted: int = 0  # keys of those files that are gone from the current snapshot

    def describe(self) -> str:
        if self.mode == "unchanged":
            return f"unchanged since snapshot {self.snapshot_id}, which the embeddings reflect: nothing to read"
        if self.mode == "incremental":
            return (
                f"incremental from snapshot {self.base_snapshot_id} to {self.snapshot_id}: read {self.files_read} of "
                f"{self.files_total} data files ({self.rows_read} of {self.rows_total} rows); "
                f"{self.files_removed} files removed since, {self.keys_deleted} keys deleted"
            )
        return f"full read of {self.rows_total} rows at snapshot {self.snapshot_id}: {self.reason}"


@dataclass(frozen=True)
class SourceRows:
    """The source rows an embed run chunks: all of them, or (``keys`` set) only the changed ones, in which case only
    the existing embeddings of ``keys`` (changed, rewritten and deleted source keys) are compared with them."""

    read: SourceRead
    rows: DataFrame | None  # None when unchanged
    keys: DataFrame | None = None  # one column, source_key


def embed_partitions(chunks: int, slots: int, *, task_chunks: int = TASK_CHUNKS) -> int:
    """How many tasks embed ``chunks`` chunks on ``slots`` task slots: sized by the chunk count (about
    ``task_chunks`` each), a whole number of waves (every slot busy until the last wave ends), never more tasks than
    chunks. A fixed count per core left the PostgreSQL manual's 10,614 chunks in 16 tasks of ~660 chunks, the last
    of them running alone for minutes under load, and gave a 40-chunk run 16 mostly empty tasks.

    >>> embed_partitions(10_614, 2), embed_partitions(40, 2), embed_partitions(1, 8), embed_partitions(0, 2)
    (128, 2, 1, 1)
    """
    slots = max(1, slots)
    if chunks <= slots:
        return max(1, chunks)
    waves = min(MAX_WAVES, max(1, -(-chunks // (task_chunks * slots))))
    return slots * waves


def balance_chunks(rows: DataFrame, chunks: int, slots: int, *, partitions: int | None = None) -> DataFrame:
    """``rows`` spread round-robin over :func:`embed_partitions` tasks (or ``partitions``): every task gets the
    same number of chunks, give or take one, whatever the documents they came from."""
    return rows.repartition(partitions or embed_partitions(chunks, slots))


def is_delta(table: object) -> bool:
    return getattr(table, "format", None) == "delta"


def app_version(source_table: object, snapshot_id: int | None) -> int:
    """A number that grows with the source: its Delta version, or its Iceberg snapshot's sequence number."""
    if snapshot_id is None:
        return 0
    if is_delta(source_table):
        return int(snapshot_id)
    snap = source_table.iceberg.snapshot_by_id(snapshot_id)  # type: ignore[attr-defined]
    return int(snap.sequence_number) if snap is not None and snap.sequence_number is not None else 0


def plan_source_read(
    spark: SparkSession,
    params: EmbedParams,
    settings: Settings,
    source_table: object,
    snapshot_id: int | None,
    props: dict[str, str],
    *,
    exists: bool,
    model_version: str,
    rows_total: int,
) -> SourceRows:
    """Decide how to read the source (see the module doc) and return the rows to chunk."""
    base, why = _base_snapshot(params, props, source_table, snapshot_id, exists=exists, model_version=model_version)
    if base is not None and not why and base == snapshot_id:
        return SourceRows(SourceRead("unchanged", snapshot_id, base, rows_total=rows_total), None)
    if base is not None and not why:
        changed = _changed_rows(spark, params, source_table, base, snapshot_id, rows_total)  # type: ignore[arg-type]
        if isinstance(changed, SourceRows):
            return changed
        why = changed
    df = read_source(spark, params, settings, snapshot_id, source_table)
    files = _live_files(source_table, snapshot_id)
    read = SourceRead("full", snapshot_id, base, why, files, files, rows_total, rows_total)
    return SourceRows(read, df)


def _base_snapshot(
    params: EmbedParams,
    props: dict[str, str],
    source_table: object,
    snapshot_id: int | None,
    *,
    exists: bool,
    model_version: str,
) -> tuple[int | None, str]:
    """The snapshot the embeddings reflect, and why it cannot be the base of an incremental read ("" if it can)."""
    recorded = props.get(SNAPSHOT_PROP.format(source=params.source))
    base = int(recorded) if recorded and recorded.lstrip("-").isdigit() else None
    chunking = f"{params.chunk_size}/{params.chunk_overlap}"
    was_chunking, was_version = props.get(CHUNKING_PROP.format(source=params.source)), props.get(MODEL_VERSION_PROP)
    if not exists:
        return None, "first run: no embeddings table yet"
    if params.reembed:
        return base, "--reembed: every row is embedded again"
    if params.full:
        return base, "--full: every row is read and compared"
    if base is None or snapshot_id is None:
        return base, "no source snapshot recorded by an earlier run" if base is None else "the source has no snapshot"
    if was_chunking != chunking:
        return base, f"chunking changed ({was_chunking} -> {chunking}): every chunk may move"
    if was_version != model_version:
        return base, f"model version changed ({was_version} -> {model_version}): every chunk is embedded again"
    if base == snapshot_id:
        return base, ""
    if is_delta(source_table):  # a Delta log is linear: an older version is an ancestor while it can be read
        if base > snapshot_id:
            return base, f"version {base} is newer than the current version {snapshot_id} (table recreated?)"
        return base, ""
    from pyiceberg.table.snapshots import ancestors_of

    table = source_table.iceberg  # type: ignore[attr-defined]
    if table.snapshot_by_id(base) is None:
        return base, f"snapshot {base} is no longer in {params.source}'s history (expired)"
    if all(s.snapshot_id != base for s in ancestors_of(table.current_snapshot(), table.metadata)):
        return base, (
            f"snapshot {base} is not an ancestor of the current snapshot {snapshot_id} (the table was rolled back, "
            "or its history rewritten or expired in between)"
        )
    return base, ""


def _live_files(source_table: object, snapshot_id: int | None) -> int:
    from lakehouse.index.snapshots import file_set

    return len(file_set(source_table, snapshot_id).tasks)  # type: ignore[arg-type]


def _changed_rows(
    spark: SparkSession, params: EmbedParams, source_table: object, base: int, snapshot_id: int, rows_total: int
) -> SourceRows | str:
    """The rows of the data files added since ``base`` and the keys they and the removed files hold; or, when that
    cannot be done or would not pay, the reason to read everything."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from lakehouse.index.snapshots import diff, file_set, read_files

    unreadable: tuple[type[Exception], ...] = (OSError,)  # a file vacuumed or cleaned up since
    what = "snapshot"
    if is_delta(source_table):
        from deltalake.exceptions import DeltaError

        unreadable, what = (OSError, DeltaError), "version"
    try:
        old = file_set(source_table, base)  # type: ignore[arg-type]
    except unreadable as exc:
        return f"{what} {base} can no longer be read ({exc})"
    now = file_set(source_table, snapshot_id)  # type: ignore[arg-type]
    change = diff(old.identities, now)
    if rows_total and change.added_rows > INCREMENTAL_MAX_SHARE * rows_total:
        return (
            f"{change.added_rows} of {rows_total} rows are in data files changed since snapshot {base}: "
            "reading everything costs about as much"
        )
    check_columns(params, [f.name for f in _schema(source_table)])
    columns = [params.key, params.column]
    try:
        added = _concat(read_files(source_table, snapshot_id, change.added, columns), columns)  # type: ignore[arg-type]
        removed_tasks = [old.tasks[p] for p in sorted(change.removed)]
        removed = _concat(read_files(source_table, base, removed_tasks, [params.key]), [params.key])  # type: ignore[arg-type]
    except unreadable as exc:
        return f"a data file of {what} {base} can no longer be read ({exc})"
    added_keys = pc.cast(added.column(params.key), pa.string())
    removed_keys = pc.cast(removed.column(params.key), pa.string())
    deleted = pc.filter(removed_keys, pc.invert(pc.is_in(removed_keys, value_set=added_keys.combine_chunks())))
    keys = pc.unique(pa.chunked_array([*added_keys.chunks, *removed_keys.chunks], pa.string()))
    rows = pa.table({params.key: added_keys, params.column: pc.cast(added.column(params.column), pa.string())})
    ddl = f"`{params.key}` string, `{params.column}` string"
    read = SourceRead(
        "incremental",
        snapshot_id,
        base,
        files_read=len(change.added),
        files_total=len(now.tasks),
        rows_read=rows.num_rows,
        rows_total=rows_total,
        files_removed=len(change.removed),
        keys_deleted=len(pc.unique(deleted)),
    )
    key_frame = _frame(spark, pa.table({"source_key": keys}), "source_key string")
    return SourceRows(read, _frame(spark, rows, ddl), key_frame)


def _frame(spark: SparkSession, table: pa.Table, ddl: str) -> DataFrame:
    # one chunk per column: pyspark 3.5's Arrow path cannot take pandas 3's chunked string columns
    return spark.createDataFrame(table.combine_chunks().to_pandas(), schema=ddl)


def _schema(source_table: object) -> pa.Schema:
    if is_delta(source_table):
        return source_table.schema()  # type: ignore[attr-defined]
    return source_table.iceberg.schema().as_arrow()  # type: ignore[attr-defined]


def _concat(parts: object, columns: list[str]) -> pa.Table:
    import pyarrow as pa

    tables = [t.select(columns) for t in parts]  # type: ignore[attr-defined]
    if not tables:
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    return pa.concat_tables(tables, promote_options="permissive")


def check_columns(params: EmbedParams, names: list[str]) -> None:
    from lakehouse.errors import LakehouseError

    missing = [c for c in (params.key, params.column) if c not in names]
    if missing:
        raise LakehouseError(
            f"{params.source} has no column(s) {', '.join(missing)} (columns: {', '.join(names)})",
            hint="pass --column/--key naming the text and key columns",
        )


def read_source(
    spark: SparkSession, params: EmbedParams, settings: Settings, snapshot_id: int | None, source_table: object = None
) -> DataFrame:

    if is_delta(source_table):
        from lakehouse.table.spark.delta_read import read_delta_table

        df = read_delta_table(spark, source_table.location, version=snapshot_id)  # type: ignore[attr-defined]
    else:
        reader = spark.read.format("iceberg")
        if snapshot_id is not None:
            reader = reader.option("snapshot-id", snapshot_id)
        df = reader.load(f"{settings.catalog.name}.{params.source}")
    check_columns(params, df.columns)
    return df


def table_properties(spark: SparkSession, target: str) -> dict[str, str]:
    from lakehouse.table.spark.iceberg_write import table_properties as read_properties

    return read_properties(spark.table(target), target)


def record_output(
    lineage: LineageRun, output: str, params: EmbedParams, spec: object, settings: Settings, *, delta: bool = False
) -> None:
    from lakehouse.lineage import dataset_namespace, embedding_column_lineage, iceberg_output
    from lakehouse.table import VectorTable

    out = VectorTable.load(output, settings=settings, format="delta" if delta else None)
    column_lineage = embedding_column_lineage(
        dataset_namespace(settings),
        params.source,
        text_column=params.column,
        key_column=params.key,
        model=spec.model,
        model_version=spec.model_version,  # type: ignore[attr-defined]
        chunk_size=params.chunk_size,
        chunk_overlap=params.chunk_overlap,
    )
    if delta:
        from lakehouse.table.delta import lineage_dataset

        lineage.add_output(
            lineage_dataset(
                out,
                settings,
                output=True,  # type: ignore[arg-type]
                extra_facets={"columnLineage": column_lineage},
            )
        )
    else:
        facets = {"columnLineage": column_lineage}
        lineage.add_output(iceberg_output(out, settings, extra_facets=facets, refresh=False))  # loaded above
