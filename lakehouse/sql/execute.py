"""Run a plan: on the ANN path, the index's candidates stand in for the table; the engine finishes the query."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any

import pyarrow as pa
from sqlglot import exp

from lakehouse.config import Settings
from lakehouse.sql.candidates import CandidateReader
from lakehouse.sql.plan import Plan
from lakehouse.sql.querycolumn import query_vector_slots, read_from_column, with_query_column
from lakehouse.sql.render import render, scan_tables
from lakehouse.sql.rendered import RenderCache, mark_vectors
from lakehouse.sql.targets import ENGINE_TARGETS, Render

__all__ = ["Executor"]


class Executor(ABC):
    """One engine: renders trees for its target and runs SQL text to Arrow.

    An engine that can query an Arrow table it was handed (``relations``) gets the ANN path's candidate rows that
    way (:mod:`lakehouse.sql.candidates`); otherwise it reads them back from the table at the index's snapshot,
    restricted to the candidates' keys.
    """

    target: str
    settings: Settings
    casts: bool = True
    relations: bool = False
    query_column: bool = False  # the registered candidates may carry the query vector (lakehouse.sql.querycolumn)

    @abstractmethod
    def run(self, sql: str) -> pa.Table: ...

    def run_again(self, sql: str) -> pa.Table:
        """:meth:`run` for a text that names no table state (it reads registered relations only): the same text is
        the same query whenever it comes again, so an engine may keep its plan."""
        return self.run(sql)

    @abstractmethod
    def scan(self) -> Render: ...

    def register(self, rows: pa.Table) -> str | None:
        """Make ``rows`` queryable by the next query (where ``relations`` is true): the name the query reads them by,
        or None when this engine cannot take them."""
        return None

    def release(self, name: str) -> None:
        """The query that read the rows registered as ``name`` is over."""
        raise NotImplementedError

    def sql_for(self, tree: exp.Query, restrict: dict[int, dict[str, Any]] | None = None) -> str:
        return self._render(tree, restrict)

    def _render(self, tree: exp.Query, restrict: dict[int, dict[str, Any]] | None, marked: int | None = None) -> str:
        """The SQL text of ``tree``; with ``marked``, its ``marked`` constant vectors written as sentinels
        (:class:`~lakehouse.sql.rendered.RenderCache`)."""
        scanned = scan_tables(tree, restrict, catalog=self.settings.catalog.name, casts=self.casts)
        if marked is not None:
            mark_vectors(scanned, marked)
        read_from_column(scanned, restrict)
        return render(scanned, ENGINE_TARGETS.get(self.target, self.target), scan=self.scan(), copy=False)

    @property
    def rendered(self) -> RenderCache:
        if "_rendered" not in self.__dict__:
            self._rendered = RenderCache()
        return self._rendered

    def lookup_keys(self, select: exp.Select) -> list[Any]:
        table = self.run(self.sql_for(select))
        return table.column(0).to_pylist()

    @property
    def candidates(self) -> CandidateReader:
        if "_candidates" not in self.__dict__:
            self._candidates = CandidateReader(self.settings.index.payload_cache_mb)
        return self._candidates

    def execute(self, plan: Plan) -> tuple[pa.Table, dict[str, Any]]:
        """The result and what happened (the index's own plan on the ANN path, where its rows came from)."""
        info: dict[str, Any] = {"path": plan.path, "reason": plan.reason}
        restrict: dict[int, dict[str, Any]] | None = None
        registered = None
        if plan.path == "ann" and plan.topk is not None:
            top = plan.topk
            started = time.perf_counter()
            found = top.index.search(top.query, top.k, where=top.where, as_of=top.as_of, with_vectors=self.relations)
            searched = time.perf_counter()
            rows = self.candidates.read(top.table, top.column, top.reads, found) if self.relations else None
            slots = query_vector_slots(plan.tree, top) if rows is not None and self.query_column else ()
            table = with_query_column(rows.rows, top.query) if rows is not None and slots else None
            registered = self.register(rows.rows if table is None else table) if rows is not None else None
            if rows is not None and registered is not None:
                restrict = {id(top.node): {"relation": registered}}
                if slots:
                    restrict[id(top.node)].update(query_vectors=slots, alias=top.node.alias_or_name)
                info["rows"] = rows.describe()
            else:
                restrict = {id(top.node): {"snapshot": found.plan.snapshot_id, "key": found.key, "keys": found.keys}}
                unit = top.table.table.snapshot_unit
                info["rows"] = f"read back from the table at the same {unit}, restricted to the candidates' keys"
            info.update(
                snapshot_id=found.plan.snapshot_id,
                candidates=len(found),
                index=found.plan.to_dict(),
                ms={"search": (searched - started) * 1e3, "rows": (time.perf_counter() - searched) * 1e3},
            )
        try:
            stable = False
            if registered is not None:  # the text names no table state: kept per query shape (lakehouse.sql.rendered)
                sql, stable = self.rendered.text(plan.tree, restrict, self._render)
            else:
                sql = self.sql_for(plan.tree, restrict)
            info["sql"] = sql
            return (self.run_again(sql) if stable else self.run(sql)), info
        finally:
            if registered is not None:
                self.release(registered)
