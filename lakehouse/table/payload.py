"""A few rows by key from a table snapshot's data files (Iceberg or Delta): the ANN path's payload join back.

The candidates name their data files (the index's ``_file``), so only those files are read, and in each only the row
groups whose key statistics could hold a candidate, only the key and payload columns. Lakehouse writes vector tables
with 16,384-row groups (:data:`lakehouse.table.iceberg.VECTOR_ROW_GROUP_ROWS`), so with keys written in order
a lookup decodes at most one row group per candidate.

Two readers, same rows. A file with no delete files, local, whose Parquet columns carry the Iceberg field ids of the
wanted (primitive) columns is read directly with pyarrow, its footer kept from one query to the next (files never
change). Anything else (delete files to apply, a column added after the file was written, a nested column, another
file system) goes through pyiceberg's own reader, which applies deletes and schema evolution. The direct read took
about half the time of pyiceberg's for a few keys (figures: BENCHMARKS.md, design measurements, 'payload readers').

Each table format picks its reader (:meth:`lakehouse.table.VectorTable.read_keys`). A Delta version's files are its
add actions (:meth:`lakehouse.table.DeltaVectorTable.files_at`, the same listing the index labels its rows with, so
``_file`` is the add action's path). Copy-on-write Delta has no delete files and no field ids: a local file is read
directly by column name (a column missing from an older file reads as nulls, a partition column comes from the add
action's values), anything else through :func:`lakehouse.table.delta_files.read_data_file`. Deletion vectors and
column mapping are refused by the listing itself (:func:`lakehouse.table.delta_files.check_file_readable`); the
caller then lets the engine read the table instead. On Delta, a top-10 query reading a payload column this way was
several times faster than through DuckDB's key-restricted ``delta_scan(..., version => V)`` or the exact scan
(figures: same entry).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.table.row_groups import ROW_GROUPS

if TYPE_CHECKING:
    import pyarrow.parquet as pq
    from pyiceberg.table import Table

    from lakehouse.table.delta import DeltaVectorTable
    from lakehouse.table.vector_table import VectorTable

__all__ = ["PayloadReader"]

_FILE_SETS = 16  # (table, snapshot) file listings kept
_FOOTERS = 256  # data file footers kept


@dataclass
class _Footer:
    """What one data file's footer says: its metadata, columns by Iceberg field id, and key ranges per row group."""

    metadata: pq.FileMetaData
    columns: dict[int, str]  # Iceberg field id -> Parquet column name (top-level)
    names: frozenset[str] = frozenset()  # top-level column names (what a Delta file is read by)
    ranges: dict[str, list[tuple[Any, Any] | None]] = field(default_factory=dict)  # column -> (min, max) per group

    def key_ranges(self, column: str) -> list[tuple[Any, Any] | None]:
        if column not in self.ranges:
            schema = self.metadata.schema
            at = next((i for i in range(len(schema)) if schema.column(i).path == column), -1)
            out: list[tuple[Any, Any] | None] = []
            for i in range(self.metadata.num_row_groups):
                stats = self.metadata.row_group(i).column(at).statistics if at >= 0 else None
                out.append((stats.min, stats.max) if stats is not None and stats.has_min_max else None)
            self.ranges[column] = out
        return self.ranges[column]


