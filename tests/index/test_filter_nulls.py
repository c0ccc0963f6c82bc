"""``where`` filters run on Arrow rows (the exact tail, Delta files, Iceberg exact reads) with SQL's NULL logic, the
logic Lance and the SQL engines apply to the indexed rows (issue 11): ``c NOT IN (...)`` drops rows where ``c`` is
NULL. pyiceberg's Arrow conversion kept them, so the exact tail added NULL rows to a top k the index never returns."""

from __future__ import annotations

import pyarrow as pa
import pytest
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField, StringType

from lakehouse.index.filters import parse_filter

SCHEMA = Schema(NestedField(1, "tag", StringType(), required=False), NestedField(2, "n", LongType(), required=False))
ROWS = pa.table({"tag": ["a", "b", None, "z", None], "n": [1, 2, 3, None, 5]})


@pytest.mark.parametrize(
    "where,kept",
    [
        ("tag NOT IN ('a', 'z')", ["b"]),
        ("NOT tag IN ('a', 'z')", ["b"]),
        ("NOT (tag NOT IN ('a', 'z'))", ["a", "z"]),
        ("tag IN ('a', 'z')", ["a", "z"]),
        ("tag NOT IN ('a', 'z') OR n = 3", ["b", None]),  # NULL OR TRUE is TRUE
        ("NOT (tag NOT IN ('a', 'z') AND n > 1)", ["a", "z"]),  # NOT (FALSE AND NULL) is TRUE
        ("n NOT IN (1, 2)", [None, None]),
        ("tag IS NULL", [None, None]),
        ("tag != 'a'", ["b", "z"]),
    ],
)
def test_filter_apply_follows_sql_null_logic(where: str, kept: list) -> None:
    got = parse_filter(where, SCHEMA).apply(ROWS, SCHEMA)
    assert got.column("tag").to_pylist() == kept, where
