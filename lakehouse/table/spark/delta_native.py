"""Native Delta (the user put the Delta jars on the session): writes through ``df.write.format("delta")``, and the
helpers the native MERGE shares (conflict recognition, versions and commits read from Delta's own history).

:func:`lakehouse.table.spark.delta_write.write_delta_table` and
:func:`lakehouse.table.spark.delta_merge.merge_delta_frame` come here when
:func:`lakehouse.table.spark.delta_read.use_native_delta` says the session can; see their docstrings for how the two
modes produce the same table.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lakehouse.errors import DeltaCommitConflictError, VectorValidationError
from lakehouse.table.base import check_specs, refuse_extra_columns
from lakehouse.table.spark.checks import translate_vector_errors, with_vector_checks
from lakehouse.table.spark.delta_common import DeltaWriteMode, DeltaWriteResult
from lakehouse.table.spark.delta_read import delta_sql_identifier
from lakehouse.table.spark.sql_text import quote_name, quote_string
from lakehouse.vector import VectorSpec
from lakehouse.vector.validate import _HINTS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["is_delta_conflict", "native_commit", "native_version", "non_null_elements", "write_native"]

_CONFLICTS = (
    "ConcurrentAppendException",
    "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException",
    "ConcurrentWriteException",
    "ConcurrentTransactionException",
    "MetadataChangedException",
    "ProtocolChangedException",
    "DELTA_CONCURRENT_",
)


def is_delta_conflict(exc: BaseException) -> bool:
    """Whether a Spark error is one of Delta's optimistic-concurrency conflicts (a concurrent commit won)."""
    text = f"{type(exc).__name__}: {exc}"
    return any(name in text for name in _CONFLICTS)


def _path_literal(location: str) -> str:
    # Delta's own commands (DESCRIBE HISTORY/DETAIL) take the table path as a string
    return quote_string(location if "://" in location else f"file://{location}")


def _first(df: DataFrame, what: str) -> Any:
    row = df.first()
    if row is None:  # Delta answers DESCRIBE HISTORY/DETAIL of any table it can read with a row
        raise AssertionError(f"Delta returned no {what}")
    return row


def native_version(spark: SparkSession, location: str) -> int:
    """The latest version of a Delta table, read by Delta itself."""
    return int(_first(spark.sql(f"DESCRIBE HISTORY {_path_literal(location)} LIMIT 1"), "history")["version"])


def native_commit(spark: SparkSession, location: str, token: str, *, depth: int = 50) -> Any:
    """The history row of the commit whose user metadata carries ``token`` (None: this job committed nothing)."""
    history = spark.sql(f"DESCRIBE HISTORY {_path_literal(location)} LIMIT {int(depth)}")
    for row in history.select("version", "userMetadata", "operationMetrics").collect():
        if row["userMetadata"] and token in row["userMetadata"]:
            return row
    return None


def non_null_elements(df: DataFrame, columns: Sequence[str]) -> DataFrame:
    """Type vector columns as ``array<float>`` with non-null elements, the Delta schema of a vector column.

    Delta keeps a table's element nullability on append but refuses to cast ``array<float>`` (nullable elements)
    into it in MERGE/UPDATE; the checks have already refused null elements, so the coalesce never applies.
    """
    from pyspark.sql import functions as F

    for name in columns:
        df = df.withColumn(name, F.transform(F.col(name), lambda x: F.coalesce(x, F.lit(0.0).cast("float"))))
    return df


def write_native(
    df: DataFrame,
    location: str,
    *,
    specs: Sequence[VectorSpec],
    key_column: str | None,
    mode: DeltaWriteMode,
    overwrite_partitions: Mapping[str, str] | None,
    partition_by: Sequence[str],
    props: Mapping[str, str],
    app_id: str | None,
    app_version: int | None,
) -> DeltaWriteResult:
    from deltalake import DeltaTable
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import to_arrow_schema

    from lakehouse.table.delta_files import ensure_local_dir as _ensure_local_dir
    from lakehouse.table.delta_files import storage_schema

    spark = df.sparkSession
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    uri = location if "://" in location else f"file://{location}"
    ident = delta_sql_identifier(location)
    vector_columns = [s.column for s in specs]
    checked = non_null_elements(with_vector_checks(df, specs, key_column), vector_columns)
    changed_props: dict[str, str] = {}
    if DeltaTable.is_deltatable(location):
        if mode == "append" and df.isEmpty():  # Delta would commit an empty version (issue 11)
            raise VectorValidationError(
                f"refused append to {location}: the DataFrame has no rows; nothing was committed",
                hint=_HINTS["empty"],
                problem="empty",
            )
        config = dict(_first(spark.sql(f"DESCRIBE DETAIL {_path_literal(location)}"), "detail")["properties"] or {})
        check_specs(config, specs, location)
        changed_props = {k: v for k, v in props.items() if config.get(k) != v}
        target = spark.read.format("delta").load(uri).schema
        refuse_extra_columns(checked.columns, target.fieldNames(), location)
        checked = checked.select(
            *[
                F.col(f.name) if f.name in checked.columns else F.lit(None).cast(f.dataType).alias(f.name)
                for f in target
            ]
        )
    else:
        # created by delta-rs as on the files path: same schema (non-null vector elements), same configuration
        _ensure_local_dir(location)
        DeltaTable.create(
            location,
            storage_schema(to_arrow_schema(checked.schema), vector_columns),
            mode="ignore",
            partition_by=list(partition_by) or None,
            configuration=dict(props),
            raise_if_key_not_exists=False,
        )
    read_version = native_version(spark, location)
    token = uuid.uuid4().hex
    writer = (
        checked.write.format("delta")
        .mode(mode)
        .option("userMetadata", json.dumps({"lakehouse.writer": "spark-delta", "lakehouse.token": token}))
    )
    if app_id is not None:
        # Delta's idempotent writes: skipped when this app id already committed this version or a later one
        writer = writer.option("txnAppId", app_id).option("txnVersion", int(app_version))  # type: ignore[arg-type]
    if mode == "overwrite" and overwrite_partitions:
        parts = overwrite_partitions.items()
        condition = " AND ".join(f"{quote_name(k)} = {quote_string(v)}" for k, v in parts)
        writer = writer.option("replaceWhere", condition)
    timings["prepare"] = time.perf_counter() - t0
    try:
        with translate_vector_errors():
            writer.save(uri)
    except Exception as exc:
        if not is_delta_conflict(exc):
            raise
        current = native_version(spark, location)
        raise DeltaCommitConflictError(
            f"{mode} of {location} conflicted with a concurrent commit (read version {read_version}, now "
            f"{current}); Delta committed nothing",
            hint="re-run the job: it reads the new version (with an app id, a finished run is not repeated)",
            location=location,
            read_version=read_version,
            current_version=current,
            operation=mode,
        ) from exc
    timings["write"] = time.perf_counter() - t0 - timings["prepare"]
    commit = native_commit(spark, location, token)
    if commit is None:  # the app transaction was already committed: Delta skipped the write
        return DeltaWriteResult(location, native_version(spark, location), False, seconds=timings, native=True)
    if changed_props:
        assignments = ", ".join(f"{quote_string(k)} = {quote_string(v)}" for k, v in changed_props.items())
        spark.sql(f"ALTER TABLE {ident} SET TBLPROPERTIES ({assignments})")
    metrics = dict(commit["operationMetrics"] or {})
    return DeltaWriteResult(
        location,
        native_version(spark, location),
        True,
        int(metrics.get("numFiles", 0)),
        int(metrics.get("numOutputRows", 0)),
        timings,
        native=True,
    )
