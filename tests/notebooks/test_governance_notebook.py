"""``notebooks/governance.ipynb`` runs top to bottom: it runs the jobs with the hashing model inside its kernel and
shows trace, impact and the review page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = [pytest.mark.spark, pytest.mark.integration]


def test_governance_notebook_runs(run_notebook: Callable[[str], tuple[str, Path]]) -> None:
    outputs, home = run_notebook("governance.ipynb")
    assert "stale source rows per reason: {'deleted': 1, 'content_changed': 3, 'model_changed': 0}" in outputs
    assert (home / "state" / "lineage.html").is_file()
