"""Deeply nested SQL is refused at parse with a clear SqlParseError, never a raw RecursionError."""

from __future__ import annotations

import pytest

from lakehouse.errors import SqlParseError
from lakehouse.sql.parse import MAX_NESTING, parse_sql


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 500, 5000])
def test_brackets_nested_too_deep_are_refused_with_where(depth: int) -> None:
    sql = "SELECT\n  " + "(" * depth + "1" + ")" * depth + " AS x"
    with pytest.raises(SqlParseError, match=f"nests brackets more than {MAX_NESTING} deep") as info:
        parse_sql(sql)
    assert info.value.line == 2 and info.value.column == MAX_NESTING + 3
    assert "WITH" in info.value.hint


def test_other_deep_nesting_is_a_parse_error_too() -> None:
    with pytest.raises(SqlParseError, match="nests expressions too deeply"):
        parse_sql("SELECT " + "NOT " * 500 + "TRUE")


def test_brackets_in_strings_and_comments_do_not_count() -> None:
    text = "(" * 100
    stmt = parse_sql(f"SELECT '{text}' AS s, \"{text}\" AS q -- {text}\n FROM t /* {text} */")
    assert [e.alias for e in stmt.tree.selects] == ["s", "q"]


@pytest.mark.integration
def test_the_deepest_allowed_nesting_runs(duck) -> None:  # noqa: ANN001
    inner = "(" * (MAX_NESTING - 1) + "count(*)" + ")" * (MAX_NESTING - 1)  # count( is the last level
    result = duck.query(f"SELECT {inner} AS n FROM lake.sqlt.documents")
    assert result.column("n").to_pylist() == [30]
