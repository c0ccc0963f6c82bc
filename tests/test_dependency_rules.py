"""One-way dependencies (issue 14), measured on the source by ``infra/archcheck.py``: the library reaches the catalog
service through :mod:`lakehouse.catalog_client` only, and Spark plumbing does not know the SQL layer."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _upward() -> list[tuple[str, str]]:
    spec = importlib.util.spec_from_file_location("archcheck", ROOT / "infra" / "archcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("archcheck", module)  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return [(a, b) for a, b, _ in module.analyse(ROOT).upward]


def test_the_library_never_imports_the_catalog_service() -> None:
    edges = [(a, b) for a, b in _upward() if b == "catalog" or b.startswith("catalog.")]
    assert edges == []


def test_spark_plumbing_does_not_import_the_sql_layer() -> None:
    edges = [(a, b) for a, b in _upward() if a.startswith("lakehouse.spark") and b.startswith("lakehouse.sql")]
    assert edges == []


def _report():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("archcheck", ROOT / "infra" / "archcheck.py")
    assert spec is not None and spec.loader is not None
    module = sys.modules.get("archcheck") or importlib.util.module_from_spec(spec)
    if "archcheck" not in sys.modules:
        sys.modules["archcheck"] = module
        spec.loader.exec_module(module)
    return module.analyse(ROOT)


def test_the_whole_tree_keeps_its_layers() -> None:
    # README "How the code is layered": no import circle (lazy imports included), no import against a layer rule, and
    # no code outside lakehouse/table/ that tells Iceberg from Delta
    report = _report()
    assert report.circles == []
    assert report.upward == []
    assert report.branches == []
