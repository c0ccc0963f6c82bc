"""``VectorTable``: an Iceberg table with vector columns, read and written from Python through the REST catalog.

Spark jobs write the same tables through :mod:`lakehouse.spark.write`; both paths validate vectors before commit and
keep the vector spec in table properties.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakehouse.config import Settings, TableFormat, load_settings
from lakehouse.errors import TableNotFoundError, VectorSpecError
from lakehouse.table.base import VectorColumns, as_vector_arrays, conform
from lakehouse.table.catalog import load_catalog, split_identifier
from lakehouse.table.retry import COMMIT_RETRY_PROPERTIES, retry_commit
from lakehouse.vector import (
    KEY_COLUMN_PROPERTY,
    VectorSpec,
    check_table,
    refuse_empty,
    storage_type,
)

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table


# Rows per Parquet row group in files pyiceberg writes for a table with vector columns (pyiceberg's default is
# 1,048,576: one row group per file, so min/max statistics skip nothing). At 16,384 rows (~25 MB of 384-d vectors) a
# read of a few rows by key (the ANN path's payload join back, lakehouse.sql.candidates) decodes only the row groups
# whose key range holds them: 15 ms instead of 59-75 ms for 10 keys of a 1M x 384 table in 3 files (key-ordered
# writes; load ~8 on 2 cores). Files grow ~3%; write time and DuckDB's exact scan time did not measurably change.
VECTOR_ROW_GROUP_ROWS = 16_384
ROW_GROUP_LIMIT_PROPERTY = "write.parquet.row-group-limit"


def _storage_schema(schema: pa.Schema, specs: Mapping[str, VectorSpec]) -> pa.Schema:
    fields = []
    for f in schema:
        if f.name in specs:
            fields.append(pa.field(f.name, storage_type(), nullable=False))
        else:
            fields.append(f)
    return pa.schema(fields)


class VectorTable(VectorColumns):
    """An Iceberg table whose vector columns are described by :class:`VectorSpec` properties.

    Example::

        t = VectorTable.load("docs.embeddings")
        t.spec("embedding").dim            # 384
        keys, matrix = t.vectors("embedding")   # numpy (n, 384) float32
    """

    format = "iceberg"  # DeltaVectorTable says "delta": what lakehouse.index picks a snapshot source by

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
    ) -> VectorTable:
        """Load a table. ``format="delta"`` loads a :class:`~lakehouse.table.delta.DeltaVectorTable` (same
        surface); with no format, an identifier missing from the Iceberg catalog is looked up at its Delta location."""
        from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

        settings = settings or load_settings()
        # Delta Lake (issue 6): dispatch by format, or by where the table lives.
        if format == "delta" or (format is None and settings.format == "delta"):
            from lakehouse.table.delta import DeltaVectorTable

            if format == "delta" or DeltaVectorTable.exists(identifier, settings=settings):
                return DeltaVectorTable.load(identifier, settings=settings)  # type: ignore[return-value]
        catalog = catalog or load_catalog(settings)
        ns, name = split_identifier(identifier, settings)
        try:
            return cls(catalog.load_table((ns, name)), catalog)
        except (NoSuchTableError, NoSuchNamespaceError) as exc:
            if format is None:
                from lakehouse.table.delta import DeltaVectorTable

                if DeltaVectorTable.exists(identifier, settings=settings):
                    return DeltaVectorTable.load(identifier, settings=settings)  # type: ignore[return-value]
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
    ) -> VectorTable:
        """Create a table whose ``vectors`` columns carry their spec in table properties.

        ``format`` (default: the ``format`` setting, ``iceberg``) ``"delta"`` creates a
        :class:`~lakehouse.table.delta.DeltaVectorTable` at ``<warehouse>/_delta/<ns>/<table>`` instead.
        """
        settings = settings or load_settings()
        # Delta Lake (issue 6): the same call creates a Delta table when asked to.
        if (format or settings.format) == "delta":
            from lakehouse.table.delta import DeltaVectorTable

            return DeltaVectorTable.create(  # type: ignore[return-value]
                identifier,
                schema,
                vectors=vectors,
                key=key,
                properties=properties,
                settings=settings,
                exist_ok=exist_ok,
            )
        catalog = catalog or load_catalog(settings)
        specs = {s.column: s for s in vectors}
        missing = [c for c in [key, *specs] if c not in schema.names]
        if missing:
            raise VectorSpecError(
                f"column(s) {', '.join(missing)} are not in the schema ({', '.join(schema.names)})",
                hint="the key column and every vector column must be part of the schema",
            )
        props = {KEY_COLUMN_PROPERTY: key, **COMMIT_RETRY_PROPERTIES, **(properties or {})}
        if specs:
            props.setdefault(ROW_GROUP_LIMIT_PROPERTY, str(VECTOR_ROW_GROUP_ROWS))
        for spec in specs.values():
            props.update(spec.to_properties())
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
    def snapshot_id(self) -> int | None:
        snap = self._table.current_snapshot()
        return snap.snapshot_id if snap else None

    def refresh(self) -> VectorTable:
        self._table = self._table.refresh()
        return self

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
            self._table.append(self._conform(batch))
            return self.snapshot_id

        return retry_commit(
            attempt,
            conflict=lambda exc: isinstance(exc, CommitFailedException),
            refresh=self.refresh,
            table=self.identifier,
        )

    def _conform(self, batch: pa.Table) -> pa.Table:
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
        scan = self._table.scan(
            snapshot_id=snapshot_id,
            selected_fields=tuple(columns) if columns else ("*",),
            **({"row_filter": row_filter} if row_filter else {}),
        )
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
