"""Vector checks compiled into a Spark plan, and the JVM error they raise turned back into a project error.

Both formats' Spark writers (:mod:`lakehouse.table.spark.iceberg_write`, :mod:`lakehouse.table.spark.delta_write`)
and the Delta MERGE use them: the checks are ``CASE WHEN <bad> THEN raise_error(...)`` columns, so the data is
computed once and a bad row fails the write's tasks before anything commits; :func:`translate_vector_errors` turns
the task failure into :class:`~lakehouse.errors.VectorValidationError` with the column, row key and problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from lakehouse.errors import VectorValidationError
from lakehouse.vector import VectorSpec
from lakehouse.vector.validate import _HINTS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["translate_vector_errors", "with_vector_checks"]

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
