"""Reaching the Iceberg REST catalog: an external one from configuration, or the embedded service on demand."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakehouse.config import Settings, load_settings

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog


def ensure_catalog(settings: Settings | None = None) -> str:
    """The REST catalog URI to use, starting the embedded service (or reusing a running one) when none is configured."""
    settings = settings or load_settings()
    if settings.catalog.uri:
        return settings.catalog.uri
    from catalog.manager import ensure_running

    settings.state_dir.mkdir(parents=True, exist_ok=True)
    if settings.warehouse_path is not None:
        settings.warehouse_path.mkdir(parents=True, exist_ok=True)
    process = ensure_running(
        settings.state_dir,
        host=settings.catalog.host,
        port=settings.catalog.port,
        database_url=settings.catalog_database,
        warehouse=settings.warehouse,
    )
    return process.uri


def load_catalog(settings: Settings | None = None, *, uri: str | None = None) -> Catalog:
    """A pyiceberg ``RestCatalog`` on the project's catalog (the same one Spark and DuckDB use)."""
    from pyiceberg.catalog import load_catalog as _load

    settings = settings or load_settings()
    return _load(settings.catalog.name, type="rest", uri=uri or ensure_catalog(settings), warehouse=settings.warehouse)


def split_identifier(identifier: str, settings: Settings | None = None) -> tuple[str, str]:
    """``lake.docs.embeddings`` / ``docs.embeddings`` / ``embeddings`` -> ("docs", "embeddings")."""
    settings = settings or load_settings()
    parts = identifier.split(".")
    if parts[0] == settings.catalog.name and len(parts) > 2:
        parts = parts[1:]
    if len(parts) == 1:
        return settings.namespace, parts[0]
    return ".".join(parts[:-1]), parts[-1]
