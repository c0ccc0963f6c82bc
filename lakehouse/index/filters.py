"""``where`` filters: one SQL predicate string, checked once, then run by Lance (prefilter) and by pyiceberg/Arrow.

pyiceberg's expression parser is the gatekeeper: it accepts the predicates both engines understand (comparisons,
AND/OR/NOT, IN, IS [NOT] NULL, LIKE 'prefix%'), binds them to the table schema (so an unknown column is an error
here, not a silent empty answer) and names the columns they read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakehouse.errors import VectorIndexError

if TYPE_CHECKING:
    from pyiceberg.expressions import BooleanExpression
    from pyiceberg.schema import Schema


@dataclass(frozen=True)
class Filter:
    sql: str
    expression: BooleanExpression  # unbound
    columns: frozenset[str]

    def apply(self, table: pa.Table, schema: Schema) -> pa.Table:
        """Keep the rows of an Arrow table that match (used on rows read outside Lance), with SQL's NULL logic.

        pyiceberg turns ``c IN (...)`` into Arrow's ``is_in``, which is false (not NULL) for a NULL ``c``, so
        ``c NOT IN ('a', 'b')`` kept the rows where ``c`` is NULL; Lance and the SQL engines drop them. The exact tail
        then returned rows the indexed rows never do (a NULL-tag row in the top k; in SQL, fewer than k rows).
        """
        from pyiceberg.expressions.visitors import bind, visit

        bound = bind(schema, self.expression, case_sensitive=True)
        return table.filter(visit(bound, _sql_null_converter(schema)))


def _sql_null_converter(schema: Schema) -> Any:
    """pyiceberg's Arrow converter, except that ``IN`` / ``NOT IN`` are NULL on a NULL value, as in SQL."""
    import pyarrow.compute as pc
    from pyiceberg.io.pyarrow import _ConvertToArrowExpression

    class _SqlNulls(_ConvertToArrowExpression):
        def _null_if_null(self, term: Any, value: pc.Expression) -> pc.Expression:
            field = pc.field(self._get_field_name(term))
            return pc.Expression._call("if_else", [field.is_null(), pa.scalar(None, pa.bool_()), value])

        def visit_in(self, term: Any, literals: set[Any]) -> pc.Expression:
            return self._null_if_null(term, super().visit_in(term, literals))

        def visit_not_in(self, term: Any, literals: set[Any]) -> pc.Expression:
            return self._null_if_null(term, super().visit_not_in(term, literals))

    return _SqlNulls(schema)


def parse_filter(where: str, schema: Schema, *, table: str = "", column: str = "") -> Filter:
    """Parse and bind ``where`` against ``schema``; raises :class:`VectorIndexError` (problem ``filter``)."""
    from pyiceberg.expressions.parser import parse
    from pyiceberg.expressions.visitors import bind, extract_field_ids

    try:
        expression = parse(where)
    except Exception as exc:  # pyparsing raises its own ParseException family
        raise VectorIndexError(
            f"filter does not parse: {where!r} (near character {getattr(exc, 'loc', '?')})",
            hint="write a SQL predicate on table columns, e.g. \"lang = 'en' AND year >= 2020\"",
            table=table,
            column=column,
            problem="filter",
        ) from exc
    try:
        bound = bind(schema, expression, case_sensitive=True)
    except ValueError as exc:
        raise VectorIndexError(
            f"filter {where!r} does not fit the table: {exc}",
            hint=f"columns: {', '.join(f.name for f in schema.fields)}",
            table=table,
            column=column,
            problem="filter",
        ) from exc
    names = frozenset(schema.find_column_name(i) or "" for i in extract_field_ids(bound))
    return Filter(where, expression, names)
