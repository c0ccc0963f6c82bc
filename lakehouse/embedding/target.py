"""Where the embed job writes: the :class:`EmbeddingsTarget` protocol, and its implementation over a table of either
format.

The job only ever calls the protocol. :func:`open_target` builds it over the output's
:class:`~lakehouse.table.spark.io.SparkTable`, which is where Iceberg and Delta differ: an Iceberg target is created
by Spark's Iceberg writer and merged with ``MERGE INTO``; a Delta target is written from the executors and merged in
one commit (delta-rs on the driver, or Delta ``MERGE INTO`` with the Delta jars), every commit carrying the job's
app transaction so a retried run never commits twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakehouse.config import Settings
    from lakehouse.lineage import LineageRun
    from lakehouse.table.spark.io import SparkTable
    from lakehouse.vector import VectorSpec

KEY = "embedding_id"  # the embeddings table's key
SCOPE = "source_table"  # the column a run's changes are confined to (one embeddings table serves many sources)


class EmbeddingsTarget(Protocol):
    """The embeddings table as one embed run sees it."""

    output: str  # <namespace>.<name>
    exists: bool  # when the run started
    properties: dict[str, str]  # when the run started (empty when the table does not exist)

    def read(self, *, latest: bool = False) -> DataFrame:
        """The embeddings as the run read them (``latest``: as they are now, after this run's commit)."""
        ...

    def create(self, rows: DataFrame, spec: VectorSpec, properties: Mapping[str, str]) -> None:
        """A first run: create the table from every embedded row, in one commit."""
        ...

    def merge(self, changes: DataFrame, columns: Sequence[str], spec: VectorSpec, source: str) -> None:
        """Apply a run's inserts, updates and deletes (column ``op``) to ``source``'s rows, in one commit."""
        ...

    def set_properties(self, properties: Mapping[str, str]) -> None: ...

    def snapshot_id(self) -> int | None:
        """The table's snapshot (Delta: version) now (the table exists: this run or an earlier one wrote it)."""
        ...

    def record_output(self, lineage: LineageRun, column_lineage: Any) -> None:
        """Add the table, as this run left it, to the run's OpenLineage outputs."""
        ...


class SparkEmbeddingsTarget:
    """:class:`EmbeddingsTarget` over the output table's Spark I/O. ``app_version`` (the source's, see
    :meth:`~lakehouse.table.vector_table.VectorTable.app_version`) is a first write's app transaction version; a merge's
    is the target version the run read."""

    def __init__(self, table: SparkTable, settings: Settings, *, app_version: int) -> None:
        self.table = table
        self.settings = settings
        self.output = table.identifier
        self.exists = table.exists
        self.properties = table.properties() if self.exists else {}
        self.app_id = f"embed_table:{self.output}"
        self.app_version = app_version

    def read(self, *, latest: bool = False) -> DataFrame:
        return self.table.read(latest=latest)

    def create(self, rows: DataFrame, spec: VectorSpec, properties: Mapping[str, str]) -> None:
        self.table.create(
            rows,
            specs=[spec],
            key_column=KEY,
            properties=properties,
            partition_by=[SCOPE],
            app_id=self.app_id,
            app_version=self.app_version,
        )

    def merge(self, changes: DataFrame, columns: Sequence[str], spec: VectorSpec, source: str) -> None:
        # Only the inserted, updated and deleted chunks of an incremental run are merged, already embedded and
        # checked in Spark; first runs, where every row is new, take the create path.
        self.table.merge(
            changes,
            key=KEY,
            columns=columns,
            op_column="op",
            specs=[spec],
            scope={SCOPE: source},
            app_id=f"{self.app_id}:merge",
        )

    def set_properties(self, properties: Mapping[str, str]) -> None:
        self.table.set_properties(properties)

    def snapshot_id(self) -> int | None:
        return self.table.load().snapshot_id

    def record_output(self, lineage: LineageRun, column_lineage: Any) -> None:
        from lakehouse.lineage.tables import TableDatasets

        self.table.load()  # as this run left it
        datasets = TableDatasets(self.settings, refresh=False)
        lineage.add_output(self.table.dataset(datasets, output=True, extra_facets={"columnLineage": column_lineage}))


def open_target(
    spark: SparkSession, output: str, settings: Settings, *, format: str | None, app_version: int
) -> EmbeddingsTarget:
    """The embeddings table ``output`` in ``format`` (default: the ``format`` setting), existing or not."""
    from lakehouse.table.spark.io import spark_table

    return SparkEmbeddingsTarget(spark_table(spark, output, settings, format=format), settings, app_version=app_version)
