"""``notebooks/analyst.ipynb`` executes top to bottom (nbclient) in a temporary ``LAKEHOUSE_HOME``.

The notebook starts its own catalog service (and a Spark driver for the Spark section) inside the kernel process,
builds two small tables with the hashing model, and asserts inside its cells: the issue's example queries take the
ANN path, each fallback takes the exact path and the answers match; this test checks what the outputs show.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.spark, pytest.mark.integration]

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "analyst.ipynb"


def test_analyst_notebook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat", reason="pip install -e '.[dev]' (nbformat, nbclient, ipykernel)")
    nbclient = pytest.importorskip("nbclient", reason="pip install -e '.[dev]' (nbformat, nbclient, ipykernel)")
    pytest.importorskip("ipykernel", reason="pip install -e '.[dev]' (nbformat, nbclient, ipykernel)")
    from catalog.manager import stop

    home = tmp_path / "home"
    # the kernel inherits this environment: only LAKEHOUSE_HOME says where, no user or lineage config leaks in
    for name in [n for n in os.environ if n.startswith(("LAKEHOUSE__", "OPENLINEAGE"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LAKEHOUSE_HOME", str(home))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core's own migration switch; silences its warning
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    try:
        client.execute()
    finally:
        stop(home / "state")  # the notebook stops its catalog service; this covers a failure half-way
    outputs = "".join(
        o.get("text", "") + "".join(str(v) for v in o.get("data", {}).values())
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )
    assert outputs.count("path: ann") >= 2  # both example queries answered from the index
    assert "path: ANN index on docs.embeddings.embedding at snapshot" in outputs
    assert outputs.count("path: exact scan") >= 3  # the three fallbacks
    assert "exact path rows == ANN path rows: True" in outputs
    assert "Spark rows == DuckDB rows (titles, in order): True" in outputs
    assert "VECTOR_COSINE_SIMILARITY" in outputs and "VECTOR_SEARCH" in outputs and "<=>" in outputs
    assert "refused:" in outputs
