"""Choose how a resolved query runs: the ANN index for a top-k similarity pattern, else an exact scan.

A SELECT qualifies for the index when it orders by a similarity (DESC) or distance (ASC) of a catalog table's vector
column against a constant vector, has a constant LIMIT, no grouping/DISTINCT/window, the index exists and agrees on
the metric, every WHERE conjunct on that table is a predicate the index can prefilter on columns it stores, and any
join can neither drop nor duplicate the table's rows. Then the index finds the candidate rows at snapshot S (an
Iceberg snapshot id or a Delta version: both formats take the same path), the engine reads them in place of the
table (:mod:`lakehouse.sql.candidates`: from the index, with any other column the query reads joined back by key at
S) and evaluates the query over them exactly, so scores and ordering are the engine's own. The plan records which of
the table's columns the query reads (``TopK.reads``). Anything else runs exactly; the reason is kept for EXPLAIN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sqlglot import exp

from lakehouse.errors import TableNotFoundError, VectorIndexError, VectorSpecError
from lakehouse.sql.candidates import columns_read
from lakehouse.sql.dialect import DIRECTIONS, METRIC_OF, NAME_OF
from lakehouse.sql.parse import DIALECT, literal_value
from lakehouse.sql.resolve import LakeTable, Resolved, vector_array
from lakehouse.sql.timetravel import AS_OF

__all__ = ["Plan", "TopK", "plan_query"]

# predicates lakehouse.index's filter parser (pyiceberg) and Lance's prefilter both understand
_FILTER_NODES = (
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Paren,
    exp.And,
    exp.Or,
    exp.Not,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.In,
    exp.Is,
    exp.Neg,
    exp.Tuple,
)
SEMIJOIN_MAX_KEYS = 10_000


@dataclass
class TopK:
    """The part of the query the index answers."""

    select: exp.Select
    node: exp.Table
    table: LakeTable
    column: str
    function: str
    metric: str
    query: np.ndarray
    k: int
    where: str | None
    index: Any = None
    reads: tuple[str, ...] | None = None  # the table's columns the query reads (None: all of them)
    as_of: int | None = None  # the snapshot the query reads the table at (time travel), None: the current one


@dataclass
class Plan:
    resolved: Resolved
    path: Literal["ann", "exact"]
    reason: str
    topk: TopK | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def tree(self) -> exp.Query:
        return self.resolved.tree


KeyLookup = Callable[[exp.Select], list[Any]]


def plan_query(
    resolved: Resolved,
    *,
    settings: Any,
    lookup_keys: KeyLookup | None = None,
    use_index: bool = True,
    indexes: dict[tuple[str, ...], Any] | None = None,
) -> Plan:
    """The path a resolved query takes. ``lookup_keys`` runs a small SELECT (semi-join keys) on the engine.

    ``indexes`` keeps the indexes a session has opened, from one query to the next (see :func:`_open_index`).
    """
    reasons: list[str] = []
    for select in resolved.tree.find_all(exp.Select):
        found = _top_k(select, resolved, settings, lookup_keys, use_index, indexes)
        if isinstance(found, TopK):
            why = (
                f"top-{found.k} by {found.function}({found.table.identifier}.{found.column}) matches the "
                f"{found.metric} index"
            )
            return Plan(resolved, "ann", why, found, list(resolved.notes))
        if found:
            reasons.append(found)
    reason = reasons[0] if reasons else "no ORDER BY <similarity or distance of a vector column> ... LIMIT k"
    return Plan(resolved, "exact", reason, None, list(resolved.notes))


def _top_k(
    select: exp.Select,
    resolved: Resolved,
    settings: Any,
    lookup_keys: KeyLookup | None,
    use_index: bool,
    indexes: dict[tuple[str, ...], Any] | None = None,
) -> TopK | str | None:
    order = select.args.get("order")
    if not order or not order.expressions:
        return None
    first: exp.Ordered = order.expressions[0]
    func, negated = _similarity(first.this, select)
    if func is None:
        return None
    name = NAME_OF[type(func)].lower()
    limit = select.args.get("limit")
    if limit is None:
        return f"ORDER BY {name}(...) has no LIMIT: every row is returned, exact scan"
    try:
        k = int(literal_value(limit.expression, "LIMIT"))  # type: ignore[call-overload]
        offset = select.args.get("offset")
        k += int(literal_value(offset.expression, "OFFSET")) if offset else 0  # type: ignore[call-overload]
    except Exception:
        return "LIMIT/OFFSET is not a constant"
    for arg in ("group", "having", "distinct", "qualify"):
        if select.args.get(arg):
            return f"the query has {arg.upper()}: top-k rows are not the index's rows, exact scan"
    if any(isinstance(e, exp.Window | exp.AggFunc) for e in select.expressions for e in e.walk()):
        return "the query aggregates or uses window functions, exact scan"
    column, query = _operands(func)
    if column is None or query is None:
        return f"{name}(...) does not compare a vector column with a constant vector, exact scan"
    node = _source(select, column)
    if node is None:
        return f"{column.sql(DIALECT)} is not a vector column of a catalog table in this SELECT, exact scan"
    lake: LakeTable = node.meta["lake"]
    frm = select.args.get("from_")
    if frm is None or frm.this is not node:
        return f"{lake.identifier} is joined to, not the FROM table: the join could drop its rows, exact scan"
    desc = bool(first.args.get("desc"))
    nearest_first = DIRECTIONS[type(func)] != negated
    if desc != nearest_first:
        want = "DESC" if nearest_first else "ASC"
        return (
            f"ORDER BY {'-' if negated else ''}{name}(...) {'DESC' if desc else 'ASC'} asks for the farthest rows "
            f"first (nearest first is {want}); the index only finds nearest rows, exact scan"
        )
    if not use_index:
        return "the index was turned off for this query (use_index=False), exact scan"
    metric = METRIC_OF[type(func)]
    unreadable = _unreadable(lake, node.meta.get(AS_OF))
    if unreadable:
        return unreadable
    try:
        index = _open_index(lake, column.name, settings, indexes)
        meta = index.meta
    except (VectorIndexError, TableNotFoundError, VectorSpecError, FileNotFoundError) as exc:
        first_line = str(exc).splitlines()[0]
        return f"no usable index on {lake.identifier}.{column.name} ({first_line}), exact scan"
    if meta.metric != metric:
        return (
            f"{name} is a {metric} measure but the index on {lake.identifier}.{column.name} ranks by "
            f"{meta.metric}: its neighbours are not this query's neighbours, exact scan"
        )
    alias = node.alias_or_name.lower()
    where, problem = _prefilter(select, alias, lake, meta, lookup_keys)
    if problem:
        return problem + ", exact scan"
    q = np.asarray(query, dtype=np.float32)
    reads = columns_read(select, node, lake)
    return TopK(select, node, lake, column.name, name, metric, q, k, where, index, reads, node.meta.get(AS_OF))


def _open_index(lake: LakeTable, column: str, settings: Any, indexes: dict[tuple[str, ...], Any] | None) -> Any:
    """The index of ``lake.column``, over the table handle this query loaded (so at its current snapshot).

    A session passes the indexes of earlier queries in ``indexes``: the same index over the new handle keeps the Lance
    versions it opened, ANN structures loaded (``VectorIndex.with_table``). Opening one afresh for every query made
    the index search dozens of times slower (figures: BENCHMARKS.md, design measurements, 'loaded ANN structures').
    """
    from lakehouse.index import open_index

    if indexes is None:
        return open_index(lake.table, column, settings=settings)
    key = (lake.identifier, lake.table.identity, column)  # a dropped and re-created table is another table
    kept = indexes.get(key)
    index = kept.with_table(lake.table) if kept is not None else open_index(lake.table, column, settings=settings)
    indexes[key] = index
    return index


def _unreadable(lake: LakeTable, snapshot_id: int | None = None) -> str | None:
    """Why the index cannot answer for a table whose snapshot (the current one, or ``snapshot_id`` for a query that
    travels back) cannot be read file by file (Delta deletion vectors, column mapping: the index's exact tail and
    payload reads would return deleted or misnamed rows), else None."""
    problem = lake.table.file_read_problem(snapshot_id)
    return None if problem is None else f"the index cannot follow {lake.identifier} ({problem}), exact scan"


def _similarity(expr: exp.Expr, select: exp.Select) -> tuple[exp.Expr | None, bool]:
    negated = False
    if isinstance(expr, exp.Column) and not expr.table:  # ORDER BY <alias>
        for e in select.expressions:
            if isinstance(e, exp.Alias) and e.alias == expr.name:
                expr = e.this
                break
    while isinstance(expr, exp.Paren | exp.Neg):
        negated ^= isinstance(expr, exp.Neg)
        expr = expr.this
    return (expr, negated) if type(expr) in METRIC_OF else (None, False)


def _operands(func: exp.Expr) -> tuple[exp.Column | None, np.ndarray | None]:
    a, b = func.this, func.expression
    for column, other in ((a, b), (b, a)):
        if isinstance(column, exp.Column) and (values := vector_array(other)) is not None:
            return column, values
    return None, None


def _source(select: exp.Select, column: exp.Column) -> exp.Table | None:
    frm = select.args.get("from_")
    nodes = [frm.this] if frm else []
    nodes += [j.this for j in select.args.get("joins") or []]
    tables = [n for n in nodes if isinstance(n, exp.Table) and "lake" in n.meta]
    for n in tables:
        lake: LakeTable = n.meta["lake"]
        if (column.table and column.table.lower() == n.alias_or_name.lower()) or (
            not column.table and column.name in lake.columns
        ):
            return n if column.name in lake.specs else None
    return None


def _conjuncts(where: exp.Expr | None) -> list[exp.Expr]:
    return list(where.this.flatten() if isinstance(where.this, exp.And) else [where.this]) if where else []


def _prefilter(
    select: exp.Select, alias: str, lake: LakeTable, meta: Any, lookup_keys: KeyLookup | None
) -> tuple[str | None, str | None]:
    """The index filter for this table's WHERE conjuncts and joins, or why there can be none."""
    stored = {meta.key, *meta.store}
    own: list[str] = []
    others: dict[str, list[exp.Expr]] = {}
    for cond in _conjuncts(select.args.get("where")):
        owners = {(c.table or alias).lower() for c in cond.find_all(exp.Column)}
        if owners <= {alias}:
            bad = [n for n in cond.walk() if not isinstance(n, _FILTER_NODES)]
            if bad:
                return None, f"WHERE {cond.sql(DIALECT)} uses {bad[0].key.upper()}, which the index cannot prefilter"
            missing = sorted({c.name for c in cond.find_all(exp.Column)} - stored)
            if missing:
                return None, (
                    f"WHERE {cond.sql(DIALECT)} reads {', '.join(missing)}, which the index does not store "
                    f"(stored: {', '.join(sorted(stored))})"
                )
            own.append(_unqualified(cond))
        elif len(owners) == 1:
            others.setdefault(owners.pop(), []).append(cond)
        else:
            return None, f"WHERE {cond.sql(DIALECT)} relates several tables, which the index cannot prefilter"
    for join in select.args.get("joins") or []:
        found = _semijoin(join, alias, lake, others.pop(join.this.alias_or_name.lower(), []), stored, lookup_keys)
        if found is None or found.startswith("!"):
            return None, (found or "!")[1:] or f"the join with {join.this.sql(DIALECT)} may drop or repeat rows"
        if found:
            own.append(found)
    if others:
        return None, f"WHERE on {', '.join(others)} cannot be pushed into the index"
    return (" AND ".join(f"({c})" for c in own) or None), None


