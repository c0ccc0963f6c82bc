"""Writing vector tables from Spark with validation inside the write itself.

Vector checks are compiled into the write's own plan (``CASE WHEN <bad> THEN raise_error(...)``) instead of a
separate validation pass: the data is computed once, and a bad row fails the write's tasks before Iceberg commits,
so the table's snapshot is unchanged. The JVM error is translated back into :class:`VectorValidationError` with
the column, row key and problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal

from lakehouse.errors import VectorSpecError, VectorValidationError
from lakehouse.vector import KEY_COLUMN_PROPERTY, VectorSpec, specs_from_properties
from lakehouse.vector.validate import _HINTS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

WriteMode = Literal["create", "append", "overwrite", "replace"]
_MARK = "LAKEHOUSE_VECTOR_INVALID"
_SEP = "\u241f"
_ERROR_RE = re.compile(rf"{_MARK}{_SEP}(.*?){_SEP}(.*?){_SEP}(.*?){_SEP}(.*?){_SEP}", re.S)


def _problem(c: Column, dim: int) -> Column:
    from pyspark.sql import functions as F

    return (
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


def with_vector_checks(df: DataFrame, specs: Sequence[VectorSpec], key_column: str | None) -> DataFrame:
    """Return ``df`` with each vector column cast to ``array<float>`` and checked row by row as it is computed."""
    from pyspark.sql import functions as F

    key = F.col(key_column).cast("string") if key_column else F.lit("")
    for spec in specs:
        if spec.column not in df.columns:
            raise VectorValidationError(
                f"refused write: vector column {spec.column!r} is missing (columns: {', '.join(df.columns)})",
                column=spec.column,
                problem="missing-column",
            )
        c = F.col(spec.column).cast("array<float>")
        problem = _problem(c, spec.dim)
        message = F.concat_ws(
            _SEP, F.lit(_MARK), F.lit(spec.column), problem[0], problem[1], F.coalesce(key, F.lit("")), F.lit("")
        )
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
    The vector specs and key column are (re)recorded in table properties.
    """
    props = {**(properties or {})}
    if key_column:
        props[KEY_COLUMN_PROPERTY] = key_column
    for spec in specs:
        props.update(spec.to_properties())
    exists = table_exists(df, identifier)
    if not exists and "." in identifier:
        df.sparkSession.sql(f"CREATE NAMESPACE IF NOT EXISTS {identifier.rsplit('.', 1)[0]}")
    if exists and mode != "replace":
        specs = _reconcile_specs(df, identifier, specs)
    checked = with_vector_checks(df, specs, key_column)
    writer = checked.writeTo(identifier).using("iceberg")
    with translate_vector_errors():
        if mode == "replace" or (not exists and mode != "create") or mode == "create":
            for k, v in props.items():
                writer = writer.tableProperty(k, v)
            if partition_by:
                from pyspark.sql import functions as F

                writer = writer.partitionedBy(*(F.col(c) for c in partition_by))
            if mode == "replace":
                writer.createOrReplace()
            else:
                writer.create()
            return
        if mode == "append":
            writer.append()
        elif mode == "overwrite":
            from pyspark.sql import functions as F

            writer.overwrite(overwrite_where if overwrite_where is not None else F.lit(True))
        else:
            raise ValueError(f"unknown write mode {mode!r}")
    set_table_properties(df, identifier, props)


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


def set_table_properties(df: DataFrame, identifier: str, props: Mapping[str, str]) -> None:
    if not props:
        return
    current = table_properties(df, identifier)
    changed = {k: v for k, v in props.items() if current.get(k) != v}
    if changed:
        assignments = ", ".join(f"'{k}' = '{v.replace(chr(39), chr(39) * 2)}'" for k, v in changed.items())
        df.sparkSession.sql(f"ALTER TABLE {identifier} SET TBLPROPERTIES ({assignments})")
