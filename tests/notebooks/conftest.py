"""Running a walk-through notebook top to bottom (nbclient) in a temporary ``LAKEHOUSE_HOME``."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
INSTALL = "pip install -e '.[dev]' (nbformat, nbclient, ipykernel)"


@pytest.fixture
def run_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], tuple[str, Path]]:
    """Execute ``notebooks/<name>``; return the text of every output and the LAKEHOUSE_HOME it used.

    The kernel starts its own catalog service (and Spark driver) in its own process; only LAKEHOUSE_HOME says
    where, and no user or lineage configuration leaks in from the environment.
    """
    nbformat = pytest.importorskip("nbformat", reason=INSTALL)
    nbclient = pytest.importorskip("nbclient", reason=INSTALL)
    pytest.importorskip("ipykernel", reason=INSTALL)
    from lakehouse.catalog_client.process import stop

    home = tmp_path / "home"
    for name in [n for n in os.environ if n.startswith(("LAKEHOUSE__", "OPENLINEAGE"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LAKEHOUSE_HOME", str(home))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core's own migration switch; silences its warning

    def run(name: str) -> tuple[str, Path]:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
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
        return outputs, home

    return run
