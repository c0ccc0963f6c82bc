"""The catalog service's principals, their secrets and the bearer tokens it issues.

The service (:mod:`catalog.guard`) and ``lakehouse serve`` verify tokens with this one implementation, and clients
read their secrets from the same file, so it lives in the library. At first start the manager writes
``<state>/catalog.secret`` (mode 0600, JSON): a signing key and two OAuth2 clients, ``lakehouse`` (read-write) and
``analyst`` (read-only: loads and lists, never commits). A client exchanges ``client_id:secret`` for a bearer token
at ``POST /v1/oauth/tokens`` (the Iceberg REST spec's client-credentials flow). Tokens are HMAC-signed and carry the
client and an expiry, so they survive a restart of the service and stop working when the file is replaced (delete
it and restart the service to rotate every secret).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lakehouse.errors import CatalogError

__all__ = [
    "ANALYST",
    "SECRET_FILE",
    "WRITER",
    "Client",
    "Principal",
    "Secrets",
    "bearer_token",
    "ensure_secret_file",
    "load_secret_file",
]

SECRET_FILE = "catalog.secret"
WRITER = "lakehouse"  # the client every project tool uses by default
ANALYST = "analyst"  # the read-only client
Role = Literal["read-write", "read-only"]
_TOKEN_PREFIX = "lh1"


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str
    role: Role

    @property
    def credential(self) -> str:
        """``client_id:secret``, the form pyiceberg, Spark and DuckDB take."""
        return f"{self.client_id}:{self.secret}"


@dataclass(frozen=True)
class Principal:
    """Who a valid token speaks for."""

    client_id: str
    role: Role
    expires_at: int

    @property
    def read_only(self) -> bool:
        return self.role == "read-only"


@dataclass(frozen=True)
class Secrets:
    path: Path
    signing_key: bytes
    clients: dict[str, Client]

    def client(self, client_id: str = WRITER) -> Client:
        try:
            return self.clients[client_id]
        except KeyError:
            raise CatalogError(
                f"{self.path} defines no client {client_id!r}", hint=f"clients: {', '.join(sorted(self.clients))}"
            ) from None

    def authenticate(self, client_id: str | None, secret: str | None) -> Client | None:
        """The client whose secret this is (a missing client id means the default client), or None."""
        client = self.clients.get(client_id or WRITER)
        if client is None or secret is None:
            return None
        return client if hmac.compare_digest(client.secret.encode(), secret.encode()) else None

    def issue(self, client: Client, ttl: int, *, now: float | None = None) -> str:
        expires = int((time.time() if now is None else now) + ttl)
        body = f"{_TOKEN_PREFIX}.{client.client_id}.{expires}.{secrets.token_urlsafe(12)}"
        return f"{body}.{self._sign(body)}"

    def verify(self, token: str, *, now: float | None = None) -> Principal | None:
        """The principal of a token this service issued and that has not expired, else None."""
        body, _, signature = token.rpartition(".")
        parts = body.split(".")
        if len(parts) != 4 or parts[0] != _TOKEN_PREFIX:
            return None
        if not hmac.compare_digest(self._sign(body).encode(), signature.encode()):
            return None
        client = self.clients.get(parts[1])
        try:
            expires = int(parts[2])
        except ValueError:
            return None
        if client is None or expires <= (time.time() if now is None else now):
            return None
        return Principal(client.client_id, client.role, expires)

    def _sign(self, body: str) -> str:
        digest = hmac.new(self.signing_key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def bearer_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header among ASGI ``headers``, or None."""
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


def ensure_secret_file(path: str | os.PathLike[str]) -> Secrets:
    """Load the secret file, writing a new one (0600) first if there is none. Safe against concurrent starters."""
    target = Path(path)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "signing_key": secrets.token_hex(32),
            "clients": {
                WRITER: {"secret": secrets.token_urlsafe(32), "role": "read-write"},
                ANALYST: {"secret": secrets.token_urlsafe(32), "role": "read-only"},
            },
        }
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            os.write(fd, json.dumps(payload, indent=2).encode())
        finally:
            os.close(fd)
        try:
            os.link(tmp, target)  # atomic, and fails if another starter won: then its file is the one
        except FileExistsError:
            pass
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return load_secret_file(target)


def load_secret_file(path: str | os.PathLike[str]) -> Secrets:
    """Read the secret file; refuse one that other users could read."""
    target = Path(path)
    try:
        mode = target.stat().st_mode
        raw = target.read_text()
    except OSError as exc:
        raise CatalogError(
            f"Cannot read the catalog secret file {target}: {exc.strerror or exc}",
            hint="start the service once (lakehouse catalog start) to create it, or set catalog.credential",
            path=str(target),
        ) from exc
    if stat.S_IMODE(mode) & 0o077:
        raise CatalogError(
            f"The catalog secret file {target} is readable by other users (mode {stat.S_IMODE(mode):o})",
            hint=f"chmod 600 {target}",
            path=str(target),
        )
    try:
        data = json.loads(raw)
        clients = {
            name: Client(name, str(entry["secret"]), "read-only" if entry.get("role") == "read-only" else "read-write")
            for name, entry in data["clients"].items()
        }
        key = bytes.fromhex(data["signing_key"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CatalogError(
            f"The catalog secret file {target} is not valid ({exc})",
            hint="delete it and restart the service (every client then reads the new one)",
            path=str(target),
        ) from exc
    return Secrets(target, key, clients)
