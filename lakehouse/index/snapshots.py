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


def file_set(table: VectorTable, snapshot_id: int | None) -> FileSet:
    if snapshot_id is None:
        return FileSet(None, {})
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
