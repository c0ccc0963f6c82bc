"""``VectorTable``: the one table protocol, whatever the format, and ``load_table``/``create_table``.

Two formats implement it: :class:`~lakehouse.table.iceberg.IcebergVectorTable` (pyiceberg over the REST catalog) and
:class:`~lakehouse.table.delta.DeltaVectorTable` (delta-rs). Everything outside :mod:`lakehouse.table` talks to a
table through this class only: history, reads (whole, by data file, by key), the data files of a snapshot, appends,
the schema, how each SQL engine reads it, the app transaction version. ``format`` says which one it is, for display;
code outside this package never branches on it.

Where Iceberg says snapshot id, Delta says version (:attr:`VectorTable.snapshot_unit`); ``snapshot_id`` is the
Delta version.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from lakehouse.config import Settings, TableFormat, load_settings
from lakehouse.errors import LakehouseError
from lakehouse.table.base import VectorColumns
from lakehouse.table.files import FileDiff, FileSet, diff
from lakehouse.vector import VectorSpec

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.schema import Schema

    from lakehouse.table.files import RowFilter
    from lakehouse.table.history import SnapshotInfo
    from lakehouse.table.payload import PayloadReader

__all__ = ["VectorTable", "create_table", "load_table"]


class VectorTable(VectorColumns, ABC):
    """A table whose vector columns are described by :class:`VectorSpec` properties (Iceberg or Delta).

    Example::

        t = VectorTable.load("docs.embeddings")
        t.spec("embedding").dim            # 384
        keys, matrix = t.vectors("embedding")   # numpy (n, 384) float32
    """

    format: ClassVar[TableFormat]  # for display: code outside lakehouse.table never branches on it
    snapshot_unit: ClassVar[str] = "snapshot"  # what a snapshot is called in messages ("version" for Delta)
    # Whether table properties can change without making a new snapshot (Iceberg: properties live in table
    # metadata, beside the snapshots; every Delta configuration change is a new version).
    properties_without_snapshot: ClassVar[bool] = False
    _formats: ClassVar[dict[str, type[VectorTable]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fmt = cls.__dict__.get("format")
        if isinstance(fmt, str):
            VectorTable._formats[fmt] = cls

    # -- construction (the public entry points: see load_table / create_table) ------------------------------------
    @classmethod
    def load(
        cls,
        identifier: str,
        *,
        catalog: Catalog | None = None,
        settings: Settings | None = None,
        format: TableFormat | None = None,
    ) -> VectorTable:
        """Load a table (:func:`load_table`): ``format="delta"`` loads a Delta table; with no format, an identifier
        missing from the Iceberg catalog is looked up at its Delta location."""
        return load_table(identifier, catalog=catalog, settings=settings, format=format)

    @classmethod
    def create(
        cls,
        identifier: str,
        schema: pa.Schema,
        *,
        vectors: Sequence[VectorSpec],
        key: str,
        properties: Mapping[str, str] | None = None,
        catalog: Catalog | None = None,
        settings: Settings | None = None,
        exist_ok: bool = False,
        format: TableFormat | None = None,
    ) -> VectorTable:
        """Create a table whose ``vectors`` columns carry their spec in table properties (:func:`create_table`).

        ``format`` (default: the ``format`` setting, ``iceberg``) ``"delta"`` creates a Delta table at
        ``<warehouse>/_delta/<ns>/<table>`` instead.
        """
        return create_table(
            identifier,
            schema,
            vectors=vectors,
            key=key,
            properties=properties,
            catalog=catalog,
            settings=settings,
            exist_ok=exist_ok,
            format=format,
        )

    # -- metadata -----------------------------------------------------------------------------------------------
    @property
    @abstractmethod
    def identifier(self) -> str: ...

    @property
    @abstractmethod
    def properties(self) -> dict[str, str]: ...

    @property
    @abstractmethod
    def snapshot_id(self) -> int | None:
        """The current snapshot (Delta: version); None for an Iceberg table with no snapshot yet."""

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the table's files live (Iceberg: its location; Delta: the log's folder)."""

    @abstractmethod
    def refresh(self) -> VectorTable: ...

    @property
    @abstractmethod
    def identity(self) -> str:
        """What tells this table from another created later under the same name (Iceberg: the table UUID)."""

    @property
    def metadata_location(self) -> str | None:
        """The metadata file this handle was read at, where properties change without a snapshot, else None."""
        return None

    def set_properties(self, properties: Mapping[str, str]) -> None:
        """Set table properties without a new snapshot (only where :attr:`properties_without_snapshot`)."""
        raise LakehouseError(
            f"{self.identifier}: {self.format} table properties cannot change without a new {self.snapshot_unit}",
            hint="keep the value beside the table instead",
        )

    @abstractmethod
    def arrow_schema(self) -> pa.Schema:
        """The table's current schema as stored (vector columns as lists)."""

    def schema_at(self, snapshot_id: int) -> pa.Schema:
        """The schema as stored at ``snapshot_id``."""
        return self.arrow_schema()

    def column_names(self) -> tuple[str, ...]:
        return tuple(self.arrow_schema().names)

    @abstractmethod
    def filter_schema(self) -> Schema:
        """The schema ``where`` filters are bound to (a pyiceberg schema: its parser checks every filter)."""

    def warehouse(self) -> str | None:
        """The warehouse the table itself names, when settings do not say."""
        return None

    @abstractmethod
    def warehouse_path(self) -> str:
        """The table's place under a warehouse, unique across formats (``docs/embeddings``; Delta:
        ``_delta/docs/embeddings``): what files kept beside the table (its indexes) are named by."""

    # -- history --------------------------------------------------------------------------------------------------
    @abstractmethod
    def snapshots(self) -> list[SnapshotInfo]:
        """The table's readable snapshots, oldest first."""

    @abstractmethod
    def snapshot_as_of(self, timestamp_ms: int) -> int | None:
        """The snapshot that was current at ``timestamp_ms`` (None: none that old)."""

    def refs(self) -> dict[str, tuple[int, str]] | None:
        """Named snapshots by name: (snapshot id, ``branch`` or ``tag``); None where the format has none (Delta)."""
        return None

    def current_snapshot(self) -> int | None:
        return self.snapshot_id

    @abstractmethod
    def has_snapshot(self, snapshot_id: int) -> bool: ...

    def alive(self, snapshot_ids: Iterable[int]) -> set[int]:
        """The given snapshots the table can still be read at."""
        return {s for s in snapshot_ids if self.has_snapshot(s)}

    @abstractmethod
    def ancestry_problem(self, base: int, snapshot_id: int) -> str:
        """Why ``base`` is not an ancestor of ``snapshot_id`` that can still be read ("" when it is)."""

    @abstractmethod
    def app_version(self, snapshot_id: int | None) -> int:
        """A number that grows with the table's history (Delta: the version; Iceberg: the sequence number), for
        an app transaction that records which source snapshot a write reflects."""

    def unreadable_errors(self) -> tuple[type[Exception], ...]:
        """What reading an old snapshot's files raises once they were cleaned up."""
        return (OSError,)

    # -- data files -----------------------------------------------------------------------------------------------
    @abstractmethod
    def files_at(self, snapshot_id: int | None) -> FileSet:
        """The live data files of a snapshot, from metadata only (None: no files)."""

    def diff(self, base: int, target: int) -> FileDiff:
        """The files that changed from snapshot ``base`` to snapshot ``target``."""
        return diff(self.files_at(base).identities, self.files_at(target))

    @abstractmethod
    def read_files(self, snapshot_id: int, tasks: Sequence[Any], columns: Sequence[str]) -> Iterator[pa.Table]:
        """Rows of the given files as of ``snapshot_id``, one Arrow table per file (see
        :func:`lakehouse.table.files.labelled`)."""

    @abstractmethod
    def read(self, snapshot_id: int, columns: Sequence[str], flt: RowFilter | None = None) -> pa.Table:
        """The rows at ``snapshot_id`` that match ``flt`` with SQL's NULL logic (vectors as fixed-size lists)."""

    def file_read_problem(self, snapshot_id: int | None = None) -> str | None:
        """Why the snapshot's data files cannot be read one by one as plain Parquet (Delta deletion vectors,
        column mapping), else None."""
        return None

    @abstractmethod
    def read_keys(
        self,
        reader: PayloadReader,
        snapshot_id: int,
        key: str,
        keys: pa.Array | pa.ChunkedArray,
        columns: Sequence[str],
        files: Sequence[str] | None,
    ) -> tuple[pa.Table, int] | None:
        """``key`` + ``columns`` for ``keys`` in their order, read through ``reader`` (see
        :meth:`lakehouse.table.payload.PayloadReader.read`)."""

    # -- reads and writes -----------------------------------------------------------------------------------------
    @abstractmethod
    def to_arrow(
        self,
        *,
        snapshot_id: int | None = None,
        columns: Sequence[str] | None = None,
        row_filter: str | None = None,
    ) -> pa.Table:
        """Read the table (optionally at a snapshot) with vector columns as ``fixed_size_list<float32, dim>``."""

    @abstractmethod
    def count(self, *, snapshot_id: int | None = None) -> int: ...

    @abstractmethod
    def append(self, data: pa.Table | Mapping[str, Any]) -> int | None:
        """Validate every vector column and the key, then append in one commit; returns the new snapshot."""

    # -- how SQL engines read it ------------------------------------------------------------------------------------
    read_through_catalog: ClassVar[bool] = True  # whether an engine's attached catalog serves the table

    @abstractmethod
    def duckdb_relation(self, name: str, snapshot_id: int | None) -> str:
        """The DuckDB FROM item that reads the table (``name``: its catalog name as DuckDB SQL) at a snapshot."""

    @abstractmethod
    def spark_relation(self, spark: Any, name: str, snapshot_id: int | None) -> str:
        """The Spark SQL FROM item that reads the table (``name``: its catalog name as Spark SQL) at a snapshot."""

    @abstractmethod
    def spark_frame(self, spark: Any, snapshot_id: int | None = None, *, catalog: str = "lake") -> Any:
        """The table at a snapshot as a Spark DataFrame (``catalog``: the Spark catalog the Iceberg REST catalog is
        registered as, the ``catalog.name`` setting)."""


