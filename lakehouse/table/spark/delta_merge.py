"""Applying a change set (inserts, updates, deletes) to a Delta table in one commit.

Without the Delta jars Spark has no ``MERGE INTO`` for Delta. First writes (every row) go through the executor-write
path (:mod:`lakehouse.table.spark.delta_write`); the change set of an *incremental* run (re-ingest, incremental
embed) is what changed since the last run: usually a small fraction of the table. It is collected to the driver as
Arrow and applied with delta-rs ``DeltaTable.merge``, which rewrites only the files holding matched keys, in one
commit that also carries the job's Delta ``txn`` action (``app_id``, ``app_version``): a retried or concurrent run of
the same job on the same base version finds it committed and commits nothing. With the Delta jars on the session,
:func:`merge_delta_frame` runs the same merge as Delta ``MERGE INTO`` in Spark instead (no collect to the driver).

Concurrent merges (two jobs committing to one table at once): both engines detect the overlap (the loser's commit
would rewrite files the winner changed) and refuse the loser's commit. The loser then compares the rows of its own
keys at the version it read and at the new version: if the winner did not touch them, re-applying the change set on
the new version gives the same result as a serial run, so it retries (up to ``max_retries`` times); if the winner
changed any of them, the change set may be stale and :class:`DeltaCommitConflictError` names those keys. Either
way no row is lost and none is duplicated.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakehouse.errors import DeltaCommitConflictError
from lakehouse.table.spark.delta_read import delta_sql_identifier, use_native_delta
from lakehouse.table.spark.sql_text import quote_name, quote_string

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


DELETE_OP = "delete"
MAX_MERGE_RETRIES = 3
# Delta's idempotent DML (app transaction) and commit user metadata are session-wide SQL confs: native merges of one
# process take turns while they are set.
_NATIVE_DML = threading.Lock()


@dataclass(frozen=True)
class DeltaMergeResult:
    location: str
    version: int
    committed: bool  # False when the change set was empty or the app transaction was already committed
    metrics: dict[str, Any]
    attempts: int = 1  # commits tried: more than one when a concurrent commit was won by another writer
    native: bool = False  # applied by Delta MERGE INTO in Spark rather than delta-rs on the driver


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
    max_retries: int = MAX_MERGE_RETRIES,
) -> DeltaMergeResult:
    """Upsert ``changes`` on ``key`` (rows whose ``op_column`` is ``'delete'`` delete their key) in one commit.

    ``scope`` restricts matching to target rows with these column values (``{"source_table": "docs.documents"}``).
    ``app_version`` is the target version the change set was computed from: if ``app_id`` already committed that
    version or a later one, nothing is done. A commit lost to a concurrent writer is retried when that writer left
    this change set's keys as they were (see the module docstring), else :class:`DeltaCommitConflictError`.

    Example::

        merge_delta_changes(loc, collect_changes(changes, cols, {"embedding": 384}), key="embedding_id",
                            columns=cols, op_column="op", app_id="embed_table:docs.embeddings", app_version=3)
    """
    from deltalake import CommitProperties, DeltaTable, Transaction
    from deltalake.exceptions import CommitFailedError

    from lakehouse.table.delta_files import check_file_readable

    first_read: int | None = None
    for attempt in range(1, max_retries + 2):
        table = DeltaTable(location)
        check_file_readable(table, location)
        done = table.transaction_version(app_id)
        if changes.num_rows == 0 or (done is not None and done >= app_version):
            return DeltaMergeResult(location, table.version(), False, {}, attempt)
        # the version this change set was first applied to: a retry re-checks its keys against this one
        first_read = table.version() if first_read is None else first_read
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
        try:
            metrics = merger.execute()
        except CommitFailedError as exc:
            current = DeltaTable(location)
            if (current.transaction_version(app_id) or -1) >= app_version:
                return DeltaMergeResult(location, current.version(), False, {}, attempt)
            keys = changes.column(key).combine_chunks()
            stale = changed_keys(
                partial(_delta_rs_rows, location, key=key, keys=keys, scope=scope), key, first_read, current.version()
            )
            if stale or attempt > max_retries:
                raise _merge_conflict(location, first_read, current.version(), stale, attempt) from exc
            continue
        return DeltaMergeResult(location, DeltaTable(location).version(), True, dict(metrics), attempt)
    raise AssertionError("unreachable")  # the loop returns or raises


def changed_keys(
    rows_at: Callable[[int], list[dict[str, Any]]], key: str, old_version: int, new_version: int
) -> list[Any]:
    """The keys whose rows differ between two versions, given a reader of the change set's rows at a version."""

    def by_key(version: int) -> dict[Any, list[str]]:
        out: dict[Any, list[str]] = {}
        for row in rows_at(version):
            out.setdefault(row[key], []).append(json.dumps(row, sort_keys=True, default=str))
        return {k: sorted(v) for k, v in out.items()}

    before, after = by_key(old_version), by_key(new_version)
    return sorted((k for k in before.keys() | after.keys() if before.get(k) != after.get(k)), key=str)


