"""The Iceberg side of an index: which data files make up a snapshot, how two snapshots differ, reading given files.

A data file is identified by its path plus the delete files that apply to it: the rows a file contributes change
only when it is added, removed (an overwrite or a copy-on-write DELETE/MERGE rewrites files) or gains delete files
(merge-on-read). Manifests are read, never the data, to compute a difference.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from lakehouse.index.store import FILE_COLUMN
from lakehouse.vector import to_fixed_size_list

if TYPE_CHECKING:
    from pyiceberg.expressions import BooleanExpression
    from pyiceberg.table import FileScanTask

    from lakehouse.table import VectorTable


@dataclass(frozen=True)
class FileSet:
    """The live data files of one snapshot, by path, with their scan tasks (delete files attached)."""

    snapshot_id: int | None
    tasks: dict[str, FileScanTask]

    @property
    def identities(self) -> dict[str, frozenset[str]]:
        return {path: frozenset(d.file_path for d in t.delete_files) for path, t in self.tasks.items()}

    @property
    def has_deletes(self) -> bool:
        return any(t.delete_files for t in self.tasks.values())

    @property
    def record_count(self) -> int:
        return sum(t.file.record_count for t in self.tasks.values())


@dataclass(frozen=True)
class FileDiff:
    """What changed from ``base`` to ``target``: files whose rows must leave the index and tasks to read in."""

    removed: frozenset[str]  # paths whose rows are no longer (all) live: delete them from the index
    added: tuple[FileScanTask, ...]  # tasks whose rows are new (or rewritten by delete files): read and append

    @property
    def empty(self) -> bool:
        return not self.removed and not self.added

    @property
    def added_rows(self) -> int:
        """Rows in added files before delete files are applied (an upper bound, from the manifests)."""
        return sum(t.file.record_count for t in self.added)


@dataclass(frozen=True)
class _DeltaDataFile:
    file_path: str  # the add action's path, relative to the table (or absolute)
    record_count: int
    partition_values: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True)
class DeltaFileTask:
    """A Delta add action in the shape of a scan task: copy-on-write Delta has no delete files (deletion vectors are
    refused by :func:`lakehouse.table.delta.check_file_readable`), so a file's identity is its path."""

    file: _DeltaDataFile
    delete_files: tuple[()] = ()


def _delta_file_set(table: VectorTable, version: int) -> FileSet:
    from lakehouse.table.delta import check_file_readable

    dt = table._at(version)  # type: ignore[attr-defined]
    check_file_readable(dt, table.location)  # type: ignore[attr-defined]
    partitions = list(dt.metadata().partition_columns)
    tasks: dict[str, FileScanTask] = {}
    for add in pa.table(dt.get_add_actions(flatten=True)).to_pylist():
        values = tuple((c, add.get(f"partition.{c}")) for c in partitions)
        records = add.get("num_records")
        tasks[add["path"]] = DeltaFileTask(_DeltaDataFile(add["path"], int(records or 0), values))  # type: ignore[assignment]
    return FileSet(version, tasks)


def file_set(table: VectorTable, snapshot_id: int | None) -> FileSet:
    """The live files of a snapshot (for a Delta table: the add actions of a version)."""
    if snapshot_id is None:
        return FileSet(None, {})
    if getattr(table, "format", None) == "delta":
        return _delta_file_set(table, snapshot_id)
    tasks = table.iceberg.scan(snapshot_id=snapshot_id).plan_files()
    return FileSet(snapshot_id, {t.file.file_path: t for t in tasks})


def diff(base: dict[str, frozenset[str]], target: FileSet) -> FileDiff:
    """Compare the file identities an index holds (``base``) with a snapshot's live files."""
    now = target.identities
    removed = frozenset(p for p, ident in base.items() if now.get(p) != ident)
    added = tuple(t for p, t in target.tasks.items() if base.get(p) != now[p])
    return FileDiff(removed, added)


def read_files(
    table: VectorTable,
    snapshot_id: int,
    tasks: Sequence[FileScanTask],
    columns: Sequence[str],
    *,
    row_filter: BooleanExpression | None = None,
) -> Iterator[pa.Table]:
    """Rows of the given files as of ``snapshot_id`` (delete files applied), one Arrow table per file with a
    ``_file`` column; vector columns come back as ``fixed_size_list<float32, dim>``."""
    if getattr(table, "format", None) == "delta":
        yield from _read_delta_files(table, tasks, columns)  # type: ignore[arg-type]
        return
    from pyiceberg.expressions import AlwaysTrue
    from pyiceberg.io.pyarrow import ArrowScan

    scan = table.iceberg.scan(snapshot_id=snapshot_id, selected_fields=tuple(columns))
    reader = ArrowScan(scan.table_metadata, scan.io, scan.projection(), row_filter or AlwaysTrue(), scan.case_sensitive)
    specs = table.specs
    for task in tasks:
        data = reader.to_table([task])
        data = data.select(list(columns))
        for name in columns:
            if name in specs:
                fsl = to_fixed_size_list(data.column(name), specs[name].dim, column=name)
                data = data.set_column(data.schema.get_field_index(name), pa.field(name, fsl.type, nullable=False), fsl)
        path = pa.array([task.file.file_path] * data.num_rows, pa.string())
        yield data.append_column(pa.field(FILE_COLUMN, pa.string(), nullable=False), path)


def _read_delta_files(table: VectorTable, tasks: Sequence[DeltaFileTask], columns: Sequence[str]) -> Iterator[pa.Table]:
    """Rows of Delta data files (partition columns filled from the add action), vectors as fixed-size lists."""
    import pyarrow.parquet as pq

    from lakehouse.spark.delta_write import _fs

    fs, root = _fs(table.location)  # type: ignore[attr-defined]
    schema = table.schema()
    specs = table.specs
    for task in tasks:
        parts = dict(task.file.partition_values)
        stored = [c for c in columns if c not in parts]
        path = task.file.file_path if task.file.file_path.startswith("/") else f"{root}/{task.file.file_path}"
        data = pq.read_table(path, columns=stored, filesystem=fs)
        for name in columns:
            if name in parts:
                value = pa.array([parts[name]] * data.num_rows, pa.string()).cast(schema.field(name).type)
                data = data.append_column(pa.field(name, value.type), value)
        data = data.select(list(columns))
        for name in columns:
            if name in specs:
                fsl = to_fixed_size_list(data.column(name), specs[name].dim, column=name)
                data = data.set_column(data.schema.get_field_index(name), pa.field(name, fsl.type, nullable=False), fsl)
        file_path = pa.array([task.file.file_path] * data.num_rows, pa.string())
        yield data.append_column(pa.field(FILE_COLUMN, pa.string(), nullable=False), file_path)
