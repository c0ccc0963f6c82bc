"""How each target engine spells the similarity functions and vector literals: one table per target.

Semantics never change in translation: similarity stays similarity, distance stays distance. Where an engine has no
built-in, the function is expanded into that engine's exact array arithmetic or refused with a clear error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from lakehouse.errors import TranspileError
from lakehouse.sql.dialect import CosineSimilarity
from lakehouse.sql.rowembed import FUNCTION as EMBED_FUNCTION
from lakehouse.sql.rowembed import EmbedRows

__all__ = ["ENGINE_TARGETS", "TARGETS", "LakeScan", "Raw", "Target", "VectorLiteral", "dialect_for"]

Render = Callable[[Any, exp.Expr], str]


class VectorLiteral(exp.Expression):
    """A constant vector; ``values`` are the numbers as SQL text."""

    arg_types = {"values": True}


class Raw(exp.Expression):
    """Target SQL text built outside sqlglot (an ANN table function), emitted verbatim."""

    arg_types = {"this": True}


class LakeScan(exp.Expression):
    """A catalog table as the executors read it.

    Vector columns are cast to fixed-size arrays; optionally read at a snapshot and restricted to keys, or replaced by
    a ``relation`` the executor registered (the ANN path's candidate rows).
    """

    arg_types = {
        "this": True,
        "casts": False,
        "snapshot": False,
        "key": False,
        "keys": False,
        "lake": False,  # the LakeTable: how each engine reads it (VectorTable.duckdb_relation/spark_relation)
        "relation": False,
    }


def _fn(name: str) -> Render:
    return lambda g, e: g.func(name, e.this, e.expression)


def _template(text: str) -> Render:
    """``{a}``/``{b}``: the two arguments' SQL."""
    return lambda g, e: text.format(a=g.sql(e, "this"), b=g.sql(e, "expression"))


def _refuse(target: str, what: str, why: str) -> Render:
    def render(g: Any, e: exp.Expr) -> str:
        raise TranspileError(
            f"{what} cannot be expressed in {target}: {why}",
            hint="rewrite the query without it, or run it on DuckDB or Spark",
            target=target,
            construct=what,
        )

    return render


# Spark 3.5 / Databricks SQL have no vector functions: exact arithmetic with higher-order functions
_HOF_DOT = "AGGREGATE(ZIP_WITH({a}, {b}, (x, y) -> x * y), CAST(0 AS DOUBLE), (s, v) -> s + v)"
_HOF_NORM = "SQRT(AGGREGATE(TRANSFORM({v}, x -> x * x), CAST(0 AS DOUBLE), (s, v) -> s + v))"
_HOF_COS = "(" + _HOF_DOT + " / (" + _HOF_NORM.format(v="{a}") + " * " + _HOF_NORM.format(v="{b}") + "))"
_HOF_L2 = "SQRT(AGGREGATE(ZIP_WITH({a}, {b}, (x, y) -> (x - y) * (x - y)), CAST(0 AS DOUBLE), (s, v) -> s + v))"
_TRINO_SUM = "reduce(zip_with({a}, {b}, (x, y) -> {op}), 0.0E0, (s, v) -> s + v, s -> s)"


@dataclass(frozen=True)
class Target:
    name: str
    dialect: str
    functions: dict[type[exp.Expr], Render]
    vector: Callable[[list[str]], str]
    cast_columns: bool = False  # lake tables hold lists: cast vector columns to the target's fixed-size type
    notes: tuple[str, ...] = ()
    extra: dict[type[exp.Expr], Render] = field(default_factory=dict)


def _duckdb_vector(values: list[str]) -> str:
    return f"[{', '.join(values)}]::FLOAT[{len(values)}]"


def _spark_vector(values: list[str]) -> str:
    # FLOAT literals (1.5F): a plain 0.0123 is a DECIMAL in Spark, and an array of them takes one decimal type wide
    # enough for every element's integer digits and scale, which passed 38 digits on real embeddings
    # (DECIMAL_PRECISION_EXCEEDS_MAX_PRECISION); the F suffix also reads each float32 back exactly
    return f"CAST(ARRAY({', '.join(_spark_float(v) for v in values)}) AS ARRAY<FLOAT>)"


def _spark_float(text: str) -> str:
    return text if text[-1:] in ("F", "f", "D", "d") else text + "F"


TARGETS: dict[str, Target] = {
    "lakehouse": Target("lakehouse", "lakehouse", {}, _duckdb_vector),
    "duckdb": Target(
        "duckdb",
        "duckdb",
        {
            CosineSimilarity: _fn("ARRAY_COSINE_SIMILARITY"),
            exp.CosineDistance: _fn("ARRAY_COSINE_DISTANCE"),
            exp.EuclideanDistance: _fn("ARRAY_DISTANCE"),
            exp.DotProduct: _fn("ARRAY_INNER_PRODUCT"),
        },
        _duckdb_vector,
        cast_columns=True,
    ),
    # what lakehouse's Spark executor runs: the pandas UDFs it registers on its session
    "spark": Target(
        "spark",
        "spark",
        {
            CosineSimilarity: _fn("COSINE_SIMILARITY"),
            exp.CosineDistance: _fn("COSINE_DISTANCE"),
            exp.EuclideanDistance: _fn("L2_DISTANCE"),
            exp.DotProduct: _fn("INNER_PRODUCT"),
        },
        _spark_vector,
        notes=(
            "Spark 3.5 has no built-in vector functions: COSINE_SIMILARITY/COSINE_DISTANCE/L2_DISTANCE/INNER_PRODUCT "
            "are lakehouse's vectorized pandas UDFs, registered on the session by lakehouse's Spark executor "
            "(lakehouse.sql.spark.register_functions)",
        ),
    ),
    "databricks": Target(
        "databricks",
        "databricks",
        {
            CosineSimilarity: _template(_HOF_COS),
            exp.CosineDistance: _template("(1 - " + _HOF_COS + ")"),
            exp.EuclideanDistance: _template(_HOF_L2),
            exp.DotProduct: _template(_HOF_DOT),
        },
        _spark_vector,
        notes=(
            "Databricks SQL has no built-in cosine/L2/inner-product function: "
            "expanded to exact AGGREGATE(ZIP_WITH(...)) "
            "arithmetic (correct, but row-at-a-time in the JVM)",
        ),
    ),
    "snowflake": Target(
        "snowflake",
        "snowflake",
        {
            CosineSimilarity: _fn("VECTOR_COSINE_SIMILARITY"),
            exp.CosineDistance: _template("(1 - VECTOR_COSINE_SIMILARITY({a}, {b}))"),
            exp.EuclideanDistance: _fn("VECTOR_L2_DISTANCE"),
            exp.DotProduct: _fn("VECTOR_INNER_PRODUCT"),
        },
        lambda v: f"[{', '.join(v)}]::VECTOR(FLOAT, {len(v)})",
        notes=("Snowflake's vector functions take VECTOR(FLOAT, n) columns",),
    ),
    "bigquery": Target(
        "bigquery",
        "bigquery",
        {
            CosineSimilarity: _template("(1 - COSINE_DISTANCE({a}, {b}))"),
            exp.CosineDistance: _fn("COSINE_DISTANCE"),
            exp.EuclideanDistance: _fn("EUCLIDEAN_DISTANCE"),
            exp.DotProduct: _refuse(
                "bigquery",
                "inner_product",
                "BigQuery has no inner-product function (ML.DISTANCE knows EUCLIDEAN, MANHATTAN and COSINE only)",
            ),
        },
        lambda v: f"[{', '.join(v)}]",
    ),
    "postgres": Target(
        "postgres",
        "postgres",
        {
            CosineSimilarity: _template("(1 - ({a} <=> {b}))"),
            exp.CosineDistance: _template("({a} <=> {b})"),
            exp.EuclideanDistance: _template("({a} <-> {b})"),
            exp.DotProduct: _template("(({a} <#> {b}) * -1)"),
        },
        lambda v: f"'[{','.join(v)}]'::vector({len(v)})",
        notes=("pgvector: <=> is cosine DISTANCE, <-> L2 distance, <#> NEGATIVE inner product",),
    ),
    "trino": Target(
        "trino",
        "trino",
        {
            CosineSimilarity: _fn("cosine_similarity"),
            exp.CosineDistance: _template("(1 - cosine_similarity({a}, {b}))"),
            exp.EuclideanDistance: _template("sqrt(" + _TRINO_SUM.replace("{op}", "(x - y) * (x - y)") + ")"),
            exp.DotProduct: _template(_TRINO_SUM.replace("{op}", "x * y")),
        },
        lambda v: f"CAST(ARRAY[{', '.join(v)}] AS ARRAY(DOUBLE))",
    ),
}


def _embed_rows(template: str) -> Render:
    """``embed(<expression>, model)`` per row as the engine's ``lakehouse_embed`` function: ``{f}`` the call."""

    def render(g: Any, e: exp.Expr) -> str:
        call = f"{EMBED_FUNCTION.upper()}({g.sql(e, 'this')}, {g.sql(exp.Literal.string(e.args['model']))})"
        return template.format(f=call, dim=e.args["dim"])

    return render


def _embed_rows_refused(target: str) -> Render:
    return _refuse(
        target,
        "embed(<column>, model)",
        "it embeds every row with a lakehouse model, which only lakehouse's engines run (lakehouse sql, DuckDB or "
        "Spark); embed the column with `lakehouse embed` and compare with the stored vectors instead",
    )


# per-row embedding where the lakehouse functions exist: Spark sessions lakehouse's executor ran on, the DuckDB executor
TARGETS["spark"] = replace(TARGETS["spark"], extra={EmbedRows: _embed_rows("{f}")})
TARGETS["lakehouse"] = replace(
    TARGETS["lakehouse"], extra={EmbedRows: lambda g, e: g.func("EMBED", e.this, exp.Literal.string(e.args["model"]))}
)


def _duckdb_vector_text(values: list[str]) -> str:
    return f"'[{', '.join(values)}]'::FLOAT[{len(values)}]"


# What lakehouse's own executors run, where it differs from the transpiled text. DuckDB: a query vector as the text of
# a list cast to FLOAT[n] is parsed many times faster than a list of number literals (which cost more than the rest
# of a query over the candidate rows), and DuckDB's text-to-float conversion gives back exactly the query's float32
# values, which the literal list did not (a last-bit difference in every random vector tried). Figures:
# BENCHMARKS.md, design measurements, 'DuckDB query vector text'.
ENGINE_TARGETS: dict[str, Target] = {
    "duckdb": replace(
        TARGETS["duckdb"],
        name="duckdb_engine",
        vector=_duckdb_vector_text,
        extra={EmbedRows: _embed_rows("CAST({f} AS FLOAT[{dim}])")},
    )
}

_DIALECTS: dict[str, type[Dialect]] = {}


def dialect_for(target: Target, scan: Render | None = None) -> type[Dialect]:
    """A subclass of the target's sqlglot dialect whose generator knows the vector nodes (cached per target)."""
    key = target.name + ("+scan" if scan else "")
    if key not in _DIALECTS:
        base = Dialect.get_or_raise(target.dialect).__class__
        transforms: dict[type[exp.Expr], Render] = {
            **target.functions,
            VectorLiteral: lambda g, e: target.vector(list(e.args["values"])),
            Raw: lambda g, e: e.this,
            EmbedRows: _embed_rows_refused(target.name),
            **target.extra,
        }
        if scan is not None:
            transforms[LakeScan] = scan
        generator = type(
            "Generator",
            (base.generator_class,),
            {
                "TRANSFORMS": {**base.generator_class.TRANSFORMS, **transforms},
            },
        )
        name = "Lakehouse" + "".join(p.title() for p in key.replace("+", "_").split("_"))
        _DIALECTS[key] = type(name, (base,), {"generator_class": generator, "Generator": generator})
    return _DIALECTS[key]
