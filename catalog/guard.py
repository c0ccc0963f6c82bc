"""Who may call the service, and how much they may send: bearer tokens, the read-only principal, body limits.

:class:`Guard` is an ASGI middleware in front of every route (so an unknown path is 401 too, not a probe): a request
without a valid ``Authorization: Bearer`` token gets 401, a read-only principal gets 403 on anything but reads, and a
body over the limit gets 413 before the application reads it. Only ``/healthz`` (what the manager needs to recognise
its own server) and the token endpoint are open. :func:`token_router` is ``POST /v1/oauth/tokens``: the OAuth2
client-credentials grant (``client_id``/``client_secret`` in the form or HTTP Basic, as pyiceberg, Iceberg Java,
DuckDB and OpenLineage send them) and the token-exchange grant Iceberg Java uses to refresh a token.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from lakehouse.catalog_client.credentials import Principal, Secrets, bearer_token

__all__ = ["DEFAULT_MAX_BODY", "DEFAULT_TOKEN_TTL", "Guard", "token_router"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 10 * 1024 * 1024
DEFAULT_TOKEN_TTL = 3600
TOKEN_PATH = "/v1/oauth/tokens"
OPEN_PATHS = frozenset({"/healthz", TOKEN_PATH})
# the review page is opened in a browser, which cannot send a header: it also takes RFC 6750's access_token parameter
QUERY_TOKEN_PATHS = frozenset({"/lineage"})
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# the metrics route exactly: a path merely ending in /metrics is also a commit to a table named "metrics"
_METRICS_PATH = re.compile(r"/v1/namespaces/[^/]+/tables/[^/]+/metrics")


def _read_allowed(method: str, path: str) -> bool:
    # Java clients report scan metrics after a read; accepting them changes nothing
    return method in ("GET", "HEAD", "OPTIONS") or (method == "POST" and bool(_METRICS_PATH.fullmatch(path)))


class Guard:
    """Authenticate, authorise and size-limit every HTTP request before the application sees it."""

    def __init__(self, app: ASGIApp, secrets: Secrets, *, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.app = app
        self.secrets = secrets
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        head = method == "HEAD"
        if path not in OPEN_PATHS:
            principal = self._principal(scope)
            if principal is None:
                await _error(send, 401, "NotAuthorizedException", _missing_token_message(scope), head=head)
                return
            if principal.read_only and not _read_allowed(method, path):
                message = f"Client {principal.client_id!r} is read-only: {method} {path} is not allowed"
                await _error(send, 403, "ForbiddenException", message, head=head)
                return
            scope.setdefault("state", {})["principal"] = principal
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body:
            await _error(send, 413, "RequestTooLargeException", self._too_large(declared), head=head)
            return
        body = await self._read_body(receive)
        if body is None:
            await _error(send, 413, "RequestTooLargeException", self._too_large(None), head=head)
            return
        await self.app(scope, _replay(body, receive), send)

    def _principal(self, scope: Scope) -> Principal | None:
        token = bearer_token(scope.get("headers") or [])
        if token is None and scope["path"] in QUERY_TOKEN_PATHS and scope["method"] in ("GET", "HEAD"):
            token = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("access_token") or [None])[0]
        return self.secrets.verify(token) if token else None

    def _too_large(self, size: int | None) -> str:
        what = f"{size} bytes" if size is not None else "more"
        return f"Request body of {what} is over the service's limit of {self.max_body} bytes"

    async def _read_body(self, receive: Receive) -> list[Message] | None:
        # The whole body is read here (the application would read it all anyway) so a chunked upload without a
        # Content-Length is cut off at the limit too.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            size += len(message.get("body", b""))
            if size > self.max_body:
                return None
            if not message.get("more_body", False):
                return messages


def _replay(messages: list[Message], upstream: Receive) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        # after the body, wait on the connection as the application would (a disconnect, eventually)
        return pending.pop(0) if pending else await upstream()

    return receive


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or []:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _missing_token_message(scope: Scope) -> str:
    has_header = bearer_token(scope.get("headers") or []) is not None
    problem = "The bearer token is invalid or expired" if has_header else "Authentication required"
    return (
        f"{problem}: send 'Authorization: Bearer <token>'; get a token from POST {TOKEN_PATH} "
        "(grant_type=client_credentials with the client id and secret from the service's catalog.secret file)"
    )


async def _error(send: Send, code: int, error_type: str, message: str, *, head: bool) -> None:
    body = b"" if head else json.dumps({"error": {"message": message, "type": error_type, "code": code}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if code == 401:
        headers.append((b"www-authenticate", b'Bearer realm="lakehouse-catalog"'))
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# -- POST /v1/oauth/tokens ------------------------------------------------------------------------------------------
_TOKEN_FORM = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "required": ["grant_type"],
                "properties": {
                    "grant_type": {"type": "string", "enum": ["client_credentials", TOKEN_EXCHANGE]},
                    "client_id": {"type": "string"},
                    "client_secret": {"type": "string"},
                    "scope": {"type": "string"},
                    "subject_token": {"type": "string"},
                    "subject_token_type": {"type": "string"},
                },
            }
        }
    },
}
_OAUTH_ERROR = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
            }
        }
    }
}


def _oauth_error(code: int, error: str, description: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Basic realm="lakehouse-catalog"'} if code == 401 else None
    return JSONResponse({"error": error, "error_description": description}, code, headers=headers)


def _basic_client(request: Request) -> tuple[str | None, str | None]:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        client_id, _, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    return client_id, secret


def token_router(secrets: Secrets, *, ttl: int = DEFAULT_TOKEN_TTL) -> APIRouter:
    router = APIRouter(tags=["auth"])

    @router.post(
        TOKEN_PATH,
        openapi_extra={"requestBody": _TOKEN_FORM},
        responses={400: {"description": "Malformed or unsupported grant", **_OAUTH_ERROR},
                   401: {"description": "Unknown client or wrong secret", **_OAUTH_ERROR}},
    )  # fmt: skip
    async def issue_token(request: Request) -> Response:
        """Exchange client credentials (or a still-valid token) for a bearer token."""
        try:
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode(), keep_blank_values=True).items()}
        except UnicodeDecodeError:
            return _oauth_error(400, "invalid_request", "the form is not UTF-8")
        grant = form.get("grant_type")
        if grant == "client_credentials":
            client_id, secret = form.get("client_id"), form.get("client_secret")
            if secret is None:
                client_id, secret = _basic_client(request)
            client = secrets.authenticate(client_id, secret)
            if client is None:
                logger.info("token refused for client %r", client_id)
                return _oauth_error(401, "invalid_client", "unknown client or wrong client secret")
        elif grant == TOKEN_EXCHANGE:
            principal = secrets.verify(form.get("subject_token") or "")
            if principal is None:
                return _oauth_error(401, "invalid_client", "the subject token is invalid or expired")
            client = secrets.client(principal.client_id)
        else:
            return _oauth_error(400, "unsupported_grant_type", f"grant_type {grant!r} is not supported")
        answer = {
            "access_token": secrets.issue(client, ttl),
            "token_type": "bearer",
            "expires_in": ttl,
            "issued_token_type": ACCESS_TOKEN_TYPE,
        }
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    return router
