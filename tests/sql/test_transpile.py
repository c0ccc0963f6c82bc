"""Transpilation as data (tests/sql/fixtures/transpile.yaml), plus DuckDB and Spark executing both sides."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lakehouse.errors import TranspileError
from lakehouse.sql import transpile

CASES = yaml.safe_load((Path(__file__).parent / "fixtures" / "transpile.yaml").read_text())
TARGETS_COVERED = {c["to"] for c in CASES}


def test_every_target_has_fixtures() -> None:
    assert TARGETS_COVERED == {"duckdb", "spark", "databricks", "snowflake", "bigquery", "postgres", "trino"}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_transpile_fixture(case: dict) -> None:
    if "error" in case:
        with pytest.raises(TranspileError, match=case["error"]):
            transpile(case["sql"], to=case["to"], indexes=case.get("indexes"))
        return
    assert transpile(case["sql"], to=case["to"], indexes=case.get("indexes")).sql == case["expected"]


def test_notes_say_where_no_builtin_exists() -> None:
    notes = " ".join(transpile("SELECT cosine_similarity(v, [1, 0]) FROM t", to="databricks").notes)
    assert "no built-in" in notes
    notes = " ".join(transpile("SELECT cosine_similarity(v, [1, 0]) FROM t", to="spark").notes)
    assert "pandas UDFs" in notes


def test_unknown_target_and_embed_without_catalog_model() -> None:
    with pytest.raises(TranspileError, match="unknown target"):
        transpile("SELECT 1", to="oracle")
