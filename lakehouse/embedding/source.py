"""What the embed job reads of its source: all of it, or only what changed since the snapshot the embeddings last
reflected.

Incremental reads: the embeddings table records, per source, the source snapshot (Delta: version) its last run
reflected. When that snapshot is still in the source's history and an ancestor of the current one, and the chunking
and model version are unchanged, only the data files added since are read (their rows, delete files applied) and
the keys of the files removed since (read at the recorded snapshot) tell which rows were deleted or rewritten. The
file difference comes from the manifests (Delta: the log's add actions) through :mod:`lakehouse.table.files`,
never from the data; whether the recorded snapshot is still an ancestor comes from the table's history
(:meth:`lakehouse.table.VectorTable.ancestry_problem`). Anything else falls back to reading the whole
source, and :class:`SourceRead` says why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

    from lakehouse.embedding.params import EmbedParams
    from lakehouse.table import VectorTable
    from lakehouse.table.spark.io import SparkTable

# table properties the embed job keeps on the embeddings table, per source table
SNAPSHOT_PROP = "lakehouse.embeddings.{source}.snapshot-id"
CHUNKING_PROP = "lakehouse.embeddings.{source}.chunking"
MODEL_VERSION_PROP = "lakehouse.vector.embedding.model-version"
# above this share of the source's rows in changed files, a full (distributed) read is as cheap as reading the
# changed files on the driver
INCREMENTAL_MAX_SHARE = 0.5

ReadMode = Literal["full", "incremental", "unchanged"]


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


def plan_source_read(
    spark: SparkSession,
    params: EmbedParams,
    source: SparkTable,
    source_table: VectorTable,
    snapshot_id: int | None,
    props: dict[str, str],
    *,
    exists: bool,
    model_version: str,
    rows_total: int,
) -> SourceRows:
    """Decide how to read the source (see the module doc) and return the rows to chunk. ``source``: the source's
    Spark I/O (:func:`lakehouse.table.spark.io.spark_table_of`), ``source_table`` the loaded table itself."""
    base, why = _base_snapshot(params, props, source_table, snapshot_id, exists=exists, model_version=model_version)
    if base is not None and not why and base == snapshot_id:
        return SourceRows(SourceRead("unchanged", snapshot_id, base, rows_total=rows_total), None)
    if base is not None and not why:
        changed = _changed_rows(spark, params, source, source_table, base, snapshot_id, rows_total)  # type: ignore[arg-type]
        if isinstance(changed, SourceRows):
            return changed
        why = changed
    df = read_source(params, source, snapshot_id)
    files = _live_files(source_table, snapshot_id)
    read = SourceRead("full", snapshot_id, base, why, files, files, rows_total, rows_total)
    return SourceRows(read, df)


def _base_snapshot(
    params: EmbedParams,
    props: dict[str, str],
    source_table: VectorTable,
    snapshot_id: int | None,
    *,
    exists: bool,
    model_version: str,
) -> tuple[int | None, str]:
    """The snapshot the embeddings reflect, and why it cannot be the base of an incremental read ("" if it can)."""
    recorded = props.get(SNAPSHOT_PROP.format(source=params.source))
    base = int(recorded) if recorded and recorded.lstrip("-").isdigit() else None
    was_chunking, was_version = props.get(CHUNKING_PROP.format(source=params.source)), props.get(MODEL_VERSION_PROP)
    if not exists:
        return None, "first run: no embeddings table yet"
    if params.reembed:
        return base, "--reembed: every row is embedded again"
    if params.full:
        return base, "--full: every row is read and compared"
    if base is None or snapshot_id is None:
        return base, "no source snapshot recorded by an earlier run" if base is None else "the source has no snapshot"
    if was_chunking != params.chunking:
        return base, f"chunking changed ({was_chunking} -> {params.chunking}): every chunk may move"
    if was_version != model_version:
        return base, f"model version changed ({was_version} -> {model_version}): every chunk is embedded again"
    if base == snapshot_id:
        return base, ""
    return base, source_table.ancestry_problem(base, snapshot_id)


def _live_files(source_table: VectorTable, snapshot_id: int | None) -> int:
    return len(source_table.files_at(snapshot_id).tasks)


def _changed_rows(
    spark: SparkSession,
    params: EmbedParams,
    source: SparkTable,
    source_table: VectorTable,
    base: int,
    snapshot_id: int,
    rows_total: int,
) -> SourceRows | str:
    """The rows of the data files added since ``base`` and the keys they and the removed files hold; or, when that
    cannot be done or would not pay, the reason to read everything."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from lakehouse.table.files import diff

    unreadable, what = source_table.unreadable_errors(), source_table.snapshot_unit  # a file cleaned up since
    try:
        old = source_table.files_at(base)
    except unreadable as exc:
        return f"{what} {base} can no longer be read ({exc})"
    now = source_table.files_at(snapshot_id)
    change = diff(old.identities, now)
    if rows_total and change.added_rows > INCREMENTAL_MAX_SHARE * rows_total:
        return (
            f"{change.added_rows} of {rows_total} rows are in data files changed since snapshot {base}: "
            "reading everything costs about as much"
        )
    check_columns(params, list(source_table.column_names()))
    columns = [params.key, params.column]
    try:
        added = _concat(source_table.read_files(snapshot_id, change.added, columns), columns)
        removed_tasks = [old.tasks[p] for p in sorted(change.removed)]
        removed = _concat(source_table.read_files(base, removed_tasks, [params.key]), [params.key])
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


def _concat(parts: Iterable[pa.Table], columns: list[str]) -> pa.Table:
    import pyarrow as pa

    tables = [t.select(columns) for t in parts]
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


def read_source(params: EmbedParams, source: SparkTable, snapshot_id: int | None) -> DataFrame:
    """Every row of the source at ``snapshot_id``, its key and text columns checked."""
    df = source.read(snapshot_id=snapshot_id)
    check_columns(params, df.columns)
    return df
