"""CLI start-up stays light: what a command does not need, it does not import (a behaviour check, not a timing).

Each check runs in a fresh interpreter and reports ``sys.modules`` as the process exits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# the heavy ones: the model stack (torch ~1 s to import, more under load), the JVM bridge, the engines
NEVER_AT_START = ("torch", "sentence_transformers", "transformers", "pyspark", "py4j", "duckdb", "lance", "deltalake")
REPORT = (
    "import atexit, json, sys\natexit.register(lambda: open({out!r}, 'w').write(json.dumps(sorted(sys.modules))))\n"
)


def _modules(tmp_path: Path, code: str, env: dict[str, str] | None = None) -> set[str]:
    out = tmp_path / "modules.json"
    script = REPORT.format(out=str(out)) + code
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, **(env or {})},
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(out.read_text()))


def test_importing_the_cli_imports_no_model_jvm_or_engine(tmp_path: Path) -> None:
    loaded = _modules(tmp_path, "import lakehouse.cli.main\n")
    assert "lakehouse.cli.main" in loaded
    assert not loaded & set(NEVER_AT_START)
    assert not {"pyiceberg", "numpy", "pyarrow", "sqlglot", "fastapi"} & loaded  # `--help` needs none of them


def test_sql_transpile_loads_no_model_engine_or_index(tmp_path: Path) -> None:
    vector = "[" + ", ".join(["0.5"] * 16) + "]"
    sql = f"SELECT k, cosine_similarity(v, {vector}) AS s FROM lake.docs.t ORDER BY s DESC LIMIT 5"
    argv = ["lakehouse", "sql", "transpile", "--to", "postgres", sql]
    loaded = _modules(
        tmp_path,
        f"import sys\nsys.argv = {argv!r}\nfrom lakehouse.cli.main import main\nmain()\n",
        {"LAKEHOUSE_HOME": str(tmp_path / "home")},
    )
    assert "lakehouse.sql.transpile" in loaded
    assert not loaded & {*NEVER_AT_START, "lakehouse.index", "lakehouse.sql.api", "pyiceberg"}


@pytest.mark.integration
def test_tables_on_the_embedded_catalog_needs_no_pyiceberg(tmp_path: Path) -> None:
    import pyarrow as pa

    from lakehouse.catalog_client.process import stop
    from lakehouse.config import load_settings
    from lakehouse.table import VectorTable
    from lakehouse.vector import VectorSpec

    home = tmp_path / "home"
    settings = load_settings(project_dir=tmp_path, environ={}, home=str(home))
    try:
        schema = pa.schema([("id", pa.string()), ("v", pa.list_(pa.float32()))])
        t = VectorTable.create("cold.t", schema, vectors=[VectorSpec("v", dim=2)], key="id", settings=settings)
        t.append(pa.table({"id": ["a", "b", "c"], "v": pa.array([[1.0, 0.0]] * 3, pa.list_(pa.float32()))}))
        listing = tmp_path / "tables.json"
        argv = ["lakehouse", "--home", str(home), "tables", "-o", "json"]
        code = (
            f"import sys, contextlib\nsys.argv = {argv!r}\nfrom lakehouse.cli.main import main\n"
            f"with open({str(listing)!r}, 'w') as out, contextlib.redirect_stdout(out):\n    main()\n"
        )
        loaded = _modules(tmp_path, code)
        rows = json.loads(listing.read_text())
        snapshot = t.refresh().snapshot_id
    finally:
        stop(home / "state")
    assert rows == [{"table": "cold.t", "rows": 3, "snapshot_id": snapshot, "vectors": "v[2,cosine,None]"}]
    assert not loaded & {*NEVER_AT_START, "pyiceberg"}
