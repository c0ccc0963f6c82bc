"""Run a plan: ask the index for candidate keys when the plan says so, then let the engine finish the query."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import pyarrow as pa
from sqlglot import exp

from lakehouse.config import Settings
from lakehouse.sql.plan import Plan
from lakehouse.sql.render import render, scan_tables
from lakehouse.sql.targets import Render

__all__ = ["Executor"]


class Executor(ABC):
    """One engine: renders trees for its target and runs SQL text to Arrow."""

    target: str
    settings: Settings

    @abstractmethod
    def run(self, sql: str) -> pa.Table: ...

    @abstractmethod
    def scan(self) -> Render: ...

    casts: bool = True

    def sql_for(self, tree: exp.Query, restrict: dict[int, tuple[int, str, Any]] | None = None) -> str:
        scanned = scan_tables(tree, restrict, catalog=self.settings.catalog.name, casts=self.casts)
        return render(scanned, self.target, scan=self.scan())

    def lookup_keys(self, select: exp.Select) -> list[Any]:
        table = self.run(self.sql_for(select))
        return table.column(0).to_pylist()

    def execute(self, plan: Plan) -> tuple[pa.Table, dict[str, Any]]:
        """The result and what happened (the index's own plan on the ANN path)."""
        info: dict[str, Any] = {"path": plan.path, "reason": plan.reason}
        restrict = None
        if plan.path == "ann" and plan.topk is not None:
            top = plan.topk
            found = top.index.search(top.query, top.k, where=top.where)
            key = found.key
            restrict = {id(top.node): (found.plan.snapshot_id, key, found.keys)}
            info.update(snapshot_id=found.plan.snapshot_id, candidates=len(found), index=found.plan.to_dict())
        sql = self.sql_for(plan.tree, restrict)
        info["sql"] = sql
        return self.run(sql), info
