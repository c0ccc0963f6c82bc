"""`lakehouse show --snapshot`: the header names the snapshot the rows come from; an unknown one is a clear error."""

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

SCHEMA = pa.schema([("key", pa.string()), ("embedding", pa.list_(pa.float32()))])


def _rows(keys: list[str]) -> dict[str, object]:
    return {"key": keys, "embedding": np.ones((len(keys), 4), dtype=np.float32).tolist()}


@pytest.fixture(scope="module")
def env(lake_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    made = {}
    for fmt in ("iceberg", "delta"):
        t = VectorTable.create(
            f"cli_show.{fmt}",
            SCHEMA,
            vectors=[VectorSpec("embedding", dim=4, model="hash-4")],
            key="key",
            settings=lake_settings,
            exist_ok=True,
            **({"format": "delta"} if fmt == "delta" else {}),
        )
        if t.count() == 0:
            t.append(_rows(["a", "b"]))
            first = t.refresh().snapshot_id
            t.append(_rows(["c"]))
        else:
            first = t.refresh().snapshot_id
        made[fmt] = (first, t.refresh().snapshot_id)
    home = tmp_path_factory.mktemp("cli-show-home")
    return {
        "env": {
            "LAKEHOUSE_HOME": str(home),
            "LAKEHOUSE__CATALOG__URI": str(lake_settings.catalog.uri),
            "LAKEHOUSE__CATALOG__CREDENTIAL": str(lake_settings.catalog.credential),
            "LAKEHOUSE__WAREHOUSE": lake_settings.warehouse,
        },
        "snapshots": made,
    }


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_show_at_an_older_snapshot_names_that_snapshot(
    env: dict, fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first, current = env["snapshots"][fmt]
    assert first != current
    runner = CliRunner()
    old = runner.invoke(cli, ["show", f"cli_show.{fmt}", "--snapshot", str(first)], env=env["env"])
    assert old.exit_code == 0, old.output
    header = old.output.splitlines()[0]
    unit = "version" if fmt == "delta" else "snapshot"
    assert f"{unit}={first}" in header and f"current {current}" in header, header
    assert old.output.count("-- row") == 2
    as_json = runner.invoke(cli, ["show", f"cli_show.{fmt}", "--snapshot", str(first), "-o", "json"], env=env["env"])
    assert sorted(r["key"] for r in json.loads(as_json.output)) == ["a", "b"]
    now = runner.invoke(cli, ["show", f"cli_show.{fmt}"], env=env["env"])
    assert f"{unit}={current}" in now.output.splitlines()[0] and now.output.count("-- row") == 3


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_show_at_a_snapshot_that_does_not_exist_lists_the_ones_that_do(
    env: dict, fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first, current = env["snapshots"][fmt]
    result = CliRunner().invoke(cli, ["show", f"cli_show.{fmt}", "--snapshot", "123"], env=env["env"])
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output and "ValueError" not in result.output
    unit = "version" if fmt == "delta" else "snapshot"
    assert f"has no {unit} 123" in result.output
    assert str(first) in result.output and str(current) in result.output
