"""``hybrid_search(...)`` in SQL: BM25 and vector search fused (:func:`lakehouse.index.hybrid.hybrid_search`),
answered by the index when the query is resolved and inlined as a relation the engine joins back to the table.

    SELECT h.chunk_text, h.score FROM hybrid_search(table => 'docs.embeddings', column => 'embedding',
        query => 'vacuum full locks', k => 5, filter => 'chunk_index = 0', text_weight => 0.5) AS h

becomes ``(SELECT t.*, h.score, h.vector_score, h.text_score, h.vector_rank, h.text_rank FROM docs.embeddings AS t
JOIN (VALUES ...) AS h(...) ON t.<key> = h.<key> WHERE t.<key> IN (...) ORDER BY h.score DESC LIMIT k)``, so
every column of the table is there (read by key), on DuckDB and Spark alike. The BM25 leg needs the index's
full-text index (``lakehouse index build ... --text chunk_text``); no other engine has one, so the call does not
transpile. ``filter`` is a predicate on the index's stored columns, as for ``lakehouse index search --where``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlglot import exp

from lakehouse.errors import SqlError
from lakehouse.sql.parse import DIALECT, literal_value

if TYPE_CHECKING:
    from lakehouse.sql.resolve import Resolver

FUSED = ("score", "vector_score", "text_score", "vector_rank", "text_rank")
_TYPES = ("DOUBLE", "DOUBLE", "DOUBLE", "INT", "INT")
_KEY = "_hybrid_key"


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(float(value)) if isinstance(value, float) else str(value)
    return exp.Literal.string(str(value)).sql(DIALECT)


def _options(node: exp.Expr) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("text_weight", "vector_weight", "rrf_k", "depth"):
        if node.args.get(name) is not None:
            out[name] = literal_value(node.args[name], f"hybrid_search's {name}")
    return out


def expand_hybrid_search(node: exp.Table, r: Resolver, *, bind: bool) -> exp.Expr:
    """Run the hybrid search of a ``hybrid_search(...)`` relation and return the subquery that replaces it."""
    from lakehouse.index import Fusion, hybrid_search, open_index

    hs = node.this
    if not bind:
        raise SqlError(
            "hybrid_search() runs on the lakehouse engines only: its BM25 leg reads the index's full-text index, "
            "which no other engine has",
            hint="run it with `lakehouse sql` (DuckDB or Spark); transpile vector_search(...) instead",
        )
    name = str(literal_value(hs.args["table"], "hybrid_search's table"))
    column = str(literal_value(hs.args["column"], "hybrid_search's column"))
    query = literal_value(hs.args["query"], "hybrid_search's query")
    k = literal_value(hs.args["k"], "hybrid_search's k")
    if not isinstance(query, str) or not query.strip():
        raise SqlError("hybrid_search's query must be the text to search for", hint="query => 'vacuum full'")
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise SqlError(f"hybrid_search's k must be a positive integer, got {k!r}", hint="k => 10")
    where = str(literal_value(hs.args["filter"], "hybrid_search's filter")) if hs.args.get("filter") else None
    try:
        fusion = Fusion(**_options(hs))
    except TypeError as exc:  # a non-numeric weight
        raise SqlError(f"hybrid_search: {exc}", hint="text_weight => 0.5, rrf_k => 60, depth => 100") from exc
    lake = r.table(name)
    index = open_index(lake.table, column, settings=r.settings)
    result = hybrid_search(index, query, k, where=where, fusion=fusion)
    key = result.key
    alias = node.alias or "hybrid_search"
    r.notes.append(
        f"hybrid_search({lake.identifier}.{column}, {query!r}, k={k}): {len(result)} rows at snapshot "
        f"{result.plan.snapshot_id} ({result.plan.path}); " + "; ".join(n for n in result.plan.notes if "hybrid" in n)
    )
    table_sql = exp.to_table(lake.identifier, dialect=DIALECT).sql(DIALECT)
    fused = ", ".join(f"CAST(h.{c} AS {t}) AS {c}" for c, t in zip(FUSED, _TYPES, strict=True))
    col = exp.to_identifier(key).sql(DIALECT)
    if not len(result):
        nulls = ", ".join(f"NULL AS {c}" for c in FUSED)
        sql = f"SELECT t.*, {fused} FROM {table_sql} AS t CROSS JOIN (SELECT {nulls}) AS h WHERE FALSE"
    else:
        rows = result.table.select([key, *FUSED]).to_pylist()
        values = ", ".join("(" + ", ".join(_literal(row[c]) for c in (key, *FUSED)) + ")" for row in rows)
        keys = ", ".join(_literal(row[key]) for row in rows)
        sql = (
            f"SELECT t.*, {fused} FROM {table_sql} AS t JOIN (VALUES {values}) AS h({_KEY}, {', '.join(FUSED)}) "
            f"ON t.{col} = h.{_KEY} WHERE t.{col} IN ({keys}) ORDER BY h.score DESC LIMIT {k}"
        )
    select: exp.Expr = exp.maybe_parse(sql, dialect=DIALECT)
    return exp.Subquery(this=select, alias=exp.TableAlias(this=exp.to_identifier(alias)))
