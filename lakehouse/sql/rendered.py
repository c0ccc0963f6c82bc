"""Rendered SQL kept per query shape, for an engine that reads the ANN path's candidates from a registered relation.

A warm session renders the same statement again and again with only the query vector changed; rendering (one tree
copy, three walks and sqlglot's generator) was most of a millisecond of a query (figures: BENCHMARKS.md, design
measurements, 'rendered SQL reuse'). :class:`RenderCache` keeps, per *shape* of a planned tree, the rendered text
with a slot for each number of each constant vector, and fills the slots for the next tree of the same shape.

The shape is everything rendering reads except the vectors' numbers: every node's type, arguments, comments and
meta, and, for each catalog table, the relation its rows come from. Only trees whose every catalog table is read from
a registered relation are kept: the text of such a query names no table, snapshot or file, so no table state can go
stale in it (a schema change registers its rows under another relation name, so another shape). A template is kept
only if filling it with the vectors it was made from gives back, character for character, the text rendered the
ordinary way.
"""

from __future__ import annotations

import enum
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sqlglot import exp

from lakehouse.sql.dialect import ConstVector
from lakehouse.sql.querycolumn import const_vectors
from lakehouse.sql.resolve import LakeTable

__all__ = ["RenderCache"]

_KEPT = 256  # shapes kept per executor, the least recently used dropped
_SLOT = re.compile("\x00(\\d+):(\\d+)\x00")
_PLAIN = (str, int, float, bool, type(None), enum.Enum)  # enum: sqlglot's DataType.Type

# a template: text pieces and, between them, ("run", vector, separator, count) for all of a vector's numbers joined,
# or ("one", vector, number, None) for one number
_Part = Any
_UNKEPT = ()  # a shape whose text could not be made into a template: rendered every time


class _Unkeepable(Exception):
    """The tree holds something the shape does not describe."""


def shape_of(tree: exp.Expr, restrict: dict[int, dict[str, Any]]) -> tuple[tuple[Any, ...], list[tuple[str, ...]]]:
    """The tree's shape (hashable) and its constant vectors' number texts, in the order the shape lists them.

    Raises :class:`_Unkeepable` for a tree that must be rendered afresh.
    """
    out: list[Any] = []
    vectors: list[tuple[str, ...]] = []
    stack: list[Any] = [tree]
    while stack:
        item = stack.pop()
        if not isinstance(item, exp.Expr):
            out.append(item)  # a marker pushed below
            continue
        if isinstance(item, ConstVector):
            texts = item.texts
            vectors.append(texts)
            out.append(("vector", len(texts), _plain(item.comments)))
            continue
        meta = item._meta
        lake = meta.get("lake") if meta else None
        if isinstance(item, exp.Table) and isinstance(lake, LakeTable):
            how = restrict.get(id(item), {})
            relation = how.get("relation")
            if relation is None or not set(how) <= {"relation", "query_vectors", "alias"}:
                raise _Unkeepable  # read from the table itself: its state is in the text
            out.append(("relation", relation, how.get("query_vectors"), how.get("alias")))
        out.append((type(item), _plain(item.comments), _meta(meta), _plain(item._type and item._type.sql())))
        out.append(")")
        for key, value in reversed(list(item.args.items())):
            if isinstance(value, exp.Expr):
                stack.append(value)
            elif type(value) is list:
                stack.append(("]", key))
                stack.extend(reversed([v if isinstance(v, exp.Expr) else ("item", _plain(v)) for v in value]))
                stack.append(("[", key))
                continue
            else:
                stack.append(("arg", _plain(value)))
            stack.append(("key", key))
    return tuple(out), vectors


def _plain(value: Any) -> Any:
    if isinstance(value, _PLAIN):
        return (type(value), value)
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(_plain(v) for v in value))
    raise _Unkeepable


def _meta(meta: dict[str, Any] | None) -> Any:
    if not meta:
        return None
    return tuple(
        (k, ("lake", v.identifier, v.columns) if isinstance(v, LakeTable) else _plain(v))
        for k, v in sorted(meta.items())
    )


