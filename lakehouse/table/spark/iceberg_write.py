"""Writing Iceberg vector tables from Spark with validation inside the write itself.

Vector checks (:mod:`lakehouse.table.spark.checks`) are compiled into the write's own plan
(``CASE WHEN <bad> THEN raise_error(...)``) instead of a separate validation pass: the data is computed once, and a
bad row fails the write's tasks before Iceberg commits, so the table's snapshot is unchanged. The JVM error is
translated back into :class:`VectorValidationError` with the column, row key and problem. The key column is checked
the same way (a null key is refused), and an append of
no rows is refused instead of committing an empty snapshot.

Concurrent appends: Spark's Iceberg client rebases and retries a commit that lost a race as often as the table's
``commit.retry.*`` properties allow; tables written here get generous ones
(:data:`~lakehouse.table.retry.COMMIT_RETRY_PROPERTIES`), and an append that still loses is run again
(:func:`~lakehouse.table.retry.retry_commit`, re-checking the table's spec first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from lakehouse.errors import VectorValidationError
from lakehouse.spark.jvm import translate_jvm_death
from lakehouse.table.base import check_specs
from lakehouse.table.retry import COMMIT_RETRY_PROPERTIES, retry_commit
from lakehouse.table.spark.checks import translate_vector_errors, with_vector_checks
from lakehouse.table.spark.sql_text import quote_name, quote_string
from lakehouse.vector import KEY_COLUMN_PROPERTY, VectorSpec
from lakehouse.vector.validate import _HINTS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

WriteMode = Literal["create", "append", "overwrite", "replace"]


def table_exists(df_or_spark: object, identifier: str) -> bool:
    spark = getattr(df_or_spark, "sparkSession", df_or_spark)
    return bool(spark.catalog.tableExists(identifier))  # type: ignore[attr-defined]


def write_vector_table(
    df: DataFrame,
    identifier: str,
    *,
    specs: Sequence[VectorSpec],
    key_column: str | None,
    mode: WriteMode = "append",
    overwrite_where: Column | None = None,
    properties: Mapping[str, str] | None = None,
    partition_by: Sequence[str] = (),
) -> None:
    """Validate and write ``df`` to an Iceberg table in one commit.

    ``create`` fails if the table exists; ``append`` creates it when missing; ``overwrite`` replaces the rows matching
    ``overwrite_where`` (all rows when None) atomically; ``replace`` replaces the whole table, schema included.
    Iceberg overwrites by filter only whole files, so ``overwrite_where`` should select whole partitions
    (``partition_by``, applied when the table is created).
    The vector specs and key column are (re)recorded in table properties, and the commit retry properties
    (:data:`~lakehouse.table.retry.COMMIT_RETRY_PROPERTIES`) are added where the table has none of its own.
    An ``append`` of no rows to an existing table is refused (:class:`VectorValidationError`, problem ``empty``):
    Iceberg would commit an empty snapshot. Finding out costs a look at the first non-empty partition of ``df``.
    """
    with translate_jvm_death(f"writing {identifier}"):
        _write(df, identifier, specs, key_column, mode, overwrite_where, properties, partition_by)


def _write(
    df: DataFrame,
    identifier: str,
    specs: Sequence[VectorSpec],
    key_column: str | None,
    mode: WriteMode,
    overwrite_where: Column | None,
    properties: Mapping[str, str] | None,
    partition_by: Sequence[str],
) -> None:
    props = {**(properties or {})}
    if key_column:
        props[KEY_COLUMN_PROPERTY] = key_column
    for spec in specs:
        props.update(spec.to_properties())
    exists = table_exists(df, identifier)
    if not exists and "." in identifier:
        df.sparkSession.sql(f"CREATE NAMESPACE IF NOT EXISTS {identifier.rsplit('.', 1)[0]}")
    if mode == "replace" or not exists:
        checked = with_vector_checks(df, specs, key_column)
        writer = checked.writeTo(identifier).using("iceberg")
        for k, v in {**COMMIT_RETRY_PROPERTIES, **props}.items():
            writer = writer.tableProperty(k, v)
        if partition_by:
            from pyspark.sql import functions as F

            writer = writer.partitionedBy(*(F.col(c) for c in partition_by))
        with translate_vector_errors():
            if mode == "replace":
                writer.createOrReplace()
            else:
                writer.create()
        return
    if mode == "create":
        with translate_vector_errors():
            df.writeTo(identifier).using("iceberg").create()  # Spark's own "table already exists" error
    current = table_properties(df, identifier)
    retry = {k: v for k, v in COMMIT_RETRY_PROPERTIES.items() if k not in current}
    if retry:  # a table created elsewhere: give it the retries before this write needs them
        set_table_properties(df, identifier, retry, current=current)
    if mode == "append":
        if df.isEmpty():
            raise VectorValidationError(
                f"refused append to {identifier}: the DataFrame has no rows; nothing was committed",
                hint=_HINTS["empty"],
                problem="empty",
            )

        def append_once() -> None:
            checked = with_vector_checks(df, _reconcile_specs(df, identifier, specs), key_column)
            with translate_vector_errors():
                checked.writeTo(identifier).using("iceberg").append()

        retry_commit(append_once, conflict=_lost_commit_race, refresh=lambda: None, table=identifier)
    elif mode == "overwrite":
        from pyspark.sql import functions as F

        checked = with_vector_checks(df, _reconcile_specs(df, identifier, specs), key_column)
        with translate_vector_errors():
            checked.writeTo(identifier).using("iceberg").overwrite(
                overwrite_where if overwrite_where is not None else F.lit(True)
            )
    else:
        raise ValueError(f"unknown write mode {mode!r}")
    set_table_properties(df, identifier, props)


def _lost_commit_race(exc: BaseException) -> bool:
    """Iceberg's CommitFailedException (its own retries ran out): the append did not land and can run again."""
    return "org.apache.iceberg.exceptions.CommitFailedException" in str(exc)


