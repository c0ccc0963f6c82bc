"""The throwaway lake every benchmark runs in: its own catalog service over a SQLite catalog and a warehouse folder,
all under one temporary root (stop it with ``lakehouse.catalog_client.process.stop(root / "state")``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def start_catalog(root: Path) -> Any:
    """Start (or reuse, for a cached root) the catalog service of the lake under ``root``; returns its process info
    (``uri``, ``warehouse``)."""
    from lakehouse.catalog_client.process import ensure_running

    (root / "warehouse").mkdir(parents=True, exist_ok=True)
    return ensure_running(
        root / "state",
        database_url=f"sqlite:///{root / 'catalog.db'}",
        warehouse=(root / "warehouse").as_uri(),
        timeout=60,
    )


def report(lines: list[str], output: str | None) -> None:
    """Print a benchmark's Markdown section and append it to ``output`` (BENCHMARKS.md) unless that is None or '-'."""
    text = "\n".join(lines)
    print(text)
    if output and output != "-":
        with open(output, "a", encoding="utf-8") as f:
            f.write("\n" + text + "\n")
