"""Query parameters: ``:name`` / ``$name`` / ``$1`` / ``?`` placeholders bound to values, never pasted into SQL text.

A placeholder becomes a value node of the parsed tree before the catalog is read:

- a vector (a list, tuple or 1-d numpy array of finite numbers) becomes one constant-vector node, the same node the
  parser lifts long array literals into (:class:`~lakehouse.sql.dialect.ConstVector`), so the planner sees exactly
  what it sees for ``[0.1, 0.2, ...]`` written out, and the ANN path takes its query from it;
- a text where a query vector belongs (an argument of ``cosine_similarity`` and the other vector functions, or
  ``vector_search``'s ``query``) becomes ``embed(text)``: the column's own model embeds it, once per query;
- any other text is a string literal, a number a number literal, a boolean a boolean, ``None`` NULL.

Named parameters take a mapping (``{"q": ...}`` for ``:q`` or ``$q``); positional ones a sequence (``?`` in order,
``$1`` by position). A placeholder without a value, a value no placeholder uses, and a value of another type are
refused with :class:`~lakehouse.errors.SqlError`.

>>> from lakehouse.sql.parse import parse_sql
>>> bind(parse_sql("SELECT * FROM t WHERE title = :t LIMIT :k").tree, {"t": "it's", "k": 3}).sql("lakehouse")
"SELECT * FROM t WHERE title = 'it''s' LIMIT 3"
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
from sqlglot import exp

from lakehouse.errors import SqlError
from lakehouse.sql.dialect import METRIC_OF, ConstVector, Embed, Lakehouse, VectorSearch, float32_texts

__all__ = ["Params", "bind", "placeholders"]

Params = Mapping[str, Any] | Sequence[Any]
E = TypeVar("E", bound=exp.Expr)  # bind returns the tree it was given


def placeholders(tree: exp.Expr) -> list[exp.Placeholder]:
    """The placeholders of ``tree``; the ``?`` ones in the order they are written (the values' order).

    The tree's own walk is not that order (breadth first, ``LIMIT ?`` came before ``WHERE b = ?`` and before the query
    vector), so each ``?`` is found in the tree's SQL text under a marker name instead.
    """
    found = list(tree.find_all(exp.Placeholder))
    bare = [p for p in found if not p.this]
    if len(bare) > 1:
        marks = [f"lhqmark{i:06d}x" for i in range(len(bare))]
        for p, mark in zip(bare, marks, strict=True):
            p.set("this", mark)
        try:
            text = tree.sql(Lakehouse)
        finally:
            for p in bare:
                p.set("this", None)
        where = {id(p): text.find(mark) for p, mark in zip(bare, marks, strict=True)}
        written = iter(sorted(bare, key=lambda p: where[id(p)]))
        found = [next(written) if not p.this else p for p in found]
    return found


def bind(tree: E, params: Params | None) -> E:
    """``tree`` with every placeholder replaced by its value (in place; the caller owns the tree)."""
    found = placeholders(tree)
    if not found:
        if params:
            names = ", ".join(map(str, params)) if isinstance(params, Mapping) else f"{len(params)} value(s)"
            raise SqlError(
                f"parameters were given ({names}) but the query has no placeholder",
                hint="refer to them as :name (or $name), e.g. cosine_similarity(embedding, :q)",
            )
        return tree
    if params is None:
        raise SqlError(
            f"the query has placeholder(s) {', '.join(_label(p) for p in found)} but no parameters were given",
            hint='pass params={"q": ...} (a vector, a text to embed, or a plain value)',
        )
    named = isinstance(params, Mapping)
    if not named and (isinstance(params, str | bytes) or not isinstance(params, Sequence)):
        raise SqlError(
            f"params must be a mapping of names to values or a sequence of values, got {type(params).__name__}",
            hint='params={"q": [0.1, 0.2, ...]}',
        )
    used: set[Any] = set()
    position = 0
    for node in found:
        name = node.this or ""  # ``?`` has none (sqlglot's ``name`` says "?")
        if named:
            key: Any = name
            if not name or name.isdigit():
                raise SqlError(
                    f"placeholder {_label(node)} is positional but params is a mapping",
                    hint="name it (:q) or pass the values as a list",
                )
        elif not name:
            key, position = position, position + 1
        elif name.isdigit():
            key = int(name) - 1
        else:
            raise SqlError(
                f"placeholder {_label(node)} is named but params is a sequence",
                hint=f'pass a mapping: params={{"{name}": ...}}',
            )
        if (named and key not in params) or (not named and not 0 <= key < len(params)):
            given = ", ".join(map(str, params)) if named else f"{len(params)} value(s)"
            raise SqlError(
                f"placeholder {_label(node)} has no value (given: {given or 'none'})",
                hint=f"add it to params: {{{name!r}: ...}}" if named else "pass one value per placeholder",
            )
        used.add(key)
        node.replace(_value(params[key], node, _label(node)))
    unused = [k for k in (params if named else range(len(params))) if k not in used]
    if unused:
        raise SqlError(
            f"parameter(s) {', '.join(map(str, unused))} are not used by the query",
            hint="remove them, or refer to them as :name in the SQL",
        )
    return tree


def _label(node: exp.Placeholder) -> str:
    return f":{node.this}" if node.this else "?"


def _value(value: Any, node: exp.Placeholder, label: str) -> exp.Expr:
    if value is None:
        return exp.Null()
    if isinstance(value, bool | np.bool_):
        return exp.Boolean(this=bool(value))
    if isinstance(value, str):
        return Embed(this=exp.Literal.string(value)) if _vector_slot(node) else exp.Literal.string(value)
    if isinstance(value, int | np.integer):
        return exp.Literal.number(int(value))
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            raise SqlError(f"parameter {label} is {value}", hint="pass a finite number", parameter=label)
        return exp.Literal.number(repr(float(value)))
    if isinstance(value, np.ndarray | list | tuple):
        return _vector(value, label)
    raise SqlError(
        f"parameter {label} is a {type(value).__name__}, which cannot be bound",
        hint="pass a vector (list or numpy array of numbers), a text, a number, a boolean or None",
        parameter=label,
    )


def _vector(value: Any, label: str) -> ConstVector:
    try:
        v = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise SqlError(
            f"parameter {label} is a sequence but not of numbers: {exc}", hint="pass numbers only", parameter=label
        ) from exc
    if v.ndim != 1 or v.size == 0:
        raise SqlError(
            f"parameter {label} has shape {v.shape}; a query vector is one non-empty row of numbers",
            hint="pass a 1-d list or array, e.g. model.embed([text])[0]",
            parameter=label,
        )
    if not np.isfinite(v).all():
        raise SqlError(f"parameter {label} holds NaN or Inf", hint="pass finite numbers", parameter=label)
    return ConstVector(values=float32_texts(v))


def _vector_slot(node: exp.Expr) -> bool:
    """Whether ``node`` stands where a query vector belongs (so a text there is embedded)."""
    parent = node.parent
    if type(parent) in METRIC_OF:
        return True
    if isinstance(parent, VectorSearch):
        return node.arg_key == "query"
    # vector_search(..., query => :q): the named argument node sits between the call and the value
    return isinstance(parent, exp.Kwarg | exp.PropertyEQ | exp.EQ) and isinstance(parent.parent, VectorSearch)
