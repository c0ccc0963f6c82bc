"""The analyst entry points: ``query``, ``explain``, ``transpile``, and a reusable ``SqlSession``."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa

from lakehouse.config import Settings, load_settings
from lakehouse.sql.execute import Executor
from lakehouse.sql.params import Params, bind
from lakehouse.sql.parse import Statement, parse_sql
from lakehouse.sql.plan import Plan, TopK, plan_query
from lakehouse.sql.resolve import resolve

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["Engine", "SqlSession", "explain", "query"]

Engine = Literal["duckdb", "spark"]
_PARSED = 256  # statements a session keeps parsed, by text


class SqlSession:
    """One engine connection reused across queries (the DuckDB attach costs more than a query).

    Example::

        with SqlSession(settings) as s:
            s.query("SELECT * FROM vector_search(table => 'docs.embeddings', column => 'embedding', "
                    "query => embed('snapshot isolation'), k => 5)")
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        engine: Engine = "duckdb",
        spark: SparkSession | None = None,
        use_index: bool = True,
    ) -> None:
        self.settings = settings or load_settings()
        self.engine = engine
        self.use_index = use_index
        self.last: dict[str, Any] = {}
        if engine == "duckdb":
            from lakehouse.sql.duckdb import DuckDBExecutor

            self.executor: Executor = DuckDBExecutor(self.settings)
        elif engine == "spark":
            from lakehouse.sql.spark import SparkExecutor, check_spark

            self.executor = SparkExecutor(check_spark(spark), self.settings)
        else:
            from lakehouse.errors import SqlError

            raise SqlError(f"unknown engine {engine!r}", hint="use duckdb or spark")
        self._catalog: Any = None
        self._indexes: dict[tuple[str, ...], Any] = {}  # the indexes queries opened (plan_query's ``indexes``)
        self._parsed: OrderedDict[str, Statement] = OrderedDict()  # by SQL text, the least recently used dropped

    def plan(self, sql: str, params: Params | None = None) -> tuple[Plan, bool]:
        from lakehouse.table import load_catalog

        stmt = self._parse(sql)
        tree = bind(stmt.tree.copy(), params)  # placeholders -> values, before anything reads the tree
        if self._catalog is None:
            self._catalog = load_catalog(self.settings)
        # the bound copy is this query's own; the parse checked the tree, and only a bound text needs a second look
        resolved = resolve(tree, self.settings, self._catalog, copy=False, check=not _vectors_only(params))
        return plan_query(
            resolved,
            settings=self.settings,
            lookup_keys=self.executor.lookup_keys,
            use_index=self.use_index,
            indexes=self._indexes,
        ), stmt.explain

    def _parse(self, sql: str) -> Statement:
        """``parse_sql(sql)``, kept for the next query with the same text.

        A parse depends on the text alone (the catalog is read later, by ``resolve``), and the kept tree is never
        handed out: each query binds its parameters into a copy, and ``resolve`` checks the bound copy against the
        allow-lists again. A text that fails to parse is not kept, so it fails the same way every time. Parsing was a
        millisecond of every repeated query (figures: BENCHMARKS.md, design measurements, 'parsed statement reuse').
        """
        stmt = self._parsed.get(sql)
        if stmt is None:
            stmt = parse_sql(sql)
            self._parsed[sql] = stmt
            while len(self._parsed) > _PARSED:
                self._parsed.popitem(last=False)
        else:
            self._parsed.move_to_end(sql)
        return stmt

    def query(self, sql: str, params: Params | None = None) -> pa.Table:
        """Run one read-only query; ``EXPLAIN <query>`` returns the plan as a one-column table.

        ``params`` binds ``:name`` placeholders (:mod:`lakehouse.sql.params`): a vector, a text to embed with the
        column's model where a query vector belongs, or a plain value.
        """
        plan, is_explain = self.plan(sql, params)
        if is_explain:
            return pa.table({"plan": self._explain(plan).splitlines()})
        result, self.last = self.executor.execute(plan)
        return result

    def explain(self, sql: str, params: Params | None = None) -> str:
        plan, _ = self.plan(sql, params)
        return self._explain(plan)

    def _explain(self, plan: Plan) -> str:
        lines = [f"engine: {self.engine}"]
        if plan.path == "ann" and plan.topk is not None:
            top = plan.topk
            found = top.index.search(top.query, top.k, where=top.where, as_of=top.as_of)
            p = found.plan
            unit = _unit(top)
            lines += [
                f"path: ANN index on {top.table.identifier}.{top.column} at {unit} {p.snapshot_id}, "
                "the candidates ranked by the engine",
                f"rows: {self._rows(top)}",
                f"why: {plan.reason}",
                f"index: {p.path} ({p.reason}); type {p.index_type}, lance version {p.lance_version}, "
                f"indexed {unit} {p.indexed_snapshot}" + (f", exact tail {p.tail_rows} rows" if p.tail_rows else ""),
                f"candidates: k={top.k}" + (f", prefilter {top.where}" if top.where else ", no prefilter"),
                *(f"note: {n}" for n in p.notes),
            ]
        else:
            lines += ["path: exact scan", f"why: {plan.reason}"]
        lines += [f"note: {n}" for n in plan.notes]
        lines.append("sql: " + self.executor.sql_for(plan.tree)[:4000])
        return "\n".join(lines)

    def _rows(self, top: TopK) -> str:
        """Where the candidate rows come from (what :mod:`lakehouse.sql.candidates` will do)."""
        if not self.executor.relations:
            return f"read back from the table at the same {_unit(top)}, restricted to the candidates' keys"
        meta = top.index.meta
        reads = top.table.columns if top.reads is None else top.reads
        payload = [c for c in reads if c not in {meta.key, top.column, *meta.store}]
        if not payload:
            return "key, vector and stored columns from the index (it covers the query); the table is not read"
        return (
            f"key, vector and stored columns from the index; {', '.join(payload)} read by key from the table's "
            f"data files at the same {_unit(top)}"
        )

    def close(self) -> None:
        close = getattr(self.executor, "close", None)
        if close:
            close()

    def __enter__(self) -> SqlSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _vectors_only(params: Params | None) -> bool:
    """Whether every bound value is a vector of numbers: nothing the allow-lists look at (a text can be a filter,
    which is SQL; a number can be a ``k``, which has a ceiling)."""
    if params is None:
        return True
    values = params.values() if isinstance(params, Mapping) else params
    for v in values:
        if isinstance(v, np.ndarray):
            if v.ndim != 1 or v.dtype.kind not in "iuf":
                return False
        elif not (isinstance(v, list | tuple) and all(type(x) in (int, float) for x in v)):
            return False
    return True


