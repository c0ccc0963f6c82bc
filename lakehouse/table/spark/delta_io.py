"""The Spark I/O of a Delta vector table (:class:`~lakehouse.table.spark.io.SparkTable`): first writes from the
executors, change sets merged in one commit (by delta-rs on the driver, or Delta ``MERGE INTO`` where the session has
the Delta jars), each commit carrying the job's app transaction so a retried job never commits twice.

A handle reads the version that was current when it was made (:attr:`DeltaSparkTable.base_version`): a job that
diffs against the table and then merges sees one version throughout, and that version is its merge's app version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lakehouse.table.formats import delta_location
from lakehouse.table.spark.delta_merge import merge_delta_frame
from lakehouse.table.spark.delta_read import read_delta_table
from lakehouse.table.spark.delta_write import write_delta_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakehouse.config import Settings
    from lakehouse.table.spark.io import DatasetBuilder
    from lakehouse.vector import VectorSpec


class DeltaSparkTable:
    def __init__(self, spark: SparkSession, identifier: str, settings: Settings, *, table: Any = None) -> None:
        from deltalake import DeltaTable

        from lakehouse.table.delta import DeltaVectorTable

        self.spark = spark
        self.identifier = identifier
        self.settings = settings
        self.location: str = table.location if table is not None else delta_location(identifier, settings)
        self._table = table
        self._exists = table is not None or DeltaVectorTable.exists(
            identifier, settings=settings, location=self.location
        )
        # the version this handle reads (and a job diffs against): its merges' app version
        self.base_version: int = DeltaTable(self.location).version() if self._exists else -1

    @property
    def exists(self) -> bool:
        return self._exists

    def properties(self) -> dict[str, str]:
        from deltalake import DeltaTable

        config = DeltaTable(self.location, version=self.base_version).metadata().configuration
        return {k: v for k, v in config.items() if v is not None}

    def read(self, *, snapshot_id: int | None = None, latest: bool = False) -> DataFrame:
        version = (
            snapshot_id if snapshot_id is not None else None if latest or self.base_version < 0 else self.base_version
        )
        return read_delta_table(self.spark, self.location, version=version)

    def create(
        self,
        df: DataFrame,
        *,
        specs: Sequence[VectorSpec],
        key_column: str,
        properties: Mapping[str, str] | None = None,
        partition_by: Sequence[str] = (),
        app_id: str | None = None,
        app_version: int | None = None,
    ) -> None:
        write_delta_table(
            df,
            self.location,
            specs=specs,
            key_column=key_column,
            properties=properties,
            partition_by=partition_by,
            app_id=app_id,
            app_version=app_version,
        )

    def merge(
        self,
        changes: DataFrame,
        *,
        key: str,
        columns: Sequence[str],
        op_column: str,
        specs: Sequence[VectorSpec] = (),
        scope: Mapping[str, str] | None = None,
        app_id: str | None = None,
        native: bool | None = None,
    ) -> None:
        merge_delta_frame(
            changes,
            self.location,
            key=key,
            columns=columns,
            vector_dims={s.column: s.dim for s in specs},
            op_column=op_column,
            scope=scope,
            app_id=app_id or f"lakehouse:{self.identifier}",
            app_version=self.base_version,
            native=native,
        )

    def set_properties(self, properties: Mapping[str, str]) -> None:
        from deltalake import DeltaTable

        table = DeltaTable(self.location)
        changed = {k: v for k, v in properties.items() if table.metadata().configuration.get(k) != v}
        if changed:
            table.alter.set_table_properties(changed, raise_if_not_exists=False)

    def load(self) -> Any:
        from lakehouse.table.delta import DeltaVectorTable

        self._table = DeltaVectorTable.load(self.identifier, settings=self.settings, location=self.location)
        return self._table

    def dataset(
        self,
        builder: DatasetBuilder,
        *,
        output: bool = False,
        snapshot_id: int | None = None,
        extra_facets: Mapping[str, Any] | None = None,
    ) -> Any:
        return builder.delta(
            self._table or self.load(), output=output, snapshot_id=snapshot_id, extra_facets=extra_facets
        )
