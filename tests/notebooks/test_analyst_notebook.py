"""``notebooks/analyst.ipynb`` executes top to bottom (nbclient) in a temporary ``LAKEHOUSE_HOME``.

The notebook starts its own catalog service (and a Spark driver for the Spark section) inside the kernel process,
builds two small tables with the hashing model, and asserts inside its cells: the issue's example queries take the
ANN path, each fallback takes the exact path and the answers match; this test checks what the outputs show.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = [pytest.mark.spark, pytest.mark.integration]


def test_analyst_notebook_runs(run_notebook: Callable[[str], tuple[str, Path]]) -> None:
    outputs, _home = run_notebook("analyst.ipynb")
    assert outputs.count("path: ann") >= 2  # both example queries answered from the index
    assert "path: ANN index on docs.embeddings.embedding at snapshot" in outputs
    assert outputs.count("path: exact scan") >= 3  # the three fallbacks
    assert "exact path rows == ANN path rows: True" in outputs
    assert "Spark rows == DuckDB rows (titles, in order): True" in outputs
    assert "VECTOR_COSINE_SIMILARITY" in outputs and "VECTOR_SEARCH" in outputs and "<=>" in outputs
    assert "refused:" in outputs
