"""The ``lakehouse`` SQL dialect: DuckDB's syntax plus the similarity functions, ``embed``, ``vector_search`` and
``hybrid_search``.

Names map to expression nodes by table (as sqlglot's own dialects do), reusing sqlglot's ``CosineDistance``,
``DotProduct`` and ``EuclideanDistance``; sqlglot has no cosine *similarity* node, so one is added here.

>>> import sqlglot
>>> sqlglot.parse_one("SELECT cosine_similarity(v, [1, 0]) FROM t", read="lakehouse").sql("lakehouse")
'SELECT COSINE_SIMILARITY(v, [1, 0]) FROM t'
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from sqlglot import exp
from sqlglot.dialects.dialect import DialectType
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.generators.duckdb import DuckDBGenerator
from sqlglot.parsers.duckdb import DuckDBParser

from lakehouse.errors import SqlError

__all__ = [
    "DIRECTIONS",
    "METRIC_OF",
    "SIMILARITY_FUNCTIONS",
    "ConstVector",
    "CosineSimilarity",
    "Embed",
    "HybridSearch",
    "Lakehouse",
    "VectorSearch",
    "float32_texts",
    "float_array_type",
    "is_vector_function",
]


class CosineSimilarity(exp.Expression, exp.Func):
    """``cosine_similarity(a, b)``: 1 - cosine distance, higher is closer."""

    arg_types = {"this": True, "expression": True}
    _sql_names = ["COSINE_SIMILARITY"]


class Embed(exp.Expression, exp.Func):
    """``embed(text [, model])``: a constant query vector, resolved once per query by the planner."""

    arg_types = {"this": True, "model": False}
    _sql_names = ["EMBED"]


class VectorSearch(exp.Expression, exp.Func):
    """``vector_search(table => ..., column => ..., query => ..., k => ... [, filter => ...] [, metric => ...])``."""

    arg_types = {"table": True, "column": True, "query": True, "k": True, "filter": False, "metric": False}
    _sql_names = ["VECTOR_SEARCH"]


class HybridSearch(exp.Expression, exp.Func):
    """``hybrid_search(table => ..., column => ..., query => 'text', k => ... [, filter => ...] [, text_weight => ...]
    [, vector_weight => ...] [, rrf_k => ...] [, depth => ...])``: BM25 and vector search fused (lakehouse.sql.hybrid).
    """

    arg_types = {
        "table": True,
        "column": True,
        "query": True,
        "k": True,
        "filter": False,
        "text_weight": False,
        "vector_weight": False,
        "rrf_k": False,
        "depth": False,
    }
    _sql_names = ["HYBRID_SEARCH"]


class ConstVector(exp.Expression):
    """A constant array of numbers as one node: ``values`` holds each number's SQL text (a tuple).

    Means exactly what ``exp.Array`` of number literals means; a query vector is hundreds of numbers, and as one
    node it costs nothing to copy or walk (as an array it was ~800 nodes, copied and walked several times a query).
    """

    arg_types = {"values": True}

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(self.args["values"])

    def to_array(self) -> exp.Array:
        """The same constant as sqlglot's own array node (for generators that know no ``ConstVector``)."""
        return exp.Array(expressions=[_number_node(t) for t in self.texts])


def float32_texts(values: np.ndarray) -> tuple[str, ...]:
    """Each float32 of ``values`` as SQL number text that reads back to the same float32, positional (no exponent).

    Nine significant digits always read back to the same float32 (read as float32, or as a double and then rounded
    to float32); ``%.9g`` writes them several times faster than numpy's shortest-digits formatter, which is kept
    for the few values ``%.9g`` would write with an exponent (figures: BENCHMARKS.md, design measurements, 'query
    vector texts').
    """
    global _last_texts
    v = np.asarray(values, dtype=np.float32)
    data = v.tobytes()
    last = _last_texts  # one entry: a query binds its vector and the ANN path checks the texts against it again
    if last[0] == data:
        return last[1]
    texts = list(map("%.9g".__mod__, v.tolist()))
    for i, text in enumerate(texts):
        if "e" in text:
            texts[i] = np.format_float_positional(v[i], unique=True, trim="-")
    out = tuple(texts)
    _last_texts = (data, out)  # one assignment: another thread sees the old entry or this one, never a mix
    return out


_last_texts: tuple[bytes, tuple[str, ...]] = (b"\x00", ())  # (a vector's float32 bytes, its texts); no vector matches


def float32_values(texts: tuple[str, ...]) -> np.ndarray:
    """The float32 numbers that ``texts`` read back to; for the very texts :func:`float32_texts` last wrote (the
    bound query vector, read back by the planner), its vector without parsing them."""
    last = _last_texts
    if texts is last[1]:
        return np.frombuffer(last[0], dtype=np.float32).copy()
    return np.asarray([float(t) for t in texts], dtype=np.float32)


def float_array_type(dim: int, dialect: DialectType = "lakehouse") -> exp.DataType:
    """``FLOAT[dim]`` as a type node of its own (a query builds several; parsing the type text each time cost more
    than the rest of the cast)."""
    return _float_array_type(dim, dialect).copy()


@functools.lru_cache(maxsize=64)
def _float_array_type(dim: int, dialect: DialectType) -> exp.DataType:
    return exp.DataType.build(f"FLOAT[{dim}]", dialect=dialect)


def _number_node(text: str) -> exp.Expr:
    return exp.Neg(this=exp.Literal.number(text[1:])) if text.startswith("-") else exp.Literal.number(text)


