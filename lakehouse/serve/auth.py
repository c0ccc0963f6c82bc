"""The service's auth is the catalog's: the same bearer tokens, signed with the same secret file, the same principals.

A token issued by the catalog service (``POST /v1/oauth/tokens`` with a client id and secret from
``<state>/catalog.secret``) works here unchanged, and the CLI mints its own from that file (which only its owner can
read). Both principals may search and query: everything this service does is a read. Verification is
:meth:`lakehouse.catalog_client.credentials.Secrets.verify` (the one the catalog service uses), not a second
implementation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from lakehouse.catalog_client.credentials import (
    ANALYST,
    SECRET_FILE,
    Principal,
    Secrets,
    bearer_token,
    ensure_secret_file,
)
from lakehouse.config import Settings

__all__ = ["Auth", "client_token", "secret_path"]

OPEN_PATHS = frozenset({"/v1/health"})
TOKEN_TTL = 3600

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


def secret_path(settings: Settings) -> Path:
    return settings.state_dir / SECRET_FILE


def load_secrets(settings: Settings) -> Secrets:
    """The catalog's secrets (the file is written at first use, as the catalog service itself does)."""
    return ensure_secret_file(secret_path(settings))


def client_token(settings: Settings, client_id: str | None = None, *, ttl: int = TOKEN_TTL) -> str:
    """A bearer token for this service (and the catalog), minted from the secret file; the read-only client's by
    default, which is all searching and querying need."""
    secrets = load_secrets(settings)
    return str(secrets.issue(secrets.client(client_id or ANALYST), ttl))


class Auth:
    """ASGI middleware: every path but ``/v1/health`` needs ``Authorization: Bearer <token>`` (else 401, as JSON)."""

    def __init__(self, app: ASGIApp, secrets: Secrets) -> None:
        self.app = app
        self.secrets = secrets

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            token = bearer_token(scope.get("headers") or [])
            principal: Principal | None = self.secrets.verify(token) if token else None
            if principal is None and scope["path"] not in OPEN_PATHS:
                await _unauthorized(send, token is not None)
                return
            if principal is not None:  # /v1/health says more to a caller with a token
                scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


async def _unauthorized(send: Any, had_token: bool) -> None:
    import json

    problem = "the bearer token is invalid or expired" if had_token else "authentication required"
    body = json.dumps(
        {
            "error": {
                "type": "NotAuthorized",
                "message": f"{problem}: send 'Authorization: Bearer <token>'",
                "where": "header Authorization",
                "hint": "mint one with `lakehouse serve token`, or get one from the catalog service's "
                "POST /v1/oauth/tokens (client id and secret in <state>/catalog.secret)",
            }
        }
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b'Bearer realm="lakehouse-serve"'),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})