def _implementation(fmt: str) -> type[VectorTable]:
    return VectorTable._formats[fmt]


def load_table(
    identifier: str,
    *,
    catalog: Catalog | None = None,
    settings: Settings | None = None,
    format: TableFormat | None = None,
) -> VectorTable:
    """Load a table: ``format`` names it; with no format, the ``format`` setting's is looked up first and an
    identifier missing from the Iceberg catalog is looked up at its Delta location."""
    settings = settings or load_settings()
    iceberg, delta = _implementation("iceberg"), _implementation("delta")
    if format == "delta":
        return delta.load(identifier, settings=settings)
    if format is None and settings.format == "delta" and delta.exists(identifier, settings=settings):  # type: ignore[attr-defined]
        return delta.load(identifier, settings=settings)
    return iceberg.load(  # type: ignore[call-arg]
        identifier, catalog=catalog, settings=settings, fallback=delta if format is None else None
    )


def create_table(
    identifier: str,
    schema: pa.Schema,
    *,
    vectors: Sequence[VectorSpec],
    key: str,
    properties: Mapping[str, str] | None = None,
    catalog: Catalog | None = None,
    settings: Settings | None = None,
    exist_ok: bool = False,
    format: TableFormat | None = None,
) -> VectorTable:
    """Create a table in ``format`` (default: the ``format`` setting)."""
    settings = settings or load_settings()
    impl = _implementation(format or settings.format)
    return impl.create(
        identifier,
        schema,
        vectors=vectors,
        key=key,
        properties=properties,
        catalog=catalog,
        settings=settings,
        exist_ok=exist_ok,
    )
