"""What ``/healthz`` says about a running service, so a manager can tell it is *ours* for *this* warehouse."""

from __future__ import annotations

from typing import Any

from catalog import SERVICE_NAME, __version__

__all__ = ["AUTH_SCHEME", "health_payload", "matches", "redact_database_url"]

AUTH_SCHEME = "bearer"  # what every route but /healthz and the token endpoint requires


def redact_database_url(database_url: str) -> str:
    """The database URL with any password masked (what ``/healthz`` reports)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL fails later, in the catalog, with a better message
        return database_url


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


def matches(health: dict[str, Any], database_url: str, warehouse: str) -> bool:
    """Whether a ``/healthz`` answer comes from our service serving ``warehouse`` over ``database_url``."""
    return (
        health.get("service") == SERVICE_NAME
        and health.get("warehouse") == warehouse
        and health.get("database") == redact_database_url(database_url)
    )
