"""What the catalog service's ``/healthz`` says about it, so a client can tell the service is *ours* for *this*
warehouse before reusing it (the service builds its answer from the same constants, :mod:`catalog.identity`)."""

from __future__ import annotations

from typing import Any

__all__ = ["AUTH_SCHEME", "SERVICE_NAME", "matches", "redact_database_url"]

SERVICE_NAME = "lakehouse-iceberg-rest-catalog"
AUTH_SCHEME = "bearer"  # what every route but /healthz and the token endpoint requires


def redact_database_url(database_url: str) -> str:
    """The database URL with any password masked (what ``/healthz`` reports)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL fails later, in the catalog, with a better message
        return database_url


def matches(health: dict[str, Any], database_url: str, warehouse: str) -> bool:
    """Whether a ``/healthz`` answer comes from our service serving ``warehouse`` over ``database_url``."""
    return (
        health.get("service") == SERVICE_NAME
        and health.get("warehouse") == warehouse
        and health.get("database") == redact_database_url(database_url)
    )