def _semijoin(
    join: exp.Join,
    alias: str,
    lake: LakeTable,
    conds: list[exp.Expr],
    stored: set[str],
    lookup_keys: KeyLookup | None,
) -> str | None:
    """``fk IN (keys)`` for an inner join on the other table's key column ("" for a LEFT join that cannot filter)."""
    other = join.this
    if not isinstance(other, exp.Table) or "lake" not in other.meta:
        return f"!the join with {other.sql(DIALECT)} is not a catalog table"
    o_alias, o_lake = other.alias_or_name.lower(), other.meta["lake"]
    on = join.args.get("on")
    o_key = o_lake.table.key_column
    if not isinstance(on, exp.EQ) or not o_key:
        return f"!the join with {o_lake.identifier} is not an equality on its key column"
    sides = {(c.table or "").lower(): c.name for c in (on.this, on.expression) if isinstance(c, exp.Column)}
    if sides.get(o_alias) != o_key or alias not in sides:
        return f"!the join with {o_lake.identifier} is not on its key column {o_key!r}: rows could repeat"
    fk = sides[alias]
    kind = (join.args.get("side") or "").upper()
    if kind == "LEFT" and not conds:
        return ""  # every row of this table stays, once
    if kind not in ("", "INNER") or join.args.get("kind") in ("CROSS", "SEMI", "ANTI"):
        return f"!a {kind or join.args.get('kind')} join with {o_lake.identifier} can drop rows the index would rank"
    if fk not in stored:
        return f"!the join key {fk} is not stored in the index, so the join cannot prefilter it"
    if lookup_keys is None:
        return "!no engine to look up the join keys"
    lookup = exp.select(exp.column(o_key, table=o_alias)).distinct().from_(other.copy())
    for cond in conds:
        lookup = lookup.where(cond.copy())
    keys = lookup_keys(lookup)
    if not keys:
        return f"!the join with {o_lake.identifier} keeps no rows"
    if len(keys) > SEMIJOIN_MAX_KEYS:
        return f"!the join with {o_lake.identifier} keeps {len(keys)} keys (> {SEMIJOIN_MAX_KEYS} to prefilter)"
    return f"{fk} IN ({', '.join(exp.convert(k).sql(DIALECT) for k in keys)})"


def _unqualified(cond: exp.Expr) -> str:
    cond = cond.copy()
    for col in cond.find_all(exp.Column):
        col.set("table", None)
    return cond.sql(DIALECT)
