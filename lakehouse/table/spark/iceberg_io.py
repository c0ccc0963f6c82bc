"""The Spark I/O of an Iceberg vector table (:class:`~lakehouse.table.spark.io.SparkTable`), through Spark's
Iceberg catalog: writes and merges by :mod:`lakehouse.table.spark.iceberg_write`. A table's history is the table's
own (:class:`lakehouse.table.VectorTable`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lakehouse.table.spark.iceberg_write import (
    merge_frame,
    set_table_properties,
    table_exists,
    table_properties,
    write_vector_table,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakehouse.config import Settings
    from lakehouse.table.spark.io import DatasetBuilder
    from lakehouse.vector import VectorSpec


class IcebergSparkTable:
    def __init__(self, spark: SparkSession, identifier: str, settings: Settings, *, table: Any = None) -> None:
        self.spark = spark
        self.identifier = identifier
        self.settings = settings
        self.full_name = f"{settings.catalog.name}.{identifier}"  # the Spark catalog's name of the table
        self._table = table

    @property
    def exists(self) -> bool:
        return self._table is not None or table_exists(self.spark, self.full_name)

    def properties(self) -> dict[str, str]:
        return table_properties(self.spark.table(self.full_name), self.full_name)

    def read(self, *, snapshot_id: int | None = None, latest: bool = False) -> DataFrame:
        reader = self.spark.read.format("iceberg")
        if snapshot_id is not None:
            reader = reader.option("snapshot-id", snapshot_id)
        return reader.load(self.full_name)

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
        write_vector_table(
            df,
            self.full_name,
            specs=specs,
            key_column=key_column,
            mode="create",
            properties=properties,
            partition_by=partition_by,
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
        merge_frame(changes, self.full_name, key=key, columns=columns, op_column=op_column, scope=scope)

    def set_properties(self, properties: Mapping[str, str]) -> None:
        set_table_properties(self.spark.table(self.full_name), self.full_name, properties)

    def load(self) -> Any:
        from lakehouse.table import VectorTable

        self._table = VectorTable.load(self.identifier, settings=self.settings, format="iceberg")
        return self._table

    def dataset(
        self,
        builder: DatasetBuilder,
        *,
        output: bool = False,
        snapshot_id: int | None = None,
        extra_facets: Mapping[str, Any] | None = None,
    ) -> Any:
        return builder.iceberg(
            self._table or self.load(), output=output, snapshot_id=snapshot_id, extra_facets=extra_facets
        )