class RenderCache:
    """Per executor: shape -> template (or a note that the shape is rendered every time)."""

    def __init__(self) -> None:
        self._kept: OrderedDict[tuple[Any, ...], tuple[_Part, ...]] = OrderedDict()

    def sql(
        self,
        tree: exp.Expr,
        restrict: dict[int, dict[str, Any]] | None,
        render: Callable[[Any, dict[int, dict[str, Any]] | None, int | None], str],
    ) -> str:
        """``render(tree, restrict, None)``'s text, from a kept template where the shape has one.

        ``render(tree, restrict, n)`` renders a copy of ``tree`` whose ``n`` constant vectors went through
        :func:`mark_vectors`.
        """
        return self.text(tree, restrict, render)[0]

    def text(
        self,
        tree: exp.Expr,
        restrict: dict[int, dict[str, Any]] | None,
        render: Callable[[Any, dict[int, dict[str, Any]] | None, int | None], str],
    ) -> tuple[str, bool]:
        """:meth:`sql`, and whether the text is the same for every query of the shape: it names no table state
        (every catalog table read from a registered relation) and no vector's numbers (they are read from a column:
        lakehouse.sql.querycolumn), so an engine may keep its plan for the next query of the shape."""
        try:
            shape, vectors = shape_of(tree, restrict or {})
        except (_Unkeepable, TypeError):  # TypeError: an unhashable value somewhere in the tree
            return render(tree, restrict, None), False
        try:
            template = self._kept.get(shape)
        except TypeError:
            return render(tree, restrict, None), False
        if template is not None:
            self._kept.move_to_end(shape)
            if template is not _UNKEPT:
                return fill(template, vectors), _constant(template)
            return render(tree, restrict, None), False
        sql = render(tree, restrict, None)
        template = _UNKEPT
        try:
            made = parse_template(render(tree, restrict, len(vectors)))
            if fill(made, vectors) == sql:
                template = made
        except (_Unkeepable, IndexError, ValueError):
            pass
        self._kept[shape] = template
        while len(self._kept) > _KEPT:
            self._kept.popitem(last=False)
        return sql, template is not _UNKEPT and _constant(template)


def _constant(template: tuple[_Part, ...]) -> bool:
    """Whether a template has no slot for a vector's numbers (its text is the same every time)."""
    return all(isinstance(part, str) for part in template)


def sentinels(i: int, n: int) -> tuple[str, ...]:
    """Stand-ins for vector ``i``'s ``n`` numbers, each its own text no SQL generator writes."""
    return tuple(f"\x00{i}:{j}\x00" for j in range(n))


def parse_template(text: str) -> tuple[_Part, ...]:
    pieces = _SLOT.split(text)  # text, vector, number, text, vector, number, ..., text
    parts: list[str | tuple[int, int]] = [pieces[0]]
    for k in range(1, len(pieces), 3):
        parts += [(int(pieces[k]), int(pieces[k + 1])), pieces[k + 2]]
    out: list[_Part] = []
    k = 0
    while k < len(parts):
        part = parts[k]
        if isinstance(part, str):
            out.append(part)
            k += 1
            continue
        i, j = part
        m = k  # a run v:0 sep v:1 sep ... of one vector, in order, with one separator: joined in one go
        sep = parts[k + 1] if j == 0 and k + 2 < len(parts) else None
        while (
            sep is not None and m + 2 < len(parts) and parts[m + 1] == sep and parts[m + 2] == (i, j + (m - k) // 2 + 1)
        ):
            m += 2
        if m > k:
            out.append(("run", i, str(sep), (m - k) // 2 + 1))
        else:
            out.append(("one", i, j, None))
        k = m + 1
    return tuple(out)


def fill(template: tuple[_Part, ...], vectors: list[tuple[str, ...]]) -> str:
    out: list[str] = []
    for part in template:
        if isinstance(part, str):
            out.append(part)
        elif part[0] == "run":
            _, i, sep, n = part
            if len(vectors[i]) != n:
                raise ValueError("a vector of another length")
            out.append(sep.join(vectors[i]))
        else:
            out.append(vectors[part[1]][part[2]])
    return "".join(out)


def mark_vectors(tree: exp.Expr, count: int) -> None:
    """Give each constant vector of ``tree`` its :func:`sentinels`, numbered in :func:`shape_of` order (``count``
    vectors expected)."""
    found = const_vectors(tree)
    if len(found) != count:
        raise _Unkeepable
    for i, node in enumerate(found):
        node.set("values", sentinels(i, len(node.texts)))
