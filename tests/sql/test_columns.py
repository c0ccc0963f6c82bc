"""Which columns a top-k query reads (what decides a covering index), and long vectors lifted out of the parse."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from lakehouse.errors import SqlParseError
from lakehouse.sql.candidates import columns_read
from lakehouse.sql.dialect import ConstVector
from lakehouse.sql.parse import DIALECT, parse_sql
from lakehouse.sql.render import render
from lakehouse.sql.resolve import LakeTable, vector_values

COLUMNS = ("key", "lang", "title", "body", "meta", "embedding")
LAKE = LakeTable("ns.docs", None, COLUMNS)  # type: ignore[arg-type]
VEC = ", ".join(f"0.{i}" for i in range(1, 17))


def _read(sql: str) -> tuple[str, ...] | None:
    select = parse_sql(sql).tree
    assert isinstance(select, exp.Select)
    node = select.args["from_"].this
    return columns_read(select, node, LAKE)


@pytest.mark.parametrize(
    ("sql", "reads"),
    [
        (
            f"SELECT key, cosine_similarity(embedding, [{VEC}]) AS s FROM docs ORDER BY s DESC LIMIT 3",
            ("key", "embedding"),
        ),
        (
            f"SELECT d.title FROM docs d WHERE d.lang = 'en' ORDER BY cosine_similarity(d.embedding, [{VEC}]) DESC "
            "LIMIT 3",
            ("lang", "title", "embedding"),
        ),
        (
            f"SELECT e.key, o.body FROM docs e JOIN other o ON o.key = e.key "
            f"ORDER BY cosine_similarity(e.embedding, [{VEC}]) DESC LIMIT 3",
            ("key", "embedding"),
        ),
        ("SELECT COUNT(*), key FROM docs", ("key",)),
        ("SELECT e.meta.author FROM docs e", ("meta",)),  # a struct field under the table's alias
        ("SELECT meta.author FROM docs", ("meta",)),  # ... or unqualified
        ("SELECT o.* , key FROM docs JOIN other o ON o.key = docs.key", ("key",)),
        ("SELECT * FROM docs", None),
        ("SELECT d.* FROM docs d", None),
        ("SELECT * EXCLUDE (body) FROM docs", None),
        ("SELECT COLUMNS('t.*') FROM docs", None),
        ("SELECT docs FROM docs", None),  # the whole row as a struct
    ],
)
def test_columns_read(sql: str, reads: tuple[str, ...] | None) -> None:
    assert _read(sql) == reads


def test_a_long_vector_is_one_node_that_reads_and_renders_as_written() -> None:
    sql = f"SELECT cosine_similarity(e, [{VEC}, -1.5e-3, .25]::FLOAT[18]) FROM t"
    lifted = parse_sql(sql).tree
    plain = sqlglot.parse_one(sql, read=DIALECT)
    (const,) = list(lifted.find_all(ConstVector))
    assert const.texts[-2:] == ("-1.5e-3", "0.25")
    assert vector_values(const) == vector_values(plain.find(exp.Array))  # type: ignore[arg-type]
    for target in ("duckdb", "spark", "snowflake", "postgres", "lakehouse"):
        assert render(lifted, target) == render(plain, target), target
    assert lifted.sql(DIALECT) == plain.sql(DIALECT)


@pytest.mark.parametrize(
    "sql",
    [
        f"SELECT '[{VEC}]' AS s FROM t",  # in a string
        f"SELECT x FROM t -- [{VEC}]",  # in a comment
        f'SELECT "[{VEC}]" FROM t',  # a quoted name
        f"SELECT __lakehouse_vector_0, [{VEC}] FROM t",  # the placeholder's own name in the text
        f"SELECT x[{VEC}] FROM t",  # not an array where it stands
    ],
)
def test_text_that_is_not_an_array_literal_is_parsed_as_written(sql: str) -> None:
    try:
        expected = sqlglot.parse_one(sql, read=DIALECT).sql(DIALECT)
    except sqlglot.errors.ParseError:
        with pytest.raises(SqlParseError):
            parse_sql(sql)
        return
    assert parse_sql(sql).tree.sql(DIALECT) == expected


def test_a_parse_error_after_a_lifted_vector_points_at_the_original_text() -> None:
    with pytest.raises(SqlParseError) as err:
        parse_sql(f"SELECT cosine_similarity(e, [{VEC}]) FROM t WHERE")
    assert err.value.line == 1
    assert err.value.column > len(VEC)  # counted in the text as written, not the lifted one
