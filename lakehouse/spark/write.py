"""Writing vector tables from Spark with validation inside the write itself.

Vector checks are compiled into the write's own plan (``CASE WHEN <bad> THEN raise_error(...)``) instead of a
separate validation pass: the data is computed once, and a bad row fails the write's tasks before Iceberg commits,
so the table's snapshot is unchanged. The JVM error is translated back into :class:`VectorValidationError` with
the column, row key and problem. The key column is checked the same way (a null key is refused), and an append of
no rows is refused instead of committing an empty snapshot.

Concurrent appends: Spark's Iceberg client rebases and retries a commit that lost a race as often as the table's
``commit.retry.*`` properties allow; tables written here get generous ones
(:data:`~lakehouse.table.retry.COMMIT_RETRY_PROPERTIES`), and an append that still loses is run again
(:func:`~lakehouse.table.retry.retry_commit`, re-checking the table's spec first).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal

from lakehouse.errors import VectorSpecError, VectorValidationError
from lakehouse.spark.jvm import translate_jvm_death
from lakehouse.table.retry import COMMIT_RETRY_PROPERTIES, retry_commit
from lakehouse.vector import KEY_COLUMN_PROPERTY, VectorSpec, specs_from_properties
from lakehouse.vector.validate import _HINTS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

WriteMode = Literal["create", "append", "overwrite", "replace"]
_MARK = "LAKEHOUSE_VECTOR_INVALID"
_SEP = "\u241f"
_ERROR_RE = re.compile(rf"{_MARK}{_SEP}(.*?){_SEP}(.*?){_SEP}(.*?){_SEP}(.*?){_SEP}", re.S)


def _problem(c: Column, dim: int, metric: str = "l2") -> Column:
    from pyspark.sql import functions as F

    problem = (
        F.when(c.isNull(), F.array(F.lit("null"), F.lit("vector is null")))
        .when(
            F.size(c) != dim,
            F.array(
                F.lit("dimension"),
                F.concat(F.lit("vector has "), F.size(c).cast("string"), F.lit(f" values, the column's dim is {dim}")),
            ),
        )
        .when(F.exists(c, lambda x: x.isNull()), F.array(F.lit("null-element"), F.lit("an element is null")))
        .when(F.exists(c, lambda x: F.isnan(x)), F.array(F.lit("nan"), F.lit("an element is NaN")))
        .when(
            F.exists(c, lambda x: (x == float("inf")) | (x == float("-inf"))),
            F.array(F.lit("inf"), F.lit("an element is Inf")),
        )
    )
    if metric == "cosine":
        zero = F.array(F.lit("zero"), F.lit("every element is 0 (cosine needs a direction)"))
        problem = problem.when(F.forall(c, lambda x: x == 0), zero)
    return problem


def _message(column: str, problem: Column, detail: Column, key: Column) -> Column:
    from pyspark.sql import functions as F

    return F.concat_ws(_SEP, F.lit(_MARK), F.lit(column), problem, detail, F.coalesce(key, F.lit("")), F.lit(""))


def with_vector_checks(df: DataFrame, specs: Sequence[VectorSpec], key_column: str | None) -> DataFrame:
    """Return ``df`` with each vector column cast to ``array<float>`` and checked row by row as it is computed, and
    the key column (when named) checked for nulls."""
    from pyspark.sql import functions as F

    key = F.col(key_column).cast("string") if key_column else F.lit("")
    if key_column:
        if key_column not in df.columns:
            raise VectorValidationError(
                f"refused write: the key column {key_column!r} is missing (columns: {', '.join(df.columns)}); "
                "nothing was committed",
                hint=_HINTS["missing-key"],
                column=key_column,
                problem="missing-key",
            )
        null_key = _message(key_column, F.lit("null-key"), F.lit("the key is null"), F.lit(""))
        df = df.withColumn(
            key_column, F.when(F.col(key_column).isNull(), F.raise_error(null_key)).otherwise(F.col(key_column))
        )
    for spec in specs:
        if spec.column not in df.columns:
            raise VectorValidationError(
                f"refused write: vector column {spec.column!r} is missing (columns: {', '.join(df.columns)})",
                column=spec.column,
                problem="missing-column",
            )
        c = F.col(spec.column).cast("array<float>")
        problem = _problem(c, spec.dim, spec.metric)
        message = _message(spec.column, problem[0], problem[1], key)
        checked = F.when(problem.isNotNull(), F.raise_error(message)).otherwise(c)
        # coalesce with a non-null literal makes the column non-nullable in the plan; the literal is never used
        # because a null vector has already raised.
        df = df.withColumn(spec.column, F.coalesce(checked, F.array().cast("array<float>")))
    return df


@contextmanager
def translate_vector_errors() -> Iterator[None]:
    """Turn the JVM error raised by a failed vector check into :class:`VectorValidationError`."""
    try:
        yield
    except VectorValidationError:
        raise
    except Exception as exc:  # py4j / pyspark captured errors carry the task's message
        match = _ERROR_RE.search(str(exc))
        if not match:
            raise
        column, problem, detail, key = match.groups()
        if problem == "null-key":
            raise VectorValidationError(
                f"refused write: a row has a null key ({column!r}); nothing was committed",
                hint=_HINTS["null-key"],
                column=column,
                problem=problem,
            ) from None
        raise VectorValidationError(
            f"refused write to vector column {column!r} (row key {key!r}): {detail}; nothing was committed",
            hint=_HINTS.get(problem),
            column=column,
            row_key=key,
            problem=problem,
        ) from None


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
    recorded = specs_from_properties(table_properties(df, identifier))
    out = []
    for spec in specs:
        table_spec = recorded.get(spec.column)
        if table_spec and (table_spec.dim, table_spec.metric) != (spec.dim, spec.metric):
            raise VectorSpecError(
                f"refused write to {identifier}: column {spec.column!r} is {table_spec.dim}-d/{table_spec.metric} "
                f"but the batch is {spec.dim}-d/{spec.metric}; nothing was committed",
                hint="write to a new table, or re-embed the whole column with the new model",
                column=spec.column,
            )
        out.append(spec)
    return out


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