def _unit(top: TopK) -> str:
    """What the table's format calls the point the index answers at: an Iceberg snapshot, a Delta version."""
    return top.table.table.snapshot_unit


def query(
    sql: str,
    params: Params | None = None,
    *,
    engine: Engine = "duckdb",
    settings: Settings | None = None,
    spark: SparkSession | None = None,
    use_index: bool = True,
) -> pa.Table:
    """Run one read-only similarity query and return the rows as Arrow.

    ``params`` binds placeholders as values (never pasted into the SQL text): ``:q`` with ``{"q": vector}`` is the
    query vector, ``{"q": "some text"}`` is embedded with the compared column's model.

    On DuckDB the session (its connection with the catalog attached, slow to open: BENCHMARKS.md, design
    measurements, 'DuckDB session open') is kept for the next call from the same thread with the same settings; use
    :class:`SqlSession` to control its lifetime yourself.

    Example::

        lakehouse.sql.query("SELECT title, cosine_similarity(embedding, embed('retry a commit')) AS score "
                            "FROM lake.docs.embeddings ORDER BY score DESC LIMIT 10")
        lakehouse.sql.query("SELECT * FROM vector_search(table => 'docs.embeddings', column => 'embedding', "
                            "query => :q, k => 5)", params={"q": vector})
    """
    if engine == "duckdb":
        session = _kept_session(settings or load_settings())
        session.use_index = use_index
        return session.query(sql, params)
    with SqlSession(settings, engine=engine, spark=spark, use_index=use_index) as s:
        return s.query(sql, params)


def explain(
    sql: str,
    params: Params | None = None,
    *,
    engine: Engine = "duckdb",
    settings: Settings | None = None,
    spark: SparkSession | None = None,
) -> str:
    """The path a query takes (ANN index at snapshot S, or version S of a Delta table, or exact scan) and why."""
    if engine == "duckdb":
        session = _kept_session(settings or load_settings())
        session.use_index = True
        return session.explain(sql, params)
    with SqlSession(settings, engine=engine, spark=spark) as s:
        return s.explain(sql, params)


_KEEP = 4  # DuckDB sessions kept per thread (one per distinct settings), the least recently used closed first
_local = threading.local()


def _kept_session(settings: Settings) -> SqlSession:
    """This thread's DuckDB session for ``settings`` (DuckDB connections are not shared between threads)."""
    kept: OrderedDict[str, SqlSession] = _local.__dict__.setdefault("sessions", OrderedDict())
    key = repr(settings)  # Settings holds mappings, so it is not hashable; its repr names every value
    session = kept.get(key)
    if session is None:
        session = kept[key] = SqlSession(settings)
        while len(kept) > _KEEP:
            kept.popitem(last=False)[1].close()
    kept.move_to_end(key)
    return session
