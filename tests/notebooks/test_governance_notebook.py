"""``notebooks/governance.ipynb`` executes top to bottom (nbclient) in a temporary ``LAKEHOUSE_HOME``.

The notebook starts its own catalog service and Spark driver inside the kernel process (a separate process from
this test session), runs the jobs with the hashing model, and asserts on trace, impact and the review page itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.spark, pytest.mark.integration]

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "governance.ipynb"


def test_governance_notebook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "stale source rows per reason: {'deleted': 1, 'content_changed': 3, 'model_changed': 0}" in outputs
    assert (home / "state" / "lineage.html").is_file()
