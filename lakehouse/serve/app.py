"""The HTTP API of ``lakehouse serve``: ``POST /v1/search``, ``POST /v1/sql``, ``GET /v1/health``.

Bodies are validated (pydantic, unknown fields refused); every error is JSON ``{"error": {"type", "message",
"where", "hint"}}``: 400 for bad input (what, where, how to fix), 401 without a valid token, 404 for an unknown
table, 503 when the catalog cannot be reached. The handlers are plain functions: the web server runs them on its
worker threads, so a slow query does not hold up a search.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lakehouse._version import __version__
from lakehouse.errors import (
    CatalogError,
    ConfigError,
    LakehouseError,
    ModelError,
    SqlError,
    TableNotFoundError,
    VectorIndexError,
    VectorSpecError,
    VectorValidationError,
)
from lakehouse.serve.warm import SearchQuery, Warm

__all__ = ["SearchBody", "SqlBody", "create_app"]

_STRICT = ConfigDict(extra="forbid")


class Hybrid(BaseModel):
    """Reciprocal rank fusion of the vector and BM25 legs (``lakehouse.index.hybrid.Fusion``)."""

    model_config = _STRICT
    vector_weight: float | None = Field(None, ge=0)
    text_weight: float | None = Field(None, ge=0)
    rrf_k: float | None = Field(None, gt=0)
    depth: int | None = Field(None, ge=1, le=10_000)
    text_column: str | None = None


class SearchBody(BaseModel):
    model_config = _STRICT
    table: str = Field(min_length=1, description="ns.table (or lake.ns.table)")
    column: str = Field("embedding", min_length=1, description="the vector column")
    text: str | None = Field(None, min_length=1, description="query text, embedded with the column's model")
    vector: list[float] | None = Field(None, min_length=1, description="query vector")
    k: int = Field(10, ge=1, le=1000)
    filter: str | None = Field(None, description='SQL predicate, e.g. "chunk_index = 0"')
    as_of: int | None = Field(None, description="search the table as of this snapshot id (Delta: version)")
    hybrid: bool | Hybrid | None = Field(None, description="true or fusion options: BM25 and vector, fused")
    columns: list[str] | None = Field(None, description="row columns to return (default: all but vectors)")
    nprobes: int | None = Field(None, ge=1)
    refine_factor: int | None = Field(None, ge=1)
    ef: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_query(self) -> SearchBody:
        hybrid = self.hybrid not in (None, False)
        if hybrid and self.text is None:
            raise ValueError("hybrid search needs 'text' (the BM25 leg reads it); 'vector' may come with it")
        if not hybrid and (self.text is None) == (self.vector is None):
            raise ValueError("give exactly one of 'text' or 'vector'")
        return self

    def query(self) -> SearchQuery:
        hybrid: dict[str, Any] | None = None
        if isinstance(self.hybrid, Hybrid):
            hybrid = self.hybrid.model_dump(exclude_none=True)
        elif self.hybrid:
            hybrid = {}
        options = {n: getattr(self, n) for n in ("nprobes", "refine_factor", "ef") if getattr(self, n)}
        return SearchQuery(
            self.table, self.column, self.text, self.vector, self.k, self.filter, self.as_of, hybrid, self.columns,
            options,
        )  # fmt: skip


class SqlBody(BaseModel):
    model_config = _STRICT
    sql: str = Field(min_length=1, description="one read-only query (analyst mode)")
    params: dict[str, Any] | list[Any] | None = Field(None, description='placeholder values: {"q": [...] or "text"}')
    max_rows: int = Field(10_000, ge=1, le=1_000_000)


# bad input is 400, a missing table 404, the catalog being away 503; anything else is the service's fault (500)
_STATUS: tuple[tuple[type[LakehouseError], int], ...] = (
    (TableNotFoundError, 404),
    (SqlError, 400),
    (VectorIndexError, 400),
    (VectorSpecError, 400),
    (VectorValidationError, 400),
    (ModelError, 400),
    (ConfigError, 400),
    (CatalogError, 503),
)


class _JSON(JSONResponse):
    """JSON that also writes what Arrow rows hold besides JSON types (dates, decimals, bytes) as text."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=str, separators=(",", ":")).encode()


