"""The service's ``/healthz`` answer, built from the constants clients check it against
(:mod:`lakehouse.catalog_client.health`)."""

from __future__ import annotations

from typing import Any

from catalog import __version__
from lakehouse.catalog_client.health import AUTH_SCHEME, SERVICE_NAME, redact_database_url

__all__ = ["health_payload"]


def health_payload(database_url: str, warehouse: str, catalog_name: str) -> dict[str, Any]:
    """The static part of the ``/healthz`` answer."""
    return {
        "service": SERVICE_NAME,
        "version": __version__,
        "warehouse": warehouse,
        "database": redact_database_url(database_url),
        "catalog": catalog_name,
        "auth": AUTH_SCHEME,
    }
