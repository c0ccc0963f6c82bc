"""An Iceberg REST catalog service over pyiceberg's SQL catalog, shared by Spark, pyiceberg and DuckDB.

Start it on demand with :func:`ensure_running` (reuses a live server for the same warehouse and database), or run
``python -m catalog serve --database URL --warehouse URI --secret-file PATH``. :func:`create_app` builds the ASGI
app itself. Every route but ``/healthz`` and ``POST /v1/oauth/tokens`` needs a bearer token (:mod:`catalog.guard`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
SERVICE_NAME = "lakehouse-iceberg-rest-catalog"

__all__ = ["SERVICE_NAME", "CatalogProcess", "__version__", "create_app", "ensure_running", "status", "stop"]

if TYPE_CHECKING:
    from catalog.app import create_app
    from catalog.manager import CatalogProcess, ensure_running, status, stop


def __getattr__(name: str) -> Any:
    # Lazy, so that managing the service does not import FastAPI and pyiceberg, and serving does not import the manager.
    if name == "create_app":
        from catalog.app import create_app

        return create_app
    if name in {"CatalogProcess", "ensure_running", "status", "stop"}:
        from catalog import manager

        return getattr(manager, name)
    raise AttributeError(f"module 'catalog' has no attribute {name!r}")
