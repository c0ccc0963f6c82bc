"""One Spark I/O surface over both table formats: what a Spark job reads, writes and merges, whatever the format.

A job never asks which format a table is. It gets a :class:`SparkTable` from :func:`spark_table` (a table that may
not exist yet: an output) or :func:`spark_table_of` (a table already loaded: a source), and calls the same methods
on both implementations, :class:`~lakehouse.table.spark.iceberg_io.IcebergSparkTable` and
:class:`~lakehouse.table.spark.delta_io.DeltaSparkTable`. The choice of format is made here, once.

App transactions: a Delta commit carries the job's ``(app_id, app_version)`` so a retried job never commits twice;
Iceberg has no such action, and its writes take the same arguments and ignore them (a rerun recomputes the same
change set from the current snapshot instead).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from lakehouse.table.formats import check_format

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakehouse.config import Settings, TableFormat
    from lakehouse.table import VectorTable
    from lakehouse.vector import VectorSpec

__all__ = ["DELETE_OP", "DatasetBuilder", "SparkTable", "spark_table", "spark_table_of"]

# the op value of a change row that deletes its key (any other value upserts); the writers use the same literal
DELETE_OP = "delete"


class DatasetBuilder(Protocol):
    """Builds a job's lineage dataset for a table of each format (:class:`lakehouse.lineage.tables.TableDatasets`):
    a table calls the method of its own format (:meth:`SparkTable.dataset`), so tables need not know lineage and
    lineage need not ask a table's format."""

    def iceberg(
        self, table: Any, *, output: bool, snapshot_id: int | None, extra_facets: Mapping[str, Any] | None
    ) -> Any: ...

    def delta(
        self, table: Any, *, output: bool, snapshot_id: int | None, extra_facets: Mapping[str, Any] | None
    ) -> Any: ...


class SparkTable(Protocol):
    """A vector table as a Spark job reads and writes it (the table may not exist yet: see :attr:`exists`)."""

    identifier: str  # <namespace>.<name>

    @property
    def exists(self) -> bool: ...

    def properties(self) -> dict[str, str]:
        """The table properties as of the snapshot this handle reads."""
        ...

    def read(self, *, snapshot_id: int | None = None, latest: bool = False) -> DataFrame:
        """The rows at ``snapshot_id`` (default: the snapshot this handle reads; ``latest``: as the table is now)."""
        ...

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
        """Create the table from ``df`` in one commit (vectors and key checked inside the write)."""
        ...

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
        """Apply change rows in one commit: a row whose ``op_column`` is :data:`DELETE_OP` deletes its key, any
        other inserts or updates it; only target rows matching ``scope`` (column values) are touched. A Delta
        merge's app version is the version this handle read (:meth:`read`)."""
        ...

    def set_properties(self, properties: Mapping[str, str]) -> None: ...

    def load(self) -> VectorTable:
        """The table as a :class:`lakehouse.table.VectorTable` (after this job's commits)."""
        ...

    def dataset(
        self,
        builder: DatasetBuilder,
        *,
        output: bool = False,
        snapshot_id: int | None = None,
        extra_facets: Mapping[str, Any] | None = None,
    ) -> Any:
        """This table as an OpenLineage dataset (input, or ``output``), made by ``builder``'s method for its format."""
        ...


def spark_table(
    spark: SparkSession, identifier: str, settings: Settings, *, format: TableFormat | str | None = None
) -> SparkTable:
    """The Spark I/O of table ``identifier`` in ``format`` (default: the ``format`` setting), existing or not."""
    from lakehouse.catalog_client.names import split_identifier

    ns, name = split_identifier(identifier, settings)
    return _IMPLEMENTATIONS[check_format(format, settings)](spark, f"{ns}.{name}", settings)


def spark_table_of(spark: SparkSession, table: object, settings: Settings) -> SparkTable:
    """The Spark I/O of an already loaded table (a :class:`lakehouse.table.VectorTable` of either format)."""
    fmt: str = getattr(table, "format", "iceberg")
    return _IMPLEMENTATIONS[check_format(fmt, settings)](spark, table.identifier, settings, table=table)  # type: ignore[attr-defined]


def _iceberg(spark: SparkSession, identifier: str, settings: Settings, table: object = None) -> SparkTable:
    from lakehouse.table.spark.iceberg_io import IcebergSparkTable

    return IcebergSparkTable(spark, identifier, settings, table=table)


def _delta(spark: SparkSession, identifier: str, settings: Settings, table: object = None) -> SparkTable:
    from lakehouse.table.spark.delta_io import DeltaSparkTable

    return DeltaSparkTable(spark, identifier, settings, table=table)


_IMPLEMENTATIONS = {"iceberg": _iceberg, "delta": _delta}
