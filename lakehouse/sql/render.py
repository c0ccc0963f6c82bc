"""A resolved tree -> SQL text for one target, through that target's table in :mod:`lakehouse.sql.targets`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from lakehouse.sql.dialect import METRIC_OF, ConstVector, float_array_type
from lakehouse.sql.resolve import vector_texts
from lakehouse.sql.targets import TARGETS, LakeScan, Render, Target, VectorLiteral, dialect_for
from lakehouse.sql.timetravel import AS_OF

__all__ = ["prepare", "render", "scan_tables"]


def prepare(tree: exp.Expr, target: Target, *, copy: bool = True) -> exp.Expr:
    """Constant vectors become :class:`VectorLiteral`; for list-typed targets, vector columns get their fixed size.

    ``copy=False`` rewrites ``tree`` in place (for a tree the caller just copied). Constant arrays elsewhere go back
    to sqlglot's own array node, which every target's generator knows.
    """
    if copy:
        tree = tree.copy()
    for func in list(tree.find_all(*METRIC_OF)):
        texts = {key: vector_texts(func.args[key]) for key in ("this", "expression")}
        dims = {len(t) for t in texts.values() if t is not None}
        for key, values in texts.items():
            arg = func.args[key]
            if values is not None:
                arg.replace(VectorLiteral(values=values))
            elif target.cast_columns and isinstance(arg, exp.Column) and len(dims) == 1:
                arg.replace(exp.Cast(this=arg.copy(), to=float_array_type(dims.pop(), "duckdb")))
    for const in list(tree.find_all(ConstVector)):
        cast = const.parent
        if isinstance(cast, exp.Cast) and cast.this is const:  # a query vector outside a function (embed('x', m))
            literal = VectorLiteral(values=const.texts)
            if cast is tree:
                return literal
            cast.replace(literal)
            continue
        if const is tree:
            return const.to_array()
        const.replace(const.to_array())
    return tree


def render(tree: exp.Expr, target: str | Target, *, scan: Render | None = None, copy: bool = True) -> str:
    t = TARGETS[target] if isinstance(target, str) else target
    # the prepared tree is this call's own (copied, or handed over with copy=False): generated without another copy
    return prepare(tree, t, copy=copy).sql(dialect_for(t, scan), copy=False)


def scan_tables(
    tree: exp.Query,
    restrict: dict[int, dict[str, Any]] | None = None,
    catalog: str = "lake",
    casts: bool = True,
) -> exp.Query:
    """Replace each catalog table node with a :class:`LakeScan` (vector columns cast).

    ``restrict`` maps a node's ``id`` to how that table is read instead: ``snapshot``, ``key`` and ``keys`` (the
    table at a snapshot, restricted to keys) or ``relation`` (a relation the executor registered, e.g. the ANN
    path's candidate rows, whose vectors are already fixed-size).
    """
    tree_copy = tree.copy()
    originals = list(tree.find_all(exp.Table))
    copies = list(tree_copy.find_all(exp.Table))
    for orig, node in zip(originals, copies, strict=True):
        lake = orig.meta.get("lake")
        if lake is None:
            continue
        ns, name = lake.identifier.rsplit(".", 1)
        table = exp.table_(name, db=ns, catalog=catalog)
        how = (restrict or {}).get(id(orig), {})
        if orig.meta.get(AS_OF) is not None and "relation" not in how:  # time travel: the table at that snapshot
            how = {"snapshot": orig.meta[AS_OF], **how}
        relation = how.get("relation")
        vector_casts = [(c, s.dim) for c, s in lake.specs.items()] if casts and relation is None else []
        if not vector_casts and not how and lake.table.read_through_catalog:  # else: a Delta log, read by path
            node.set("catalog", exp.to_identifier(catalog))
            node.set("db", exp.to_identifier(ns))
            continue
        alias = node.alias_or_name
        scan = LakeScan(
            this=table,
            casts=vector_casts,
            snapshot=how.get("snapshot"),
            key=how.get("key"),
            keys=list(how.get("keys") or []),
            lake=lake,
            relation=relation,
        )
        node.replace(exp.Subquery(this=scan, alias=exp.TableAlias(this=exp.to_identifier(alias))))
    return tree_copy


def in_list(key: str, keys: Sequence[Any], dialect: str) -> str:
    if not keys:
        return "FALSE"
    return f"{exp.to_identifier(key).sql(dialect)} IN ({', '.join(exp.convert(k).sql(dialect) for k in keys)})"