def _error(status: int, kind: str, message: str, where: str | None, hint: str | None, **extra: Any) -> Response:
    body = {"type": kind, "message": message, "where": where, "hint": hint, **extra}
    return _JSON({"error": body}, status_code=status)


def create_app(warm: Warm, secrets: Any) -> Any:
    """The ASGI application over ``warm`` (wrapped in the bearer-token check)."""
    from lakehouse.serve.auth import Auth

    app = FastAPI(title="lakehouse serve", version=__version__, default_response_class=_JSON)

    @app.exception_handler(RequestValidationError)
    async def _bad_body(request: Request, exc: RequestValidationError) -> Response:
        problems = exc.errors()
        # of a union's alternatives (hybrid: true or options), the deepest complaint says the most
        first: Mapping[str, Any] = max(problems, key=lambda e: len(e.get("loc", ())), default={})
        where = _loc(first)
        what = str(first.get("msg", "invalid request body")).removeprefix("Value error, ")
        detail = [{"where": _loc(e), "message": e.get("msg")} for e in problems]
        hint = _HINTS.get(request.url.path, "see the API in the README (`lakehouse serve`)")
        return _error(400, "BadRequest", what, where, hint, problems=detail)

    @app.exception_handler(LakehouseError)
    async def _lakehouse_error(request: Request, exc: LakehouseError) -> Response:
        status = next((code for cls, code in _STATUS if isinstance(exc, cls)), 500)
        return _error(status, type(exc).__name__, exc.message, _where(exc), exc.hint, fields=_fields(exc))

    @app.get("/v1/health")
    def health(request: Request) -> dict[str, Any]:
        out: dict[str, Any] = {"status": "ok", "pid": os.getpid(), "version": __version__}
        if getattr(request.state, "principal", None) is not None:
            out.update(warm.health())
        return out

    @app.post("/v1/search")
    def search(body: SearchBody) -> dict[str, Any]:
        return warm.search(body.query())

    @app.post("/v1/sql")
    def sql(body: SqlBody) -> dict[str, Any]:
        return warm.sql(body.sql, body.params, max_rows=body.max_rows)

    return Auth(_JsonBodies(app), secrets)


class _JsonBodies:
    """Every body is read as JSON, whatever Content-Type the client sent (``curl -d`` says form-urlencoded)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            headers = [(k, v) for k, v in scope.get("headers") or [] if k.lower() != b"content-type"]
            scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)


_HINTS = {
    "/v1/search": 'e.g. {"table": "docs.embeddings", "text": "snapshot isolation", "k": 5, '
    '"filter": "chunk_index = 0"}',
    "/v1/sql": 'e.g. {"sql": "SELECT ... cosine_similarity(embedding, :q) ...", "params": {"q": "some text"}}',
}


def _loc(error: Any) -> str:
    """``hybrid.weight`` for pydantic's ``("body", "hybrid", "Hybrid", "weight")``: the body and the union
    alternatives' type tags are left out."""
    parts = [str(p) for p in error.get("loc", ()) if p != "body"]
    return ".".join(p for p in parts if p not in _UNION_TAGS and "[" not in p) or "body"


_UNION_TAGS = frozenset({"bool", "Hybrid", "int", "float", "str"})


def _where(exc: LakehouseError) -> str | None:
    f = exc.fields
    if "line" in f and "column" in f:
        return f"sql line {f['line']}, column {f['column']}"
    if f.get("parameter"):
        return f"params {f['parameter']}"
    parts = [str(f[n]) for n in ("table", "identifier") if f.get(n)]
    if f.get("column"):
        parts.append(f"column {f['column']}")
    return ", ".join(parts) or None


def _fields(exc: LakehouseError) -> dict[str, Any]:
    return {k: v if isinstance(v, str | int | float | bool | type(None)) else str(v) for k, v in exc.fields.items()}
