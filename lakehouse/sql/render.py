"""A resolved tree -> SQL text for one target, through that target's table in :mod:`lakehouse.sql.targets`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from lakehouse.sql.dialect import is_vector_function
from lakehouse.sql.resolve import vector_values
from lakehouse.sql.targets import TARGETS, LakeScan, Render, Target, VectorLiteral, dialect_for

__all__ = ["prepare", "render", "scan_tables"]


def prepare(tree: exp.Expression, target: Target) -> exp.Expression:
    """Constant vectors become :class:`VectorLiteral`; for list-typed targets, vector columns get their fixed size."""
    tree = tree.copy()
    for func in list(tree.find_all(exp.Expression)):
        if not is_vector_function(func):
            continue
        dims = {len(v) for v in (vector_values(func.this), vector_values(func.expression)) if v is not None}
        for key in ("this", "expression"):
            arg = func.args[key]
            values = vector_values(arg)
            if values is not None:
                arg.replace(VectorLiteral(values=[_number(arg, i) for i in range(len(values))]))
            elif target.cast_columns and isinstance(arg, exp.Column) and len(dims) == 1:
                arg.replace(exp.Cast(this=arg.copy(), to=exp.DataType.build(f"FLOAT[{dims.pop()}]", dialect="duckdb")))
    return tree


def _number(arg: exp.Expression, i: int) -> str:
    node = (arg.this if isinstance(arg, exp.Cast) else arg).expressions[i]
    return node.sql("duckdb")


def render(tree: exp.Expression, target: str | Target, *, scan: Render | None = None) -> str:
    t = TARGETS[target] if isinstance(target, str) else target
    return prepare(tree, t).sql(dialect_for(t, scan))


def scan_tables(
    tree: exp.Query,
    restrict: dict[int, tuple[int, str, Sequence[Any]]] | None = None,
    catalog: str = "lake",
    casts: bool = True,
) -> exp.Query:
    """Replace each catalog table node with a :class:`LakeScan` (vector columns cast; ``restrict`` maps a node's
    ``id`` to (snapshot, key column, keys))."""
    tree_copy = tree.copy()
    originals = list(tree.find_all(exp.Table))
    copies = list(tree_copy.find_all(exp.Table))
    for orig, node in zip(originals, copies, strict=True):
        lake = orig.meta.get("lake")
        if lake is None:
            continue
        ns, name = lake.identifier.rsplit(".", 1)
        table = exp.table_(name, db=ns, catalog=catalog)
        snapshot, key, keys = (restrict or {}).get(id(orig), (None, None, None))
        vector_casts = [(c, s.dim) for c, s in lake.specs.items()] if casts else []
        delta = getattr(lake, "delta_location", None)  # a Delta table is never read through the catalog
        if not vector_casts and snapshot is None and delta is None:
            node.set("catalog", exp.to_identifier(catalog))
            node.set("db", exp.to_identifier(ns))
            continue
        alias = node.alias_or_name
        scan = LakeScan(this=table, casts=vector_casts, snapshot=snapshot, key=key, keys=list(keys or []), delta=delta)
        node.replace(exp.Subquery(this=scan, alias=exp.TableAlias(this=exp.to_identifier(alias))))
    return tree_copy


def in_list(key: str, keys: Sequence[Any], dialect: str) -> str:
    if not keys:
        return "FALSE"
    return f"{exp.to_identifier(key).sql(dialect)} IN ({', '.join(exp.convert(k).sql(dialect) for k in keys)})"
