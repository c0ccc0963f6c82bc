"""The query vector as a column of the ANN path's candidate rows, instead of hundreds of numbers in the SQL text.

An engine handed the candidates as a registered relation recomputes each candidate's score itself
(:mod:`lakehouse.sql.candidates`), so the query vector has to reach it. Written into the text, DuckDB parses the
384 numbers of ``'[...]'::FLOAT[384]`` again at every query: about 1 ms of a query over ten rows, more than the
rest of its work (figures: BENCHMARKS.md, design measurements, 'query vector as a column'). Instead the candidates
get one more column holding the query vector on every row, and the similarity call reads it:
``array_cosine_similarity(embedding, vectors.__lakehouse_query_vector)``. The engine computes the same function of
the same float32 numbers, so scores and ordering do not change.

Only where the substitution cannot be seen or change a value:

- the vector is an operand of a similarity function whose other operand is the indexed column, in the top-k SELECT
  itself (not in a subquery of it), so every row it is evaluated on is a candidate row;
- its SQL texts are exactly :func:`~lakehouse.sql.dialect.float32_texts` of the float32 query (a bound parameter):
  such texts read back to the same float32s whichever way they are parsed, so the column's numbers are the ones the
  engine would have parsed;
- the SELECT reads no ``*`` (the extra column would show) and joins nothing (``NATURAL``/``USING`` match columns by
  name), and the table has no column of that name.

Anything else keeps the numbers in the text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from sqlglot import exp

from lakehouse.sql.dialect import METRIC_OF, ConstVector, float32_texts

if TYPE_CHECKING:
    from lakehouse.sql.plan import TopK

__all__ = ["QUERY_COLUMN", "query_vector_slots", "read_from_column", "with_query_column"]

QUERY_COLUMN = "__lakehouse_query_vector"


def const_vectors(tree: exp.Expr) -> list[ConstVector]:
    """The constant vectors of ``tree`` in the order :func:`lakehouse.sql.rendered.shape_of` and
    :func:`~lakehouse.sql.rendered.mark_vectors` number them (depth first, arguments in order)."""
    found: list[ConstVector] = []
    stack: list[exp.Expr] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ConstVector):
            found.append(node)
            continue
        for value in reversed(list(node.args.values())):
            if isinstance(value, exp.Expr):
                stack.append(value)
            elif type(value) is list:
                stack.extend(reversed([v for v in value if isinstance(v, exp.Expr)]))
    return found


def query_vector_slots(tree: exp.Expr, top: TopK) -> tuple[int, ...]:
    """The positions (in :func:`const_vectors` order) of the constant vectors of ``tree`` that the candidates' query
    column may stand in for; empty when none may (see the module docstring)."""
    select, node = top.select, top.node
    if top.reads is None or select.args.get("joins") or QUERY_COLUMN in {c.lower() for c in top.table.columns}:
        return ()
    alias = node.alias_or_name.lower()
    canonical: tuple[str, ...] | None = None
    slots = []
    for i, const in enumerate(const_vectors(tree)):
        operand: exp.Expr = const
        if isinstance(const.parent, exp.Cast) and const.parent.this is const:
            operand = const.parent
        func = operand.parent
        if func is None or type(func) not in METRIC_OF or operand.find_ancestor(exp.Select) is not select:
            continue
        other = func.expression if func.this is operand else func.this
        if isinstance(other, exp.Cast):
            other = other.this
        if not (
            isinstance(other, exp.Column)
            and other.name == top.column
            and (not other.table or other.table.lower() == alias)
        ):
            continue
        if canonical is None:
            canonical = float32_texts(top.query)
        if const.texts == canonical:
            slots.append(i)
    return tuple(slots)


def with_query_column(rows: pa.Table, query: np.ndarray) -> pa.Table:
    """``rows`` with :data:`QUERY_COLUMN`: ``query`` (float32) on every row."""
    q = np.asarray(query, dtype=np.float32)
    values = pa.array(np.tile(q, rows.num_rows), type=pa.float32())
    column = pa.FixedSizeListArray.from_arrays(values, len(q))
    return rows.append_column(pa.field(QUERY_COLUMN, column.type, nullable=False), column)


def read_from_column(tree: exp.Expr, restrict: dict[int, dict[str, Any]] | None) -> None:
    """In a rendered copy of a planned tree, replace the constant vectors ``restrict`` lists (``query_vectors``,
    with the ``alias`` of the relation that holds :data:`QUERY_COLUMN`) by a reference to that column."""
    chosen = [how for how in (restrict or {}).values() if how.get("query_vectors")]
    if not chosen:
        return
    consts = const_vectors(tree)
    for how in chosen:
        for i in how["query_vectors"]:
            const = consts[i]
            target = const.parent if isinstance(const.parent, exp.Cast) and const.parent.this is const else const
            target.replace(exp.column(QUERY_COLUMN, table=exp.to_identifier(how["alias"])))
