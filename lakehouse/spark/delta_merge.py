"""Applying a small change set (inserts, updates, deletes) to a Delta table in one commit, on the driver.

Without the Delta jars Spark has no ``MERGE INTO`` for Delta. First writes (every row) go through the executor-write
path (:mod:`lakehouse.spark.delta_write`); the change set of an *incremental* run (re-ingest, incremental embed) is
what changed since the last run: usually a small fraction of the table. It is collected to the driver as Arrow and
applied with delta-rs ``DeltaTable.merge``, which rewrites only the files holding matched keys, in one commit that
also carries the job's Delta ``txn`` action (``app_id``, ``app_version``): a retried or concurrent run of the same job
on the same base version finds it committed and commits nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakehouse.errors import DeltaCommitConflictError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakehouse.config import Settings

DELETE_OP = "delete"


@dataclass(frozen=True)
class DeltaMergeResult:
    location: str
    version: int
    committed: bool  # False when the change set was empty or the app transaction was already committed
    metrics: dict[str, Any]


def collect_changes(df: DataFrame, columns: Sequence[str], vector_dims: Mapping[str, int]) -> pa.Table:
    """The change rows as one Arrow table, vector columns in Delta storage form (``list<float>`` non-null elements).

    Collecting to the driver is acceptable here because only incremental change sets come this way (see the module
    docstring); PySpark 3.5 has no public ``toArrow``, ``_collect_as_arrow`` is what ``toPandas`` uses.
    """
    from pyspark.sql.pandas.types import to_arrow_schema

    from lakehouse.vector import to_fixed_size_list, to_storage_list

    selected = df.select(*columns)
    batches = selected._collect_as_arrow()
    table = pa.Table.from_batches(batches) if batches else to_arrow_schema(selected.schema).empty_table()
    for name, dim in vector_dims.items():
        if name not in table.column_names:
            continue
        col = table.column(name).combine_chunks()
        # delete rows carry no vector: keep them as an empty-but-valid list so the column stays non-null
        if col.null_count:
            col = pa.array([v if v is not None else [0.0] * dim for v in col.to_pylist()], pa.list_(pa.float32()))
        stored = to_storage_list(to_fixed_size_list(col, dim, column=name))
        field = pa.field(name, stored.type, nullable=False)
        table = table.set_column(table.schema.get_field_index(name), field, stored)
    return table


def merge_delta_changes(
    location: str,
    changes: pa.Table,
    *,
    key: str,
    columns: Sequence[str],
    op_column: str | None = None,
    scope: Mapping[str, str] | None = None,
    app_id: str,
    app_version: int,
) -> DeltaMergeResult:
    """Upsert ``changes`` on ``key`` (rows whose ``op_column`` is ``'delete'`` delete their key) in one commit.

    ``scope`` restricts matching to target rows with these column values (``{"source_table": "docs.documents"}``).
    ``app_version`` is the target version the change set was computed from: if ``app_id`` already committed that
    version or a later one, nothing is done.

    Example::

        merge_delta_changes(loc, collect_changes(changes, cols, {"embedding": 384}), key="embedding_id",
                            columns=cols, op_column="op", app_id="embed_table:docs.embeddings", app_version=3)
    """
    from deltalake import CommitProperties, DeltaTable, Transaction
    from deltalake.exceptions import CommitFailedError

    from lakehouse.table.delta import check_file_readable

    table = DeltaTable(location)
    check_file_readable(table, location)
    done = table.transaction_version(app_id)
    if changes.num_rows == 0 or (done is not None and done >= app_version):
        return DeltaMergeResult(location, table.version(), False, {})
    predicate = f"t.{_q(key)} = s.{_q(key)}" + "".join(
        f" AND t.{_q(c)} = '{v.replace(chr(39), chr(39) * 2)}'" for c, v in (scope or {}).items()
    )
    values = {_q(c): f"s.{_q(c)}" for c in columns}
    keep = f"s.{_q(op_column)} <> '{DELETE_OP}'" if op_column else None
    merger = table.merge(
        changes,
        predicate=predicate,
        source_alias="s",
        target_alias="t",
        commit_properties=CommitProperties(
            app_transactions=[Transaction(app_id, app_version)],
            custom_metadata={"lakehouse.writer": "driver-merge", "lakehouse.rows": str(changes.num_rows)},
        ),
    )
    if op_column:
        merger = merger.when_matched_delete(predicate=f"s.{_q(op_column)} = '{DELETE_OP}'")
    merger = merger.when_matched_update(updates=values, predicate=keep).when_not_matched_insert(
        updates=values, predicate=keep
    )
    read_version = table.version()
    try:
        metrics = merger.execute()
    except CommitFailedError as exc:
        current = DeltaTable(location)
        if (current.transaction_version(app_id) or -1) >= app_version:
            return DeltaMergeResult(location, current.version(), False, {})
        raise DeltaCommitConflictError(
            f"merge into {location} conflicted with a concurrent commit (read version {read_version}, now "
            f"{current.version()}); nothing was committed",
            hint="re-run the job: it recomputes the change set from the new version",
            location=location,
            read_version=read_version,
            current_version=current.version(),
            operation="merge",
        ) from exc
    return DeltaMergeResult(location, DeltaTable(location).version(), True, dict(metrics))


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class DeltaEmbeddings:
    """The embeddings table as a Delta table: first writes from the executors, incremental changes merged on the
    driver, both with the job's app transaction id so a retried job never commits twice."""

    def __init__(self, output: str, location: str) -> None:
        from deltalake import DeltaTable

        self.output = output
        self.location = location
        self.exists = DeltaTable.is_deltatable(location)
        # the version this run reads (and diffs against): the merge's app version
        self.base_version = DeltaTable(location).version() if self.exists else -1
        self.app_id = f"embed_table:{output}"
        self.app_version = 0  # the source's version (set once the source is loaded): a first write's app version

    @classmethod
    def at(cls, output: str, settings: Settings) -> DeltaEmbeddings:
        from lakehouse.table.formats import delta_location

        return cls(output, delta_location(output, settings))

    @property
    def properties(self) -> dict[str, str]:
        from deltalake import DeltaTable

        config = DeltaTable(self.location, version=self.base_version).metadata().configuration
        return {k: v for k, v in config.items() if v is not None}

    def read(self, spark: SparkSession, *, latest: bool = False) -> DataFrame:
        """The table at the version this run read (``latest``: as it is now, after this run's commit)."""
        from lakehouse.spark.delta_read import read_delta_table

        version = None if latest or self.base_version < 0 else self.base_version
        return read_delta_table(spark, self.location, version=version)

    def load(self, settings: Settings) -> object:
        from lakehouse.table.delta import DeltaVectorTable

        return DeltaVectorTable.load(self.output, settings=settings, location=self.location)

    def write(self, df: DataFrame, spec: object, props: dict[str, str]) -> None:
        from lakehouse.spark.delta_write import write_delta_table

        write_delta_table(
            df,
            self.location,
            specs=[spec],
            key_column="embedding_id",  # type: ignore[list-item]
            properties=props,
            partition_by=["source_table"],
            app_id=self.app_id,
            app_version=self.app_version,
        )

    def merge(self, changes: DataFrame, columns: list[str], spec: object, source: str) -> None:
        # Only the inserted, updated and deleted chunks of an incremental run reach the driver (already embedded
        # and checked in Spark): that change set is small, while first runs, where every row is new, take the
        # executor-write path. One delta-rs MERGE applies it in one commit.
        rows = collect_changes(changes, [*columns, "op"], {"embedding": spec.dim})  # type: ignore[attr-defined]
        merge_delta_changes(
            self.location,
            rows,
            key="embedding_id",
            columns=columns,
            op_column="op",
            scope={"source_table": source},
            app_id=f"{self.app_id}:merge",
            app_version=self.base_version,
        )

    def set_properties(self, props: dict[str, str]) -> None:
        from deltalake import DeltaTable

        table = DeltaTable(self.location)
        changed = {k: v for k, v in props.items() if table.metadata().configuration.get(k) != v}
        if changed:
            table.alter.set_table_properties(changed, raise_if_not_exists=False)
