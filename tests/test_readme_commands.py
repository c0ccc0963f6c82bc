"""The README's documented paths, run as a newcomer would: the main job through the `lakehouse` console script,
and the setup script's clear refusal without Java 17. Keeps the documented path from rotting."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAKEHOUSE = Path(sys.executable).with_name("lakehouse")


def test_readme_gives_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo: setup", makefile, re.M) and re.search(r"^test: setup", makefile, re.M)
    assert "lakehouse demo" in makefile


@pytest.mark.slow
@pytest.mark.model
def test_main_job_runs_end_to_end_on_a_small_corpus(tmp_path: Path) -> None:
    """`lakehouse demo` (what `make demo` runs) on 3 modules: real model, own catalog service, own Spark."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE")}
    env["LAKEHOUSE_HOME"] = str(tmp_path / "home")
    try:
        proc = subprocess.run(
            [str(LAKEHOUSE), "demo", "--limit", "3", "--master", "local[2]"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-4000:]
        assert "lake.docs.documents" in out and "lake.docs.embeddings" in out
        rows = dict(re.findall(r"lake\.docs\.(documents|embeddings)\s*│\s*(\d+)", out))
        assert int(rows["documents"]) >= 3 and int(rows["embeddings"]) > int(rows["documents"]), out[-3000:]
        assert re.search(r"\[\d+:\d+\] #\d+", out), "sample rows show the text span"
        assert "sample embeddings" in out and "demo finished" in out
        assert re.search(r"\[-?\d\.\d{4}, -?\d\.\d{4}, -?\d\.\d{4}, -?\d\.\d{4}, \.\.\.\]", out), "first vector values"

        from pyiceberg.catalog import load_catalog

        from lakehouse.config import load_settings

        settings = load_settings(project_dir=tmp_path, environ={"LAKEHOUSE_HOME": env["LAKEHOUSE_HOME"]})
        from lakehouse.catalog_client.process import status

        svc = status(settings.state_dir)
        assert svc is not None and svc.host == "127.0.0.1"
        from lakehouse.catalog_client.connection import connect_catalog

        conn = connect_catalog(settings)  # the embedded service's own credential, from its 0600 secret file
        table = load_catalog("lake", type="rest", uri=svc.uri, **conn.properties()).load_table(("docs", "embeddings"))
        assert table.properties["lakehouse.vector.embedding.dim"] == "384"
        assert table.properties["lakehouse.vector.embedding.model"] == "all-MiniLM-L6-v2"

        # lineage: JSONL under the state directory, and the same events posted to the catalog service
        import httpx

        events = settings.lineage_path.read_text().splitlines()
        assert sum('"COMPLETE"' in e for e in events) == 3, "demo, ingest and embed each completed"
        runs = httpx.get(f"{svc.uri}/api/v1/lineage/runs", params={"job": "embed_table"}, headers=conn.headers()).json()
        assert [r["state"] for r in runs] == ["COMPLETE"]
    finally:
        subprocess.run([str(LAKEHOUSE), "catalog", "stop"], cwd=tmp_path, env=env, capture_output=True, check=False)


def test_setup_refuses_clearly_without_java(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "PYTHON": sys.executable, "HOME": str(tmp_path), "VENV": str(tmp_path / "venv")}
    proc = subprocess.run(
        ["/bin/bash", str(ROOT / "infra" / "bootstrap.sh")], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode != 0
    assert "Java 17 is required" in proc.stderr and "JAVA_HOME" in proc.stderr
    assert not (tmp_path / "venv").exists(), "nothing is installed before the checks pass"