def table_properties(df: DataFrame, identifier: str) -> dict[str, str]:
    return {r["key"]: r["value"] for r in df.sparkSession.sql(f"SHOW TBLPROPERTIES {identifier}").collect()}


def _reconcile_specs(df: DataFrame, identifier: str, specs: Sequence[VectorSpec]) -> list[VectorSpec]:
    """Writes into an existing table are checked against the table's recorded spec; a conflicting one is refused."""
    check_specs(table_properties(df, identifier), specs, identifier)
    return list(specs)


def set_table_properties(
    df: DataFrame, identifier: str, props: Mapping[str, str], *, current: Mapping[str, str] | None = None
) -> None:
    if not props:
        return
    current = table_properties(df, identifier) if current is None else current
    changed = {k: v for k, v in props.items() if current.get(k) != v}
    if changed:
        assignments = ", ".join(f"'{k}' = '{v.replace(chr(39), chr(39) * 2)}'" for k, v in changed.items())
        df.sparkSession.sql(f"ALTER TABLE {identifier} SET TBLPROPERTIES ({assignments})")


def merge_frame(
    changes: DataFrame,
    identifier: str,
    *,
    key: str,
    columns: Sequence[str],
    op_column: str,
    scope: Mapping[str, str] | None = None,
    delete_op: str = "delete",
) -> None:
    """Apply change rows to an Iceberg table in one ``MERGE INTO`` commit: rows whose ``op_column`` is
    ``delete_op`` delete their key, the others update or insert it; only target rows matching ``scope`` (column
    values, e.g. ``{"source_table": "docs.documents"}``) are matched."""
    import uuid

    b, s = quote_name, quote_string
    spark = changes.sparkSession
    view = f"lakehouse_merge_{uuid.uuid4().hex}"
    on = f"t.{b(key)} = s.{b(key)}" + "".join(f" AND t.{b(c)} = {s(v)}" for c, v in (scope or {}).items())
    op = f"s.{b(op_column)}"
    assignments = ", ".join(f"t.{b(c)} = s.{b(c)}" for c in columns)
    names = ", ".join(b(c) for c in columns)
    values = ", ".join(f"s.{b(c)}" for c in columns)
    changes.createOrReplaceTempView(view)
    try:
        with translate_jvm_death(f"merging into {identifier}"), translate_vector_errors():
            spark.sql(
                f"""MERGE INTO {identifier} t USING {view} s ON {on}
                    WHEN MATCHED AND {op} = {s(delete_op)} THEN DELETE
                    WHEN MATCHED THEN UPDATE SET {assignments}
                    WHEN NOT MATCHED AND {op} <> {s(delete_op)} THEN INSERT ({names}) VALUES ({values})"""
            )
    finally:
        spark.catalog.dropTempView(view)
