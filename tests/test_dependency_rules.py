"""One-way dependencies (issue 14), measured on the source by ``infra/archcheck.py``: the library reaches the catalog
service through :mod:`lakehouse.catalog_client` only, and Spark plumbing does not know the SQL layer."""

from __future__ import annotations


def test_the_library_never_imports_the_catalog_service(architecture) -> None:  # noqa: ANN001
    edges = [(a, b) for a, b, _ in architecture.upward if b == "catalog" or b.startswith("catalog.")]
    assert edges == []


def test_spark_plumbing_does_not_import_the_sql_layer(architecture) -> None:  # noqa: ANN001
    edges = [
        (a, b) for a, b, _ in architecture.upward if a.startswith("lakehouse.spark") and b.startswith("lakehouse.sql")
    ]
    assert edges == []


def test_the_whole_tree_keeps_its_layers(architecture) -> None:  # noqa: ANN001
    # README "How the code is layered": no import circle (lazy imports included), no import against a layer rule, and
    # no code outside lakehouse/table/ that tells Iceberg from Delta
    report = architecture
    assert report.circles == []
    assert report.upward == []
    assert report.branches == []