class PayloadReader:
    """Reads ``columns`` for given keys at a snapshot; keeps file listings and footers between calls."""

    def __init__(self, row_group_mb: int | None = None) -> None:
        if row_group_mb is not None:  # the process-wide store of decoded row groups (lakehouse.table.row_groups)
            ROW_GROUPS.resize(row_group_mb)
        self._file_sets: OrderedDict[tuple[str, int], dict[str, Any]] = OrderedDict()
        self._footers: OrderedDict[str, _Footer] = OrderedDict()

    def read(
        self,
        table: VectorTable,
        snapshot_id: int,
        key: str,
        keys: pa.Array | pa.ChunkedArray,
        columns: Sequence[str],
        files: Sequence[str] | None,
    ) -> tuple[pa.Table, int] | None:
        """``key`` + ``columns`` for ``keys`` (in their order) and the number of files read; ``files`` narrows the
        search to those data files (the index's ``_file``; None: all of the snapshot's). ``None`` when a key is
        missing or found twice, or a named file is not live at the snapshot, or (Delta) the version cannot be read
        file by file or the key is a partition column: the caller must not guess, and reads through its engine."""
        return table.read_keys(self, snapshot_id, key, keys, columns, files)

    def read_iceberg(
        self,
        iceberg: Table,
        snapshot_id: int,
        key: str,
        keys: pa.Array | pa.ChunkedArray,
        columns: Sequence[str],
        files: Sequence[str] | None,
    ) -> tuple[pa.Table, int] | None:
        """:meth:`read` for an Iceberg table (pyiceberg's handle)."""
        tasks = self._file_set(iceberg, snapshot_id)
        if files is not None and any(f not in tasks for f in files):
            return None
        chosen = [tasks[f] for f in files] if files is not None else list(tasks.values())
        schema = iceberg.schema()
        wanted = [schema.find_field(c) for c in (key, *columns)]
        targets = pa.schema(
            [pa.field(c, t) for c, t in zip((key, *columns), _arrow_types(iceberg, wanted), strict=True)]
        )
        values = pa.array(keys.to_pylist(), targets.field(key).type)
        parts: list[pa.Table] = []
        rest = []
        for task in chosen:
            part = self._direct(task, wanted, targets, values)
            if part is None:
                rest.append(task)
            else:
                parts.append(part)
        if rest:
            parts.append(_with_pyiceberg(iceberg, snapshot_id, rest, key, columns, values).cast(targets))
        rows = pa.concat_tables(parts) if parts else targets.empty_table()
        ordered = _in_order(rows, key, values)
        return None if ordered is None else (ordered, len(chosen))

    def read_delta(
        self,
        table: DeltaVectorTable,
        version: int,
        key: str,
        keys: pa.Array | pa.ChunkedArray,
        columns: Sequence[str],
        files: Sequence[str] | None,
    ) -> tuple[pa.Table, int] | None:
        """:meth:`read` for a Delta table at ``version``; ``files`` are add-action paths (the index's ``_file``)."""
        from lakehouse.errors import UnsupportedDeltaFeatureError

        try:
            listing = self._delta_files(table, version)
        except UnsupportedDeltaFeatureError:
            return None
        tasks, schema = listing
        if files is not None and any(f not in tasks for f in files):
            return None
        chosen = [tasks[f] for f in files] if files is not None else list(tasks.values())
        names = (key, *columns)
        if any(n not in schema.names for n in names):
            return None
        targets = pa.schema([schema.field(n) for n in names])
        values = pa.array(keys.to_pylist(), targets.field(key).type)
        parts = []
        for task in chosen:
            parts_of = dict(task.file.partition_values)
            if key in parts_of:
                return None  # every row of the file has one key value: no row group statistics to go by
            part = self._direct_delta(table.location, task, parts_of, targets, values)
            if part is None:
                return None
            parts.append(part)
        rows = pa.concat_tables(parts) if parts else targets.empty_table()
        ordered = _in_order(rows, key, values)
        return None if ordered is None else (ordered, len(chosen))

    def _direct_delta(
        self, location: str, task: Any, partition_values: dict[str, Any], targets: pa.Schema, keys: pa.Array
    ) -> pa.Table | None:
        """The rows of one Delta data file whose key is in ``keys``, as ``targets``."""
        from pyarrow import fs

        from lakehouse.table.delta_files import data_file, read_data_file

        filesystem, path = data_file(location, task.file.file_path)
        key = targets.names[0]
        try:
            if isinstance(filesystem, fs.LocalFileSystem):
                footer = self._footer(path)
                stored = [n for n in targets.names if n in footer.names and n not in partition_values]
                groups = _groups(footer.key_ranges(key), keys.to_pylist()) if key in footer.names else []
                if key not in footer.names or not groups:
                    return targets.empty_table()
                if stored[0] != key:  # the key column first: what the kept row groups are searched by
                    stored = [key, *(n for n in stored if n != key)]
                data = ROW_GROUPS.rows_with_keys(path, footer.metadata, groups, stored, keys)
            else:
                data = read_data_file(location, task.file.file_path, partition_values, targets.names, targets)
                data = data.filter(pc.is_in(data.column(key), value_set=keys.cast(data.schema.field(key).type)))
            columns = []
            for f in targets:
                if f.name in data.column_names:
                    columns.append(data.column(f.name).cast(f.type))
                elif f.name in partition_values:
                    value = partition_values[f.name]
                    columns.append(pa.array([value] * data.num_rows).cast(f.type))
                else:  # written before the column was added
                    columns.append(pa.nulls(data.num_rows, f.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return None
        return pa.Table.from_arrays(columns, schema=targets)

    def _delta_files(self, table: DeltaVectorTable, version: int) -> tuple[dict[str, Any], pa.Schema]:
        """The add actions of ``version`` by path, and the table's schema at that version."""
        cache_key = (table.identity, version)
        if cache_key not in self._file_sets:
            listing = table.files_at(version)
            schema = table.schema() if version == table.version else table.schema_at(version)
            self._file_sets[cache_key] = {"tasks": listing.tasks, "schema": schema}
            while len(self._file_sets) > _FILE_SETS:
                self._file_sets.popitem(last=False)
        self._file_sets.move_to_end(cache_key)
        entry = self._file_sets[cache_key]
        return entry["tasks"], entry["schema"]

    # -- the direct read ----------------------------------------------------------------------------------------
    def _direct(self, task: Any, wanted: Sequence[Any], targets: pa.Schema, keys: pa.Array) -> pa.Table | None:

        path = _local(task.file.file_path)
        if task.delete_files or path is None or not all(f.field_type.is_primitive for f in wanted):
            return None
        footer = self._footer(path)
        if any(f.field_id not in footer.columns for f in wanted):
            return None
        names = [footer.columns[f.field_id] for f in wanted]
        groups = _groups(footer.key_ranges(names[0]), keys.to_pylist())
        if not groups:
            return targets.empty_table()
        try:  # the file may hold an older, narrower type of a column (Iceberg type promotion): cast both ways
            data = ROW_GROUPS.rows_with_keys(path, footer.metadata, groups, names, keys)
            columns = [c.cast(t.type) for c, t in zip(data.columns, targets, strict=True)]
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        return pa.Table.from_arrays(columns, schema=targets)

    def _footer(self, path: str) -> _Footer:
        import pyarrow.parquet as pq

        if path not in self._footers:
            metadata = pq.read_metadata(path)
            columns: dict[int, str] = {}
            arrow = metadata.schema.to_arrow_schema()
            for f in arrow:
                raw = (f.metadata or {}).get(b"PARQUET:field_id")
                if raw is not None:
                    columns[int(raw)] = f.name
            self._footers[path] = _Footer(metadata, columns, frozenset(arrow.names))
            while len(self._footers) > _FOOTERS:
                self._footers.popitem(last=False)
        self._footers.move_to_end(path)
        return self._footers[path]

    def _file_set(self, iceberg: Table, snapshot_id: int) -> dict[str, Any]:
        cache_key = (f"{iceberg.metadata.table_uuid}", snapshot_id)
        if cache_key not in self._file_sets:
            tasks = iceberg.scan(snapshot_id=snapshot_id).plan_files()
            self._file_sets[cache_key] = {t.file.file_path: t for t in tasks}
            while len(self._file_sets) > _FILE_SETS:
                self._file_sets.popitem(last=False)
        self._file_sets.move_to_end(cache_key)
        return self._file_sets[cache_key]


def _in_order(rows: pa.Table, key: str, values: pa.Array) -> pa.Table | None:
    """``rows`` in the order of ``values`` (their keys); None when a key is missing or found twice."""
    found = rows.column(key)
    if len(found) != len(pc.unique(found)):
        return None  # a key twice in the table: only a read that keeps every row is right
    at = pc.index_in(values, value_set=found)
    if at.null_count:
        return None
    return rows.take(at)


def _groups(ranges: Sequence[tuple[Any, Any] | None], keys: Sequence[Any]) -> list[int]:
    """Row groups that may hold one of ``keys`` (no statistics, or ones that cannot be compared: kept)."""
    out = []
    for i, span in enumerate(ranges):
        try:
            if span is None or any(span[0] <= k <= span[1] for k in keys):
                out.append(i)
        except TypeError:
            out.append(i)
    return out


def _local(path: str) -> str | None:
    if path.startswith("file://"):
        return path[len("file://") :]
    return path if "://" not in path else None


def _arrow_types(iceberg: Table, fields: Sequence[Any]) -> list[pa.DataType]:
    from pyiceberg.io.pyarrow import schema_to_pyarrow
    from pyiceberg.schema import Schema

    return [schema_to_pyarrow(Schema(f)).field(0).type for f in fields]


def _with_pyiceberg(
    iceberg: Table, snapshot_id: int, tasks: Sequence[Any], key: str, columns: Sequence[str], keys: pa.Array
) -> pa.Table:
    """pyiceberg's reader over ``tasks``: delete files applied, columns mapped across schema changes."""
    from pyiceberg.expressions import In
    from pyiceberg.io.pyarrow import ArrowScan

    scan = iceberg.scan(snapshot_id=snapshot_id, selected_fields=(key, *columns))
    wanted = In(key, keys.to_pylist())  # type: ignore[call-arg,arg-type]  # In's __new__ takes them positionally
    reader = ArrowScan(scan.table_metadata, scan.io, scan.projection(), wanted)
    return reader.to_table(tasks).select([key, *columns])