def _delta_rs_rows(
    location: str, version: int, key: str, keys: pa.Array, scope: Mapping[str, str] | None
) -> list[dict[str, Any]]:
    """The rows of ``keys`` (within ``scope``) at ``version``, read by delta-rs's own query engine."""
    from deltalake import DeltaTable, QueryBuilder

    values = ", ".join(_literal(k) for k in keys.unique().to_pylist() if k is not None)
    if not values:
        return []
    where = f"{_q(key)} IN ({values})" + "".join(f" AND {_q(c)} = {_literal(v)}" for c, v in (scope or {}).items())
    query = QueryBuilder().register("t", DeltaTable(location, version=version))
    return pa.table(query.execute(f"SELECT * FROM t WHERE {where}").read_all()).to_pylist()


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, int | float):
        return "'" + str(value).replace("'", "''") + "'"
    return repr(value)


def _merge_conflict(
    location: str, read_version: int | None, current: int, stale: Sequence[Any], attempts: int
) -> DeltaCommitConflictError:
    if stale:
        shown = ", ".join(repr(k) for k in stale[:5]) + (f" and {len(stale) - 5} more" if len(stale) > 5 else "")
        why = f"the concurrent commit changed {len(stale)} of this change set's keys ({shown})"
    else:
        why = f"still losing after {attempts} attempts"
    return DeltaCommitConflictError(
        f"merge into {location} conflicted with a concurrent commit (read version {read_version}, now {current}): "
        f"{why}; nothing was committed",
        hint="re-run the job: it recomputes the change set from the new version",
        location=location,
        read_version=read_version,
        current_version=current,
        operation="merge",
        keys=list(stale),
    )


def merge_delta_frame(
    changes: DataFrame,
    location: str,
    *,
    key: str,
    columns: Sequence[str],
    vector_dims: Mapping[str, int],
    op_column: str | None = None,
    scope: Mapping[str, str] | None = None,
    app_id: str,
    app_version: int,
    native: bool | None = None,
    max_retries: int = MAX_MERGE_RETRIES,
) -> DeltaMergeResult:
    """:func:`merge_delta_changes` for a Spark change set: Delta ``MERGE INTO`` when the session has the Delta jars
    (``native``: None = when available, True = required, False = never), else collected and merged by delta-rs.

    Example::

        merge_delta_frame(changes, loc, key="embedding_id", columns=cols, vector_dims={"embedding": 384},
                          op_column="op", app_id="embed_table:docs.embeddings:merge", app_version=3)
    """
    if not use_native_delta(changes.sparkSession, native):
        rows = collect_changes(changes, [*columns, *([op_column] if op_column else [])], vector_dims)
        return merge_delta_changes(
            location,
            rows,
            key=key,
            columns=columns,
            op_column=op_column,
            scope=scope,
            app_id=app_id,
            app_version=app_version,
            max_retries=max_retries,
        )
    return _merge_native(
        changes,
        location,
        key=key,
        columns=columns,
        vector_dims=vector_dims,
        op_column=op_column,
        scope=scope,
        app_id=app_id,
        app_version=app_version,
        max_retries=max_retries,
    )


def _txn_version(location: str, app_id: str) -> int | None:
    """The app's committed version as delta-rs reads it; None when unknown (delta-rs cannot open the table)."""
    from deltalake import DeltaTable

    try:
        return DeltaTable(location).transaction_version(app_id)
    except Exception:  # a table using features delta-rs does not read: Delta's own txn check still applies
        return None


