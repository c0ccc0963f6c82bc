"""A snapshot's data files, whatever the table format: what an index and an incremental reader follow a table by.

A data file is identified by its path plus the delete files that apply to it: the rows a file contributes change only
when it is added, removed (an overwrite or a copy-on-write DELETE/UPDATE/MERGE rewrites files) or gains delete files
(Iceberg merge-on-read). Comparing two snapshots' identities gives what an incremental refresh applies. The listing
itself comes from the table (:meth:`lakehouse.table.VectorTable.files_at`): Iceberg manifests, the Delta log's add
actions; never the data.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from lakehouse.vector import VectorSpec, to_fixed_size_list

if TYPE_CHECKING:
    from pyiceberg.schema import Schema

    from lakehouse.table.vector_table import VectorTable

__all__ = ["FILE_COLUMN", "FileDiff", "FileSet", "RowFilter", "diff", "file_set", "labelled", "read_files"]

FILE_COLUMN = "_file"  # the data file a row was read from (an index stores it beside each row)


class RowFilter(Protocol):
    """A parsed ``where`` filter (``lakehouse.index.filters.Filter``): what a table's exact read needs of it."""

    @property
    def sql(self) -> str: ...

    @property
    def columns(self) -> Collection[str]: ...

    def apply(self, rows: pa.Table, schema: Schema) -> pa.Table: ...


@dataclass(frozen=True)
class FileSet:
    """The live data files of one snapshot, by path, with their scan tasks (delete files attached).

    A task is anything with ``.file.file_path``, ``.file.record_count`` and ``.delete_files`` (pyiceberg's
    ``FileScanTask`` or :class:`lakehouse.table.delta.DeltaFileTask`).
    """

    snapshot_id: int | None
    tasks: dict[str, Any]

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
    added: tuple[Any, ...]  # tasks whose rows are new (or rewritten by delete files): read and append

    @property
    def empty(self) -> bool:
        return not self.removed and not self.added

    @property
    def added_rows(self) -> int:
        """Rows in added files before delete files are applied (an upper bound, from the metadata)."""
        return sum(t.file.record_count for t in self.added)


def diff(base: Mapping[str, frozenset[str]], target: FileSet) -> FileDiff:
    """Compare the file identities an index holds (``base``) with a snapshot's live files."""
    now = target.identities
    removed = frozenset(p for p, ident in base.items() if now.get(p) != ident)
    added = tuple(t for p, t in target.tasks.items() if base.get(p) != now[p])
    return FileDiff(removed, added)


def labelled(data: pa.Table, columns: Sequence[str], specs: Mapping[str, VectorSpec], path: str) -> pa.Table:
    """``data`` in ``columns`` order, vector columns as ``fixed_size_list<float32, dim>``, plus the ``_file`` label."""
    data = data.select(list(columns))
    for name in columns:
        if name in specs:
            fsl = to_fixed_size_list(data.column(name), specs[name].dim, column=name)
            data = data.set_column(data.schema.get_field_index(name), pa.field(name, fsl.type, nullable=False), fsl)
    label = pa.array([path] * data.num_rows, pa.string())
    return data.append_column(pa.field(FILE_COLUMN, pa.string(), nullable=False), label)


def file_set(table: VectorTable, snapshot_id: int | None) -> FileSet:
    """The live files of a snapshot (for a Delta table: the add actions of a version)."""
    return table.files_at(snapshot_id)


def read_files(
    table: VectorTable, snapshot_id: int, tasks: Sequence[Any], columns: Sequence[str]
) -> Iterator[pa.Table]:
    """Rows of the given files as of ``snapshot_id`` with a ``_file`` column, vectors as fixed-size lists."""
    return table.read_files(snapshot_id, tasks, columns)
