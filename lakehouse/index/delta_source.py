"""The Delta side of an index: versions and data files from the Delta log (delta-rs), rows read file by file.

A version's live files are its add actions; two versions differ by the paths added or removed between them, which is
everything an incremental refresh needs: an append adds files, a DELETE/UPDATE/MERGE or an overwrite removes files
and adds rewritten ones (copy-on-write: deletion vectors are refused by
:func:`lakehouse.table.delta.check_file_readable`, so a file's rows never change under the same path). Only the log is
read to compute a difference, never the data.

The indexed version is not recorded in the Delta table. ``DeltaTable.alter.set_table_properties`` commits a metaData
action, which is a new table version: the index would be one version behind the table the moment it recorded where it
is, a refresh would chase its own commits, and a metadata commit conflicts with every concurrent writer's commit. The
index records it on its own side instead (:meth:`lakehouse.index.store.IndexStore.indexed_snapshot`), and
:attr:`DeltaSource.records_in_table` is False.

Files are read with pyarrow's own filesystems by :func:`lakehouse.table.delta.read_data_file` (not delta-rs's
``to_pyarrow_dataset``, which now and then aborts the interpreter at exit in deltalake 1.6.6). Partition values come
from the add actions; a column missing from an older file (schema evolution) reads as nulls.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from lakehouse.index.snapshots import FileSet, SnapshotSource, labelled
from lakehouse.table.base import as_vector_arrays
from lakehouse.vector import specs_from_properties

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from pyiceberg.schema import Schema

    from lakehouse.index.filters import Filter
    from lakehouse.table.delta import DeltaVectorTable


@dataclass(frozen=True)
class DeltaDataFile:
    file_path: str  # the add action's path as the log has it: relative to the table (URL-encoded) or absolute
    record_count: int
    partition_values: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class DeltaFileTask:
    """A Delta add action in the shape of a scan task. Copy-on-write Delta has no delete files, so a file's identity
    is its path."""

    file: DeltaDataFile
    delete_files: tuple[()] = ()


class DeltaSource(SnapshotSource):
    """:class:`~lakehouse.index.snapshots.SnapshotSource` over a :class:`~lakehouse.table.delta.DeltaVectorTable`;
    a snapshot id is a Delta version."""

    format: ClassVar[str] = "delta"
    records_in_table: ClassVar[bool] = False

    table: DeltaVectorTable

    def __init__(self, table: DeltaVectorTable) -> None:  # type: ignore[override]
        super().__init__(table)  # type: ignore[arg-type]
        self._versions: dict[int, DeltaTable] = {}
        self._filter_schema: tuple[int, Schema] | None = None

    # -- versions -------------------------------------------------------------------------------------------------
    def _at(self, version: int) -> DeltaTable:
        from deltalake import DeltaTable

        if version == self.table.version:
            return self.table.delta
        if version not in self._versions:
            if len(self._versions) >= 8:  # each holds its version's file list
                self._versions.clear()
            self._versions[version] = DeltaTable(self.table.location, version=version)
        return self._versions[version]

    def has_snapshot(self, snapshot_id: int) -> bool:
        if not isinstance(snapshot_id, int) or snapshot_id < 0 or snapshot_id > self.table.version:
            return False
        try:
            self._at(snapshot_id)
        except Exception:  # delta-rs raises its own DeltaError when a version's log was cleaned up
            return False
        return True

    def files_at(self, snapshot_id: int | None) -> FileSet:
        from lakehouse.table.delta import check_file_readable, live_files

        if snapshot_id is None:
            return FileSet(None, {})
        dt = self._at(snapshot_id)
        check_file_readable(dt, self.table.location)
        tasks: dict[str, Any] = {}
        for path, records, values in live_files(dt):
            tasks[path] = DeltaFileTask(DeltaDataFile(path, int(records or 0), tuple(values.items())))
        return FileSet(snapshot_id, tasks)

    # -- rows -----------------------------------------------------------------------------------------------------
    def _read_file(self, task: DeltaFileTask, columns: Sequence[str], schema: pa.Schema) -> pa.Table:
        from lakehouse.table.delta import read_data_file

        parts = dict(task.file.partition_values)
        return read_data_file(self.table.location, task.file.file_path, parts, columns, schema)

    def read_files(self, snapshot_id: int, tasks: Sequence[Any], columns: Sequence[str]) -> Iterator[pa.Table]:
        dt = self._at(snapshot_id)
        schema = pa.schema(dt.schema().to_arrow())
        specs = specs_from_properties(dt.metadata().configuration)
        for task in tasks:
            yield labelled(self._read_file(task, columns, schema), columns, specs, task.file.file_path)

    def read(self, snapshot_id: int, columns: Sequence[str], flt: Filter | None = None) -> pa.Table:
        dt = self._at(snapshot_id)
        schema = pa.schema(dt.schema().to_arrow())
        cols = list(dict.fromkeys([*columns, *(flt.columns if flt else ())]))
        parts = []
        for task in self.files_at(snapshot_id).tasks.values():
            data = self._read_file(task, cols, schema)
            parts.append(flt.apply(data, self.filter_schema()) if flt else data)
        out = pa.concat_tables(parts) if parts else schema.empty_table().select(cols)
        return as_vector_arrays(out.select(list(columns)), specs_from_properties(dt.metadata().configuration))

    # -- schema and place -----------------------------------------------------------------------------------------
    def arrow_schema(self) -> pa.Schema:
        return self.table.schema()

    def schema_at(self, snapshot_id: int) -> pa.Schema:
        """The schema as stored at version ``snapshot_id`` (vector columns as lists)."""
        return pa.schema(self._at(snapshot_id).schema().to_arrow())

    def filter_schema(self) -> Schema:
        """The Delta schema as a pyiceberg schema (fresh field ids), so filters are parsed and bound as on Iceberg."""
        from pyiceberg.catalog import Catalog
        from pyiceberg.schema import assign_fresh_schema_ids

        if self._filter_schema is None or self._filter_schema[0] != self.table.version:
            converted = assign_fresh_schema_ids(Catalog._convert_schema_if_needed(self.arrow_schema()))
            self._filter_schema = (self.table.version, converted)
        return self._filter_schema[1]

    def default_warehouse(self) -> str | None:
        """The warehouse of a table in the default layout, ``<warehouse>/_delta/<namespace>/<table>``."""
        ns, name = self.identifier.rsplit(".", 1)
        suffix = f"/_delta/{ns.replace('.', '/')}/{name}"
        location = self.table.location.rstrip("/")
        return location[: -len(suffix)] if location.endswith(suffix) and "://" in location else None

    def index_path(self) -> str:
        # apart from Iceberg tables' indexes: an Iceberg and a Delta table may share an identifier
        ns, name = self.identifier.rsplit(".", 1)
        return f"_delta/{ns.replace('.', '/')}/{name}"