# function name -> node: the one table the parser and generator share
SIMILARITY_FUNCTIONS: dict[str, type[exp.Func]] = {
    "COSINE_SIMILARITY": CosineSimilarity,
    "COSINE_DISTANCE": exp.CosineDistance,
    "L2_DISTANCE": exp.EuclideanDistance,
    "INNER_PRODUCT": exp.DotProduct,
}
# DuckDB's own names are accepted too, so a DuckDB query reads the same in the lakehouse dialect
_ALIASES: dict[str, type[exp.Func]] = {
    "ARRAY_COSINE_SIMILARITY": CosineSimilarity,
    "ARRAY_COSINE_DISTANCE": exp.CosineDistance,
    "ARRAY_DISTANCE": exp.EuclideanDistance,
    "ARRAY_INNER_PRODUCT": exp.DotProduct,
}
NAME_OF: dict[type[exp.Expr], str] = {node: name for name, node in SIMILARITY_FUNCTIONS.items()}
# node -> the index metric it agrees with, and the ORDER BY direction that means "nearest first" (True = DESC)
METRIC_OF: dict[type[exp.Expr], str] = {
    CosineSimilarity: "cosine",
    exp.CosineDistance: "cosine",
    exp.EuclideanDistance: "l2",
    exp.DotProduct: "dot",
}
DIRECTIONS: dict[type[exp.Expr], bool] = {
    CosineSimilarity: True,
    exp.CosineDistance: False,
    exp.EuclideanDistance: False,
    exp.DotProduct: True,
}
VECTOR_SEARCH_ARGS = ("table", "column", "query", "k", "filter", "metric")
HYBRID_SEARCH_ARGS = ("table", "column", "query", "k", "filter", "text_weight", "vector_weight", "rrf_k", "depth")


def is_vector_function(node: exp.Expr) -> bool:
    return type(node) in METRIC_OF


def _binary(node: type[exp.Func]) -> Any:
    def build(args: list[exp.Expr]) -> exp.Expr:
        if len(args) != 2:
            raise SqlError(
                f"{NAME_OF[node].lower()}() takes 2 arguments (a vector column and a query vector), got {len(args)}",
                hint="e.g. cosine_similarity(embedding, embed('some text'))",
            )
        return node(this=args[0], expression=args[1])

    return build


def _embed(args: list[exp.Expr]) -> exp.Expr:
    if not 1 <= len(args) <= 2:
        raise SqlError(
            f"embed() takes a text and optionally a model name, got {len(args)} arguments",
            hint="embed('refund policy') or embed('refund policy', 'all-MiniLM-L6-v2')",
        )
    return Embed(this=args[0], model=args[1] if len(args) > 1 else None)


def _named_args(func: str, args: list[exp.Expr], names: tuple[str, ...], example: str) -> dict[str, Any]:
    """A table function's arguments by name: positional ones first (in ``names`` order), then ``name => value``."""
    named: dict[str, exp.Expr] = {}
    keywords = False
    for i, arg in enumerate(args):
        if isinstance(arg, exp.Kwarg | exp.PropertyEQ | exp.EQ) and isinstance(arg.this, exp.Var | exp.Column):
            name, value, keywords = arg.this.name.lower(), arg.expression, True
        elif i < len(names) and not keywords:
            name, value = names[i], arg
        else:
            raise SqlError(f"{func}(): positional arguments must come before named ones", hint=example)
        if name not in names:
            raise SqlError(f"{func}() has no argument {name!r}", hint=f"arguments: {', '.join(names)}")
        named[name] = value
    missing = [a for a in names[:4] if a not in named]
    if missing:
        raise SqlError(f"{func}() is missing {', '.join(missing)}", hint=example)
    return named


def _vector_search(args: list[exp.Expr]) -> exp.Expr:
    example = "vector_search(table => 'ns.t', column => 'embedding', query => embed('x'), k => 10)"
    return VectorSearch(**_named_args("vector_search", args, VECTOR_SEARCH_ARGS, example))


def _hybrid_search(args: list[exp.Expr]) -> exp.Expr:
    example = "hybrid_search(table => 'ns.t', column => 'embedding', query => 'vacuum full', k => 10)"
    return HybridSearch(**_named_args("hybrid_search", args, HYBRID_SEARCH_ARGS, example))


def _rename(name: str) -> Any:
    return lambda self, e: self.func(name, e.this, e.expression)


class Lakehouse(DuckDB):
    """DuckDB syntax (``[..]`` arrays, ``::FLOAT[n]`` casts, ``=>`` named arguments) plus the vector functions."""

    class Parser(DuckDBParser):  # DuckDB.Parser
        FUNCTIONS = {
            **DuckDB.Parser.FUNCTIONS,
            **{name: _binary(node) for name, node in {**SIMILARITY_FUNCTIONS, **_ALIASES}.items()},
            "EMBED": _embed,
            "VECTOR_SEARCH": _vector_search,
            "HYBRID_SEARCH": _hybrid_search,
        }

    class Generator(DuckDBGenerator):  # DuckDB.Generator
        TRANSFORMS = {
            **DuckDB.Generator.TRANSFORMS,
            **{node: _rename(name) for node, name in NAME_OF.items()},
            Embed: lambda self, e: self.func("EMBED", e.this, e.args.get("model")),
            ConstVector: lambda self, e: "[" + ", ".join(e.texts) + "]",
            VectorSearch: lambda self, e: self.func(
                "VECTOR_SEARCH",
                *(exp.Kwarg(this=exp.var(a), expression=e.args[a]) for a in VECTOR_SEARCH_ARGS if e.args.get(a)),
            ),
            HybridSearch: lambda self, e: self.func(
                "HYBRID_SEARCH",
                *(exp.Kwarg(this=exp.var(a), expression=e.args[a]) for a in HYBRID_SEARCH_ARGS if e.args.get(a)),
            ),
        }