def _merge_native(
    changes: DataFrame,
    location: str,
    *,
    key: str,
    columns: Sequence[str],
    vector_dims: Mapping[str, int],
    op_column: str | None,
    scope: Mapping[str, str] | None,
    app_id: str,
    app_version: int,
    max_retries: int,
) -> DeltaMergeResult:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from lakehouse.table.spark.checks import translate_vector_errors, with_vector_checks
    from lakehouse.table.spark.delta_native import (
        is_delta_conflict,
        native_commit,
        native_version,
        non_null_elements,
    )
    from lakehouse.vector import VectorSpec

    spark = changes.sparkSession
    done = _txn_version(location, app_id)
    if done is not None and done >= app_version:
        return DeltaMergeResult(location, native_version(spark, location), False, {}, native=True)
    src = changes.select(*columns, *([op_column] if op_column and op_column not in columns else []))
    for name, dim in vector_dims.items():
        if op_column:  # delete rows carry no vector: give them a valid one so the checks pass; it is never written
            zeros = F.array_repeat(F.lit(0.0).cast("float"), dim)
            src = src.withColumn(name, F.when(F.col(op_column) == DELETE_OP, zeros).otherwise(F.col(name)))
    specs = [VectorSpec(name, dim=dim) for name, dim in vector_dims.items()]
    src = non_null_elements(with_vector_checks(src, specs, key), list(vector_dims))
    src = src.persist(StorageLevel.MEMORY_AND_DISK)
    view = f"lakehouse_merge_{uuid.uuid4().hex}"
    try:
        with translate_vector_errors():
            if src.isEmpty():
                return DeltaMergeResult(location, native_version(spark, location), False, {}, native=True)
        src.createOrReplaceTempView(view)
        target = delta_sql_identifier(location)
        on = f"t.{quote_name(key)} = s.{quote_name(key)}"
        on += "".join(f" AND t.{quote_name(c)} = {quote_string(v)}" for c, v in (scope or {}).items())
        keep = f" AND s.{quote_name(op_column)} <> '{DELETE_OP}'" if op_column else ""
        sql = f"MERGE INTO {target} AS t USING {view} AS s ON {on}"
        if op_column:
            sql += f" WHEN MATCHED AND s.{quote_name(op_column)} = '{DELETE_OP}' THEN DELETE"
        sql += f" WHEN MATCHED{keep} THEN UPDATE SET " + ", ".join(
            f"t.{quote_name(c)} = s.{quote_name(c)}" for c in columns
        )
        sql += f" WHEN NOT MATCHED{keep} THEN INSERT ({', '.join(quote_name(c) for c in columns)}) VALUES "
        sql += "(" + ", ".join(f"s.{quote_name(c)}" for c in columns) + ")"
        first_read: int | None = None
        for attempt in range(1, max_retries + 2):
            first_read = native_version(spark, location) if first_read is None else first_read
            token = uuid.uuid4().hex
            meta = json.dumps({"lakehouse.writer": "spark-delta-merge", "lakehouse.token": token})
            try:
                with _NATIVE_DML, translate_vector_errors():
                    confs = {
                        "spark.databricks.delta.write.txnAppId": app_id,
                        "spark.databricks.delta.write.txnVersion": str(int(app_version)),
                        "spark.databricks.delta.commitInfo.userMetadata": meta,
                    }
                    try:
                        for k, v in confs.items():
                            spark.conf.set(k, v)
                        out = spark.sql(sql).collect()
                    finally:
                        for k in confs:
                            spark.conf.unset(k)
            except Exception as exc:
                if not is_delta_conflict(exc):
                    raise
                current = native_version(spark, location)
                keys = [r[key] for r in src.select(key).collect()]
                stale = changed_keys(
                    partial(_native_rows, spark, location, key=key, keys=keys, scope=scope), key, first_read, current
                )
                if stale or attempt > max_retries:
                    raise _merge_conflict(location, first_read, current, stale, attempt) from exc
                continue
            commit = native_commit(spark, location, token)
            metrics = out[0].asDict() if out else {}
            return DeltaMergeResult(
                location, native_version(spark, location), commit is not None, metrics, attempt, native=True
            )
        raise AssertionError("unreachable")  # the loop returns or raises
    finally:
        spark.catalog.dropTempView(view)
        src.unpersist()


def _native_rows(
    spark: SparkSession, location: str, version: int, key: str, keys: list[Any], scope: Mapping[str, str] | None
) -> list[dict[str, Any]]:
    from pyspark.sql import functions as F

    from lakehouse.table.spark.delta_read import read_delta_table

    df = read_delta_table(spark, location, version=version, native=True).where(F.col(key).isin(keys))
    for column, value in (scope or {}).items():
        df = df.where(F.col(column) == value)
    return [r.asDict(recursive=True) for r in df.collect()]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
