"""An Iceberg REST catalog service over pyiceberg's SQL catalog, shared by Spark, pyiceberg and DuckDB.

Run it with ``python -m catalog serve --database URL --warehouse URI --secret-file PATH``; :func:`create_app` builds
the ASGI app itself. Every route but ``/healthz`` and ``POST /v1/oauth/tokens`` needs a bearer token
(:mod:`catalog.guard`). Clients start it on demand, find it and stop it with :mod:`lakehouse.catalog_client.process`
(``ensure_running``, ``status``, ``stop``, re-exported here); its names, secret file and tokens are defined there too
(:mod:`lakehouse.catalog_client`), so the library never imports this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lakehouse.catalog_client.health import SERVICE_NAME

__version__ = "0.1.0"

__all__ = ["SERVICE_NAME", "CatalogProcess", "__version__", "create_app", "ensure_running", "status", "stop"]

if TYPE_CHECKING:
    from catalog.app import create_app
    from lakehouse.catalog_client.process import CatalogProcess, ensure_running, status, stop


def __getattr__(name: str) -> Any:
    # Lazy, so that managing the service does not import FastAPI and pyiceberg, and serving does not import the manager.
    if name == "create_app":
        from catalog.app import create_app

        return create_app
    if name in {"CatalogProcess", "ensure_running", "status", "stop"}:
        from lakehouse.catalog_client import process

        return getattr(process, name)
    raise AttributeError(f"module 'catalog' has no attribute {name!r}")
