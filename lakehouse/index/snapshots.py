"""What an index needs from a table, whatever its format: a :class:`SnapshotSource`.

An index follows a table through its snapshots (an Iceberg snapshot id, a Delta version). All it asks of the table is
small: the current snapshot; whether a snapshot can still be read; the data files live at a snapshot (read from
metadata, never from the data); those files' rows; an exact read for searches the index cannot answer; the schema;
where the index lives; and where the indexed snapshot is recorded. :mod:`lakehouse.index.iceberg_source` and
:mod:`lakehouse.index.delta_source` answer it for the two formats, picked by the table's ``format`` attribute, so
build, refresh, search and status have no format branches.

A data file is identified by its path plus the delete files that apply to it: the rows a file contributes change only
when it is added, removed (an overwrite or a copy-on-write DELETE/UPDATE/MERGE rewrites files) or gains delete files
(Iceberg merge-on-read). Comparing two snapshots' identities gives what an incremental refresh applies.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from lakehouse.index.store import FILE_COLUMN
from lakehouse.vector import VectorSpec, to_fixed_size_list

if TYPE_CHECKING:
    from pyiceberg.schema import Schema

    from lakehouse.index.filters import Filter
    from lakehouse.table import VectorTable


@dataclass(frozen=True)
class FileSet:
    """The live data files of one snapshot, by path, with their scan tasks (delete files attached).

    A task is anything with ``.file.file_path``, ``.file.record_count`` and ``.delete_files`` (pyiceberg's
    ``FileScanTask`` or :class:`lakehouse.index.delta_source.DeltaFileTask`).
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


class SnapshotSource(ABC):
    """The table side of an index (see the module doc). One instance wraps one loaded table handle."""

    format: ClassVar[str]
    # Whether the indexed snapshot can be recorded in the table itself without making a new snapshot. Iceberg table
    # properties live in table metadata, beside the snapshots; every Delta configuration change is a new version.
    records_in_table: ClassVar[bool]

    def __init__(self, table: VectorTable) -> None:
        self.table = table

    @property
    def identifier(self) -> str:
        return self.table.identifier

    def refresh(self) -> None:
        self.table.refresh()

    def current_snapshot(self) -> int | None:
        return self.table.snapshot_id

    def diff(self, base: int, target: int) -> FileDiff:
        """The files that changed from snapshot ``base`` to snapshot ``target``."""
        return diff(self.files_at(base).identities, self.files_at(target))

    def alive(self, snapshot_ids: Iterable[int]) -> set[int]:
        """The given snapshots the table can still be read at (index tags of the others are dropped)."""
        return {s for s in snapshot_ids if self.has_snapshot(s)}

    @abstractmethod
    def has_snapshot(self, snapshot_id: int) -> bool: ...

    @abstractmethod
    def files_at(self, snapshot_id: int | None) -> FileSet: ...

    @abstractmethod
    def read_files(self, snapshot_id: int, tasks: Sequence[Any], columns: Sequence[str]) -> Iterator[pa.Table]:
        """Rows of the given files as of ``snapshot_id``, one Arrow table per file (see :func:`labelled`)."""

    @abstractmethod
    def read(self, snapshot_id: int, columns: Sequence[str], flt: Filter | None = None) -> pa.Table:
        """The table's rows at ``snapshot_id`` that match ``flt`` (vectors as fixed-size lists): exact search."""

    @abstractmethod
    def arrow_schema(self) -> pa.Schema:
        """The table's current schema as stored (vector columns as lists)."""

    @abstractmethod
    def filter_schema(self) -> Schema:
        """The schema ``where`` filters are bound to (a pyiceberg schema: its parser checks every filter)."""

    @abstractmethod
    def index_path(self) -> str:
        """Where the table's indexes live under ``<warehouse>/_lance/``."""

    def default_warehouse(self) -> str | None:
        """The warehouse the table itself names, when settings do not say."""
        return None

    def recorded_snapshot(self, column: str) -> int | None:
        """The indexed snapshot recorded in the table (only where :attr:`records_in_table`)."""
        raise NotImplementedError

    def record_snapshot(self, column: str, snapshot_id: int) -> None:
        raise NotImplementedError


def snapshot_source(table: VectorTable) -> SnapshotSource:
    """The :class:`SnapshotSource` of a loaded table, by its ``format`` attribute."""
    from lakehouse.index.delta_source import DeltaSource
    from lakehouse.index.iceberg_source import IcebergSource

    sources: dict[str, type[SnapshotSource]] = {"iceberg": IcebergSource, "delta": DeltaSource}
    return sources[getattr(table, "format", "iceberg")](table)


def file_set(table: VectorTable, snapshot_id: int | None) -> FileSet:
    """The live files of a snapshot (for a Delta table: the add actions of a version)."""
    return snapshot_source(table).files_at(snapshot_id)


def read_files(
    table: VectorTable, snapshot_id: int, tasks: Sequence[Any], columns: Sequence[str]
) -> Iterator[pa.Table]:
    """Rows of the given files as of ``snapshot_id`` with a ``_file`` column, vectors as fixed-size lists."""
    return snapshot_source(table).read_files(snapshot_id, tasks, columns)
