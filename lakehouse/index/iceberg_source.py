"""The Iceberg side of an index: snapshots and data files from pyiceberg manifests, rows through pyiceberg's reader.

The indexed snapshot is recorded in the table property ``lakehouse.index.<column>.snapshot-id``: an Iceberg property
change writes new table metadata but no snapshot, so recording it does not make the index stale.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from lakehouse.index.snapshots import FileSet, SnapshotSource, labelled
from lakehouse.index.store import snapshot_property

if TYPE_CHECKING:
    from pyiceberg.schema import Schema
    from pyiceberg.table import Table

    from lakehouse.index.filters import Filter


class IcebergSource(SnapshotSource):
    """:class:`~lakehouse.index.snapshots.SnapshotSource` over a :class:`~lakehouse.table.VectorTable`."""

    format: ClassVar[str] = "iceberg"
    records_in_table: ClassVar[bool] = True

    @property
    def iceberg(self) -> Table:
        return self.table.iceberg

    @property
    def identifier(self) -> str:
        return ".".join(self.iceberg.name()[-2:])

    def has_snapshot(self, snapshot_id: int) -> bool:
        return self.iceberg.snapshot_by_id(snapshot_id) is not None

    def alive(self, snapshot_ids: Any) -> set[int]:
        live = {s.snapshot_id for s in self.iceberg.snapshots()}
        return {s for s in snapshot_ids if s in live}

    def files_at(self, snapshot_id: int | None) -> FileSet:
        if snapshot_id is None:
            return FileSet(None, {})
        tasks = self.iceberg.scan(snapshot_id=snapshot_id).plan_files()
        return FileSet(snapshot_id, {t.file.file_path: t for t in tasks})

    def read_files(self, snapshot_id: int, tasks: Sequence[Any], columns: Sequence[str]) -> Iterator[pa.Table]:
        from pyiceberg.expressions import AlwaysTrue
        from pyiceberg.io.pyarrow import ArrowScan

        scan = self.iceberg.scan(snapshot_id=snapshot_id, selected_fields=tuple(columns))
        reader = ArrowScan(scan.table_metadata, scan.io, scan.projection(), AlwaysTrue(), scan.case_sensitive)
        specs = self.table.specs
        for task in tasks:
            yield labelled(reader.to_table([task]), columns, specs, task.file.file_path)

    def read(self, snapshot_id: int, columns: Sequence[str], flt: Filter | None = None) -> pa.Table:
        if flt is None:
            return self.table.to_arrow(snapshot_id=snapshot_id, columns=columns)
        # pyiceberg's scan keeps the NULLs of NOT IN that SQL (Lance, the engines) drops: its rows are a superset,
        # filtered again with SQL's NULL logic (Filter.apply)
        cols = list(dict.fromkeys([*columns, *flt.columns]))
        rows = self.table.to_arrow(snapshot_id=snapshot_id, columns=cols, row_filter=flt.sql)
        return flt.apply(rows, self.filter_schema()).select(list(columns))

    def arrow_schema(self) -> pa.Schema:
        return self.iceberg.schema().as_arrow()

    def filter_schema(self) -> Schema:
        return self.iceberg.schema()

    def index_path(self) -> str:
        return "/".join(self.iceberg.name()[-2:])

    def default_warehouse(self) -> str | None:
        catalog = getattr(self.iceberg, "catalog", None)
        warehouse = (getattr(catalog, "properties", None) or {}).get("warehouse")
        return str(warehouse) if warehouse and "://" in warehouse else None

    def recorded_snapshot(self, column: str) -> int | None:
        value = self.iceberg.properties.get(snapshot_property(column))
        return int(value) if value else None

    def record_snapshot(self, column: str, snapshot_id: int) -> None:
        with self.iceberg.transaction() as tx:
            tx.set_properties({snapshot_property(column): str(snapshot_id)})
        self.table.refresh()
