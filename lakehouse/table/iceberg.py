"""``IcebergVectorTable``: an Iceberg table with vector columns, read and written from Python through the REST catalog.

Spark jobs write the same tables through :mod:`lakehouse.table.spark.iceberg_write`; both paths validate vectors
before commit and keep the vector spec in table properties.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from lakehouse.catalog_client.names import split_identifier
from lakehouse.config import Settings, TableFormat, load_settings
from lakehouse.errors import LakehouseError, TableNotFoundError
from lakehouse.table.base import as_vector_arrays, conform, creation_properties
from lakehouse.table.catalog import load_catalog
from lakehouse.table.files import FileSet, labelled
from lakehouse.table.history import SnapshotInfo
from lakehouse.table.retry import COMMIT_RETRY_PROPERTIES, retry_commit
from lakehouse.table.vector_table import VectorTable
from lakehouse.vector import (
    VectorSpec,
    check_table,
    refuse_empty,
    specs_from_properties,
    storage_type,
)

_ARROW_SCHEMAS: dict[tuple[str, int], pa.Schema] = {}  # (table uuid, schema id) -> the schema as Arrow
_ARROW_SCHEMAS_KEPT = 256

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.schema import Schema
    from pyiceberg.table import Table

    from lakehouse.table.files import RowFilter
    from lakehouse.table.payload import PayloadReader


# Rows per Parquet row group in files pyiceberg writes for a table with vector columns (pyiceberg's default is
# one row group per file, so min/max statistics skip nothing). At this size a read of a few rows by key (the ANN
# path's payload join back, lakehouse.sql.candidates) decodes only the row groups whose key range holds them, several
# times faster than one row group per file; files grow a little, write and DuckDB exact scan times did not measurably
# change (figures: BENCHMARKS.md, design measurements, 'vector row groups').
VECTOR_ROW_GROUP_ROWS = 16_384
ROW_GROUP_LIMIT_PROPERTY = "write.parquet.row-group-limit"


def as_iceberg(table: VectorTable, purpose: str) -> IcebergVectorTable:
    """``table`` as an Iceberg table, for ``purpose`` (something only Iceberg tables have: per-snapshot schemas and
    summaries, the lineage columns' scans); another format is refused, saying so."""
    if isinstance(table, IcebergVectorTable):
        return table
    raise LakehouseError(
        f"{purpose} needs an Iceberg table; {table.identifier} is a {table.format} table",
        hint="write the table in the iceberg format (--format iceberg)",
        table=table.identifier,
    )


def _storage_schema(schema: pa.Schema, specs: Mapping[str, VectorSpec]) -> pa.Schema:
    fields = []
    for f in schema:
        if f.name in specs:
            fields.append(pa.field(f.name, storage_type(), nullable=False))
        else:
            fields.append(f)
    return pa.schema(fields)


class IcebergVectorTable(VectorTable):
    """An Iceberg table whose vector columns are described by :class:`VectorSpec` properties.

    Example::

        t = VectorTable.load("docs.embeddings")   # an IcebergVectorTable when the catalog has it
        t.spec("embedding").dim            # 384
        keys, matrix = t.vectors("embedding")   # numpy (n, 384) float32
    """

    format: ClassVar[TableFormat] = "iceberg"
    snapshot_unit: ClassVar[str] = "snapshot"
    properties_without_snapshot: ClassVar[bool] = True

    def __init__(self, table: Table, catalog: Catalog) -> None:
        self._table = table
        self._catalog = catalog

    # -- construction -------------------------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        identifier: str,
        *,
        catalog: Catalog | None = None,
        settings: Settings | None = None,
        format: TableFormat | None = None,
        fallback: type[VectorTable] | None = None,
    ) -> VectorTable:
        """Load a table from the Iceberg catalog; one it lacks is loaded as ``fallback`` (a Delta table at its
        location) where that exists."""
        from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

        settings = settings or load_settings()
        catalog = catalog or load_catalog(settings)
        ns, name = split_identifier(identifier, settings)
        try:
            return cls(catalog.load_table((ns, name)), catalog)
        except (NoSuchTableError, NoSuchNamespaceError) as exc:
            if fallback is not None and fallback.exists(identifier, settings=settings):  # type: ignore[attr-defined]
                return fallback.load(identifier, settings=settings)
            raise TableNotFoundError(
                f"table {ns}.{name} does not exist in catalog {settings.catalog.name!r}",
                hint="list tables with `lakehouse tables`, or create it with `lakehouse ingest` / `lakehouse embed`",
                identifier=f"{ns}.{name}",
            ) from exc

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
    ) -> IcebergVectorTable:
        """Create an Iceberg table whose ``vectors`` columns carry their spec in table properties."""
        settings = settings or load_settings()
        catalog = catalog or load_catalog(settings)
        specs = {s.column: s for s in vectors}
        props = {**COMMIT_RETRY_PROPERTIES, **creation_properties(schema, vectors, key, properties)}
        if specs:
            props.setdefault(ROW_GROUP_LIMIT_PROPERTY, str(VECTOR_ROW_GROUP_ROWS))
        ns, name = split_identifier(identifier, settings)
        catalog.create_namespace_if_not_exists(ns)
        if exist_ok:
            table = catalog.create_table_if_not_exists(
                (ns, name), schema=_storage_schema(schema, specs), properties=props
            )
        else:
            table = catalog.create_table((ns, name), schema=_storage_schema(schema, specs), properties=props)
        return cls(table, catalog)

    # -- metadata -----------------------------------------------------------------------------------------------
    @property
    def identifier(self) -> str:
        return ".".join(self._table.name())

    @property
    def iceberg(self) -> Table:
        """The underlying pyiceberg table."""
        return self._table

    @property
    def properties(self) -> dict[str, str]:
        return dict(self._table.properties)

    @property
    def specs(self) -> dict[str, VectorSpec]:
        # parsed once per metadata object (a pyiceberg handle's metadata is replaced, never changed, by a refresh or
        # a commit): a query reads them several times
        metadata = self._table.metadata
        kept = self.__dict__.get("_specs_kept")
        if kept is None or kept[0] is not metadata:
            kept = self._specs_kept = (metadata, specs_from_properties(metadata.properties))
        return dict(kept[1])

    @property
    def snapshot_id(self) -> int | None:
        snap = self._table.current_snapshot()
        return snap.snapshot_id if snap else None

    @property
    def location(self) -> str:
        return str(self._table.location())

    def refresh(self) -> IcebergVectorTable:
        self._table = self._table.refresh()
        return self

    @property
    def identity(self) -> str:
        return str(self._table.metadata.table_uuid)

    @property
    def metadata_location(self) -> str | None:
        return str(self._table.metadata_location)

    def set_properties(self, properties: Mapping[str, str]) -> None:
        """Set table properties: new table metadata, no new snapshot."""
        with self._table.transaction() as tx:
            tx.set_properties(dict(properties))
        self.refresh()

    def arrow_schema(self) -> pa.Schema:
        # An Iceberg schema id names one schema for the life of the table (a change adds a schema with a new id), so
        # the conversion is kept per (table uuid, schema id): queries read it several times each, ~0.1 ms a time.
        metadata = self._table.metadata
        key = (str(metadata.table_uuid), metadata.current_schema_id)
        schema = _ARROW_SCHEMAS.get(key)
        if schema is None:
            schema = self._table.schema().as_arrow()
            _ARROW_SCHEMAS[key] = schema
            while len(_ARROW_SCHEMAS) > _ARROW_SCHEMAS_KEPT:
                _ARROW_SCHEMAS.pop(next(iter(_ARROW_SCHEMAS)), None)
        return schema

    def schema_at(self, snapshot_id: int) -> pa.Schema:
        """The schema the snapshot was written with (the current one when the snapshot names none)."""
        snap = self._table.snapshot_by_id(snapshot_id)
        if snap is not None and snap.schema_id is not None:
            schema = self._table.schemas().get(snap.schema_id)
            if schema is not None:
                return schema.as_arrow()
        return self.arrow_schema()

    def column_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self._table.schema().fields)

    def filter_schema(self) -> Schema:
        return self._table.schema()

    def warehouse(self) -> str | None:
        catalog = getattr(self._table, "catalog", None)
        warehouse = (getattr(catalog, "properties", None) or {}).get("warehouse")
        return str(warehouse) if warehouse and "://" in warehouse else None

    def warehouse_path(self) -> str:
        return "/".join(self._table.name()[-2:])

    # -- history --------------------------------------------------------------------------------------------------
    def snapshots(self) -> list[SnapshotInfo]:
        found = [SnapshotInfo(int(s.snapshot_id), int(s.timestamp_ms)) for s in self._table.snapshots()]
        return sorted(found, key=lambda s: s.timestamp_ms)

    def snapshot_as_of(self, timestamp_ms: int) -> int | None:
        """The snapshot log's entry at ``timestamp_ms`` (what Spark's ``TIMESTAMP AS OF`` reads)."""
        snap = self._table.snapshot_as_of_timestamp(timestamp_ms)
        return None if snap is None else int(snap.snapshot_id)

    def refs(self) -> dict[str, tuple[int, str]] | None:
        return {name: (int(r.snapshot_id), str(r.snapshot_ref_type)) for name, r in self._table.metadata.refs.items()}

    def has_snapshot(self, snapshot_id: int) -> bool:
        return self._table.snapshot_by_id(snapshot_id) is not None

    def alive(self, snapshot_ids: Iterable[int]) -> set[int]:
        live = {s.snapshot_id for s in self._table.snapshots()}
        return {s for s in snapshot_ids if s in live}

    def ancestry_problem(self, base: int, snapshot_id: int) -> str:
        from pyiceberg.table.snapshots import ancestors_of

        if self._table.snapshot_by_id(base) is None:
            return f"snapshot {base} is no longer in {self.identifier}'s history (expired)"
        if all(s.snapshot_id != base for s in ancestors_of(self._table.current_snapshot(), self._table.metadata)):
            return (
                f"snapshot {base} is not an ancestor of the current snapshot {snapshot_id} (the table was rolled "
                "back, or its history rewritten or expired in between)"
            )
        return ""

    def app_version(self, snapshot_id: int | None) -> int:
        """The snapshot's sequence number (0: none)."""
        if snapshot_id is None:
            return 0
        snap = self._table.snapshot_by_id(snapshot_id)
        return int(snap.sequence_number) if snap is not None and snap.sequence_number is not None else 0

    # -- data files -----------------------------------------------------------------------------------------------
    def files_at(self, snapshot_id: int | None) -> FileSet:
        """The snapshot's scan tasks from its manifests, by data file path (delete files attached)."""
        if snapshot_id is None:
            return FileSet(None, {})
        tasks = self._table.scan(snapshot_id=snapshot_id).plan_files()
        return FileSet(snapshot_id, {t.file.file_path: t for t in tasks})

    def read_files(self, snapshot_id: int, tasks: Sequence[Any], columns: Sequence[str]) -> Iterator[pa.Table]:
        from pyiceberg.expressions import AlwaysTrue
        from pyiceberg.io.pyarrow import ArrowScan

        scan = self._table.scan(snapshot_id=snapshot_id, selected_fields=tuple(columns))
        reader = ArrowScan(scan.table_metadata, scan.io, scan.projection(), AlwaysTrue(), scan.case_sensitive)
        specs = self.specs
        for task in tasks:
            yield labelled(reader.to_table([task]), columns, specs, task.file.file_path)

    def read(self, snapshot_id: int, columns: Sequence[str], flt: RowFilter | None = None) -> pa.Table:
        if flt is None:
            return self.to_arrow(snapshot_id=snapshot_id, columns=columns)
        # pyiceberg's scan keeps the NULLs of NOT IN that SQL (Lance, the engines) drops: its rows are a superset,
        # filtered again with SQL's NULL logic (Filter.apply)
        cols = list(dict.fromkeys([*columns, *flt.columns]))
        rows = self.to_arrow(snapshot_id=snapshot_id, columns=cols, row_filter=flt.sql)
        return flt.apply(rows, self.filter_schema()).select(list(columns))

    def read_keys(
        self,
        reader: PayloadReader,
        snapshot_id: int,
        key: str,
        keys: pa.Array | pa.ChunkedArray,
        columns: Sequence[str],
        files: Sequence[str] | None,
    ) -> tuple[pa.Table, int] | None:
        return reader.read_iceberg(self._table, snapshot_id, key, keys, columns, files)

    # -- how SQL engines read it ------------------------------------------------------------------------------------
    def duckdb_relation(self, name: str, snapshot_id: int | None) -> str:
        return name if snapshot_id is None else f"{name} AT (VERSION => {int(snapshot_id)})"

    def spark_relation(self, spark: Any, name: str, snapshot_id: int | None) -> str:
        return name if snapshot_id is None else f"{name} VERSION AS OF {int(snapshot_id)}"

    def spark_frame(self, spark: Any, snapshot_id: int | None = None, *, catalog: str = "lake") -> Any:
        reader = spark.read.format("iceberg")
        if snapshot_id is not None:
            reader = reader.option("snapshot-id", snapshot_id)
        return reader.load(f"{catalog}.{self.identifier}")

    # -- writes -------------------------------------------------------------------------------------------------
    def append(self, data: pa.Table | Mapping[str, Any]) -> int | None:
        """Validate every vector column and the key, then append in one commit; returns the new snapshot id.

        A bad batch (a bad vector, a null or missing key, no rows at all) raises
        :class:`~lakehouse.errors.VectorValidationError` and the table is left unchanged. A commit that loses a race
        to a concurrent writer is retried (:func:`~lakehouse.table.retry.retry_commit`): the table is refreshed and
        the batch checked again against its current schema and vector spec, until it lands.
        """
        from pyiceberg.exceptions import CommitFailedException

        batch = data if isinstance(data, pa.Table) else pa.table(dict(data))
        refuse_empty(batch, self.identifier)

        def attempt() -> int | None:
            self._table.append(self.conform_batch(batch))
            return self.snapshot_id

        return retry_commit(
            attempt,
            conflict=lambda exc: isinstance(exc, CommitFailedException),
            refresh=self.refresh,
            table=self.identifier,
        )

    def conform_batch(self, batch: pa.Table) -> pa.Table:
        """``batch`` validated against the table's current spec and key, in the table's current schema."""
        specs = self.specs
        checked = check_table(batch, specs, self.key_column)
        return conform(checked, self._table.schema().as_arrow(), specs, self.identifier)

    # -- reads --------------------------------------------------------------------------------------------------
    def to_arrow(
        self,
        *,
        snapshot_id: int | None = None,
        columns: Sequence[str] | None = None,
        row_filter: str | None = None,
    ) -> pa.Table:
        """Read the table (optionally at a snapshot) with vector columns as ``fixed_size_list<float32, dim>``."""
        selected = tuple(columns) if columns else ("*",)
        if row_filter:
            scan = self._table.scan(snapshot_id=snapshot_id, selected_fields=selected, row_filter=row_filter)
        else:
            scan = self._table.scan(snapshot_id=snapshot_id, selected_fields=selected)
        return as_vector_arrays(scan.to_arrow(), self.specs)

    def count(self, *, snapshot_id: int | None = None) -> int:
        snap = self._table.snapshot_by_id(snapshot_id) if snapshot_id else self._table.current_snapshot()
        if snap is None:
            return 0
        summary = snap.summary
        total = summary.additional_properties.get("total-records") if summary else None
        if total is not None:
            return int(total)
        return self.to_arrow(snapshot_id=snapshot_id, columns=[self._table.schema().fields[0].name]).num_rows

    def __repr__(self) -> str:
        specs = ", ".join(f"{s.column}[{s.dim}, {s.metric}]" for s in self.specs.values())
        return f"VectorTable({self.identifier}, snapshot={self.snapshot_id}, vectors=[{specs}])"
