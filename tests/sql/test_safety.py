"""Read-only entry points, and parse errors with line, column and the offending text."""

from __future__ import annotations

import pytest

from lakehouse.errors import SqlParseError, UnsafeSqlError
from lakehouse.sql.parse import parse_sql

REFUSED = {
    "DROP TABLE lake.docs.documents": "DROP",
    "INSERT INTO lake.docs.documents VALUES (1)": "INSERT",
    "UPDATE lake.docs.documents SET title = 'x'": "UPDATE",
    "DELETE FROM lake.docs.documents": "DELETE",
    "CREATE TABLE x AS SELECT 1": "CREATE",
    "COPY lake.docs.documents TO '/tmp/x.csv'": "COPY",
    "ATTACH 'other.db' AS other": "ATTACH",
    "INSTALL httpfs": "INSTALL",
    "LOAD httpfs": "LOAD",
    "PRAGMA version": "PRAGMA",
    "SET threads = 1": "SET",
    "SELECT 1; DROP TABLE t": "multiple statements",
    "SELECT 1; SELECT 2": "multiple statements",
}


@pytest.mark.parametrize("sql", list(REFUSED))
def test_writes_and_setup_statements_are_refused(sql: str) -> None:
    with pytest.raises(UnsafeSqlError) as info:
        parse_sql(sql)
    assert info.value.statement == REFUSED[sql]
    assert "read-only" in str(info.value) or "one query at a time" in str(info.value)


def test_queries_pass() -> None:
    for sql in (
        "SELECT 1",
        "WITH x AS (SELECT 1 AS a) SELECT a FROM x;",
        "SELECT 1 UNION ALL SELECT 2",
        "EXPLAIN SELECT 1",
    ):
        parse_sql(sql)


def test_parse_error_has_line_column_and_text() -> None:
    with pytest.raises(SqlParseError) as info:
        parse_sql("SELECT key,\n       title\nFROM lake.docs.documents WHERE (")
    err = info.value
    assert (err.line, err.column, err.text) == (3, 32, "(")
    assert "line 3, column 32" in str(err) and err.highlight.splitlines()[1].endswith("^")


def test_parse_error_on_a_misspelt_keyword() -> None:
    with pytest.raises(SqlParseError) as info:
        parse_sql("SELECT * FORM lake.docs.documents")
    assert info.value.line == 1 and info.value.text in {"lake", "FORM", "."}
