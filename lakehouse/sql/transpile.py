"""Lakehouse similarity SQL -> another engine's SQL with the same semantics.

``vector_search`` becomes the target's own ANN form where it has one that can express the call (BigQuery
``VECTOR_SEARCH``, pgvector ``ORDER BY <=> LIMIT``, Databricks ``vector_search()`` when an index name is given),
otherwise the exact ``ORDER BY score DESC LIMIT k`` form. ``embed('text')`` is resolved here, once, to a constant.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from lakehouse.config import Settings, load_settings
from lakehouse.errors import TranspileError
from lakehouse.sql.dialect import Embed, VectorSearch
from lakehouse.sql.parse import parse_sql
from lakehouse.sql.render import render
from lakehouse.sql.resolve import VectorSearchArgs, resolve, vector_texts
from lakehouse.sql.targets import TARGETS, Raw, Target
from lakehouse.sql.timetravel import transpile_time_travel

__all__ = ["TRANSPILE_TARGETS", "Transpiled", "transpile"]

TRANSPILE_TARGETS: tuple[str, ...] = ("duckdb", "spark", "databricks", "snowflake", "bigquery", "postgres", "trino")


@dataclass(frozen=True)
class Transpiled:
    sql: str
    target: str
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.sql


def _vec(target: Target, a: VectorSearchArgs) -> str:
    return target.vector(list(vector_texts(a.query) or ()))


def _name(a: VectorSearchArgs, dialect: str) -> str:
    return exp.to_table(a.table).sql(dialect)


def _postgres(a: VectorSearchArgs, notes: list[str]) -> str:
    op, score = {
        "cosine": ("<=>", "1 - ({c} <=> {q})"),
        "l2": ("<->", "-({c} <-> {q})"),
        "dot": ("<#>", "({c} <#> {q}) * -1"),
    }[a.metric]
    t = TARGETS["postgres"]
    col, q = exp.to_identifier(a.column).sql("postgres"), _vec(t, a)
    where = f" WHERE {a.filter.sql('postgres')}" if a.filter is not None else ""
    if a.filter is not None:
        notes.append(
            "pgvector applies WHERE after its HNSW scan: set hnsw.iterative_scan = relaxed_order "
            "(pgvector >= 0.8) or a selective filter returns fewer than k rows"
        )
    return (
        f"SELECT *, {score.format(c=col, q=q)} AS score FROM {_name(a, 'postgres')}{where} "
        f"ORDER BY {col} {op} {q} LIMIT {a.k}"
    )


def _bigquery(a: VectorSearchArgs, notes: list[str]) -> str:
    if a.metric == "dot":
        raise TranspileError(
            "vector_search with the dot metric cannot be expressed in bigquery with the same score",
            hint="use cosine or l2",
            target="bigquery",
            construct="vector_search(metric => 'dot')",
        )
    kind, score = {"cosine": ("COSINE", "1 - distance"), "l2": ("EUCLIDEAN", "-distance")}[a.metric]
    name = _name(a, "bigquery")
    base = f"(SELECT * FROM {name} WHERE {a.filter.sql('bigquery')})" if a.filter is not None else f"TABLE {name}"
    col = exp.Literal.string(a.column).sql("bigquery")
    q = _vec(TARGETS["bigquery"], a)
    return (
        f"SELECT base.*, {score} AS score FROM VECTOR_SEARCH({base}, {col}, (SELECT {q} AS {a.column}), "
        f"top_k => {a.k}, distance_type => '{kind}') ORDER BY score DESC"
    )


def _databricks(indexes: Mapping[str, str]) -> Callable[[VectorSearchArgs, list[str]], str | None]:
    def form(a: VectorSearchArgs, notes: list[str]) -> str | None:
        index = indexes.get(a.table) or indexes.get(f"{a.table}.{a.column}")
        if index is None:
            notes.append(
                f"no Databricks Vector Search index named for {a.table} (indexes={{'{a.table}': "
                "'<catalog.schema.index>'}}): exact ORDER BY/LIMIT form"
            )
            return None
        if a.filter is not None:
            notes.append("Databricks vector_search() takes no filter: exact ORDER BY/LIMIT form")
            return None
        notes.append(
            f"Databricks vector_search() ranks by index {index}'s own metric and returns its columns "
            "(no 'score' column)"
        )
        q = _vec(TARGETS["databricks"], a)
        return f"SELECT * FROM VECTOR_SEARCH(index => '{index}', query_vector => {q}, num_results => {a.k})"

    return form


def transpile(
    sql: str, to: str, *, settings: Settings | None = None, indexes: Mapping[str, str] | None = None
) -> Transpiled:
    """Translate one lakehouse query for ``to`` (duckdb, spark, databricks, snowflake, bigquery, postgres, trino).

    Raises :class:`~lakehouse.errors.TranspileError` where the target cannot express a construct.

    >>> transpile("SELECT cosine_similarity(v, [1, 0]) AS s FROM t", to="postgres").sql
    "SELECT (1 - (v <=> '[1,0]'::vector(2))) AS s FROM t"
    """
    if to not in TRANSPILE_TARGETS:
        raise TranspileError(
            f"unknown target {to!r}", hint=f"use one of {', '.join(TRANSPILE_TARGETS)}", target=to, construct="target"
        )
    stmt = parse_sql(sql)
    if stmt.explain:
        raise TranspileError(
            "EXPLAIN is not transpiled", hint="transpile the query itself", target=to, construct="EXPLAIN"
        )
    target = TARGETS[to]
    notes: list[str] = list(target.notes)
    forms = {"postgres": _postgres, "bigquery": _bigquery, "databricks": _databricks(indexes or {})}

    def ann(node: exp.Table, a: VectorSearchArgs) -> exp.Expr | None:
        form = forms.get(to)
        text = form(a, notes) if form else None
        if text is None:
            return None
        alias = exp.TableAlias(this=exp.to_identifier(node.alias or "vector_search"))
        # sqlglot keeps BigQuery's VECTOR_SEARCH intact, and its BigQuery generator needs a real query tree here;
        # pgvector's operators do not survive sqlglot's parser (<=> reads as IS NOT DISTINCT FROM): verbatim text
        inner = sqlglot.parse_one(text, read="bigquery") if to == "bigquery" else Raw(this=text)
        return exp.Subquery(this=inner, alias=alias)

    needs_catalog = any(not e.args.get("model") for e in stmt.tree.find_all(Embed)) or any(
        not v.args.get("metric") for v in stmt.tree.find_all(VectorSearch)
    )
    settings = settings or (load_settings() if needs_catalog else _NO_SETTINGS())
    bind = any(not e.args.get("model") for e in stmt.tree.find_all(Embed) if not e.find_ancestor(VectorSearch))
    resolved = resolve(stmt.tree, settings, bind=bind, vector_search=ann)
    transpile_time_travel(resolved.tree, to)
    notes.extend(resolved.notes)
    return Transpiled(render(resolved.tree, target), to, tuple(dict.fromkeys(notes)))


def _NO_SETTINGS() -> Settings:  # noqa: N802 - a stand-in that never reaches the catalog
    from pathlib import Path

    return Settings(home=Path("."), warehouse="", state_dir=Path("."))
