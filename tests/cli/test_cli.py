"""The `lakehouse` command as users script it: help, listing, showing, error exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from lakehouse.cli.main import cli
from lakehouse.config import Settings
from lakehouse.table import VectorTable
from lakehouse.vector import VectorSpec

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def env(lake_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    VectorTable.create(
        "cli_test.vectors",
        pa.schema([("key", pa.string()), ("embedding", pa.list_(pa.float32()))]),
        vectors=[VectorSpec("embedding", dim=8, model="hash-8")],
        key="key",
        settings=lake_settings,
        exist_ok=True,
    ).append({"key": ["a", "b"], "embedding": np.eye(2, 8, dtype=np.float32).tolist()})
    home = tmp_path_factory.mktemp("cli-home")
    return {
        "LAKEHOUSE_HOME": str(home),
        "LAKEHOUSE__CATALOG__URI": str(lake_settings.catalog.uri),
        "LAKEHOUSE__CATALOG__CREDENTIAL": str(lake_settings.catalog.credential),
        "LAKEHOUSE__WAREHOUSE": lake_settings.warehouse,
    }


def test_help_explains_every_command() -> None:
    out = CliRunner().invoke(cli, ["--help"]).output
    for command in ("demo", "ingest", "embed", "tables", "show", "catalog", "submit", "spark-args", "index"):
        assert f"  {command}" in out


def test_tables_and_show_as_json(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.chdir(tmp_path)  # no lakehouse.yaml of the checkout leaks in
    listed = runner.invoke(cli, ["tables", "-o", "json"], env=env)
    assert listed.exit_code == 0, listed.output
    row = next(r for r in json.loads(listed.output) if r["table"] == "cli_test.vectors")
    assert row["rows"] == 2 and row["vectors"] == "embedding[8,cosine,hash-8]"
    shown = runner.invoke(cli, ["show", "cli_test.vectors", "-o", "json"], env=env)
    assert shown.exit_code == 0, shown.output
    assert [r["key"] for r in json.loads(shown.output)] == ["a", "b"]
    text = runner.invoke(cli, ["show", "cli_test.vectors"], env=env).output
    assert "embedding[8, cosine]" in text and "(8 values)" in text


def test_missing_table_is_a_clean_error_with_exit_code_4(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["show", "cli_test.nope"], env=env)
    assert result.exit_code == 4
    assert "cli_test.nope does not exist" in result.output and "Traceback" not in result.output
