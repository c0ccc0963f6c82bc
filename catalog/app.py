"""The Iceberg REST catalog API (the subset Spark, pyiceberg and DuckDB use) over a ``ServiceCatalog``.

Request and response bodies are pyiceberg's own models (``CreateTableRequest``, ``CommitTableRequest``,
``TableResponse``...). Multi-part namespaces travel in the path joined by 0x1F, as the spec says.

Every request needs a bearer token (:mod:`catalog.guard`, :mod:`lakehouse.catalog_client.credentials`); every
namespace and table name is checked (:mod:`lakehouse.catalog_client.names`) and every table location kept inside the
warehouse (:mod:`catalog.locations`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import Body, FastAPI, Header, Query, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from pyiceberg.catalog.rest import (
    CreateTableRequest,
    ListNamespaceResponse,
    ListTableResponseEntry,
    ListTablesResponse,
    NamespaceResponse,
    RegisterTableRequest,
    TableResponse,
    UpdateNamespacePropertiesResponse,
)
from pyiceberg.table import CommitTableRequest, Table, TableIdentifier
from pyiceberg.typedef import Identifier

from catalog import __version__
from catalog.changes import CountChanges
from catalog.errors import BadRequest, install_error_handlers
from catalog.guard import DEFAULT_MAX_BODY, DEFAULT_TOKEN_TTL, OPEN_PATHS, Guard, token_router
from catalog.identity import health_payload
from catalog.loads import TableLoads
from catalog.store import ServiceCatalog, open_catalog
from lakehouse.catalog_client.changes import ChangeCounter
from lakehouse.catalog_client.credentials import Secrets, load_secret_file
from lakehouse.catalog_client.names import check_identifier, check_namespace, check_part
from lakehouse.lineage.graph import lineage_page
from lakehouse.lineage.router import make_router
from lakehouse.lineage.store import LineageStore, load_jsonl, service_store_url

__all__ = ["create_app"]

SEPARATOR = "\x1f"

_NS = "/v1/namespaces/{namespace}"
_TABLE = _NS + "/tables/{table}"

# Advertised in /v1/config so clients call only what is here (Java checks every call against this list).
ENDPOINTS = [
    "GET /v1/{prefix}/namespaces",
    "POST /v1/{prefix}/namespaces",
    "GET /v1/{prefix}/namespaces/{namespace}",
    "HEAD /v1/{prefix}/namespaces/{namespace}",
    "DELETE /v1/{prefix}/namespaces/{namespace}",
    "POST /v1/{prefix}/namespaces/{namespace}/properties",
    "GET /v1/{prefix}/namespaces/{namespace}/tables",
    "POST /v1/{prefix}/namespaces/{namespace}/tables",
    "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}",
    "POST /v1/{prefix}/namespaces/{namespace}/register",
    "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/metrics",
    "POST /v1/{prefix}/tables/rename",
]


MAX_PROPERTIES = 1000
MAX_PROPERTY_KEY = 256
MAX_PROPERTY_VALUE = 64 * 1024


def _namespace(encoded: str) -> Identifier:
    # a part can never hold 0x1F: it is the level separator, and a name part admits no control character anyway
    return check_namespace(encoded.split(SEPARATOR))


def _identifier(namespace: str, table: str) -> Identifier:
    return (*_namespace(namespace), check_part("table", table))


def _check_properties(properties: object, what: str = "properties") -> dict[str, str]:
    if not isinstance(properties, dict):
        raise BadRequest(f"Expected {what} as an object of strings")
    if len(properties) > MAX_PROPERTIES:
        raise BadRequest(f"Too many {what}: {len(properties)} (at most {MAX_PROPERTIES})")
    for key, value in properties.items():
        if not isinstance(value, str):
            raise BadRequest(f"Property {str(key)[:80]!r} must be a string, got {type(value).__name__}")
        if len(key) > MAX_PROPERTY_KEY or len(value) > MAX_PROPERTY_VALUE:
            raise BadRequest(
                f"Property {key[:80]!r} is too large ({len(key)} + {len(value)} characters; keys up to "
                f"{MAX_PROPERTY_KEY}, values up to {MAX_PROPERTY_VALUE})"
            )
        if "\x00" in key or "\x00" in value:
            raise BadRequest(f"Property {key[:80]!r} contains a NUL character")
    return properties


def _updates_properties(body: dict[str, Any]) -> None:
    for update in body.get("updates") or []:
        if isinstance(update, dict) and update.get("action") == "set-properties":
            _check_properties(update.get("updates"), "property updates")


def _exists(found: bool) -> Response:
    # a HEAD answer has no body; the 404 still names the error model's media type, as the OpenAPI document does
    return Response(status_code=204) if found else Response(status_code=404, media_type="application/json")


def _json(model: BaseModel, status_code: int = 200) -> Response:
    return Response(model.model_dump_json(by_alias=True, exclude_none=True), status_code, media_type="application/json")


def _table_response(table: Table) -> Response:
    return _json(
        TableResponse.model_validate({"metadata-location": table.metadata_location, "metadata": table.metadata})
    )


def _normalise_warehouse(uri: str) -> str:
    uri = uri.rstrip("/")
    return "file://" + uri if uri.startswith("/") else uri


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "model": _ErrorModel}


class _ErrorBody(BaseModel):
    message: str
    type: str
    code: int


class _ErrorModel(BaseModel):
    """The Iceberg REST error model."""

    error: _ErrorBody


# OpenAPI responses by status code, as FastAPI takes them
Responses = dict[int | str, dict[str, Any]]

# Every route can answer these (the guard and the request checks run before any route)
COMMON_RESPONSES: Responses = {
    400: _error("Malformed request, or an invalid namespace/table name or location"),
    401: _error("No valid bearer token"),
    403: _error("The token's principal is read-only"),
    413: _error("Request body over the service's limit"),
}
_NOT_FOUND: Responses = {404: _error("No such namespace or table")}
_CONFLICT: Responses = {
    409: _error("Already exists, a failed commit requirement, or a location that overlaps another table")
}


def create_app(
    database_url: str,
    warehouse: str,
    *,
    secrets: Secrets | str | os.PathLike[str],
    catalog_name: str = "lake",
    allow_external_locations: bool = False,
    max_body: int = DEFAULT_MAX_BODY,
    token_ttl: int = DEFAULT_TOKEN_TTL,
    changes_file: str | os.PathLike[str] | None = None,
) -> FastAPI:
    """Build the REST catalog application for ``warehouse``, with its catalog state in ``database_url``.

    ``secrets`` is the service's secret file (or its loaded :class:`~lakehouse.catalog_client.credentials.Secrets`):
    the clients whose credentials it accepts and the key its tokens are signed with. ``changes_file``, when given,
    is the change counter bumped after every write (:mod:`lakehouse.catalog_client.changes`).

    Example:
        >>> app = create_app("sqlite:///tmp/catalog.db", "file:///tmp/warehouse",
        ...                  secrets="/tmp/state/catalog.secret")  # doctest: +SKIP
        >>> uvicorn.run(app, host="127.0.0.1", port=8181)  # doctest: +SKIP
    """
    keys = secrets if isinstance(secrets, Secrets) else load_secret_file(secrets)
    catalog: ServiceCatalog = open_catalog(
        database_url, warehouse, name=catalog_name, allow_external_locations=allow_external_locations
    )
    app = FastAPI(
        title="lakehouse Iceberg REST catalog",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        responses=COMMON_RESPONSES,
    )
    app.state.catalog = catalog
    loads = app.state.table_loads = TableLoads(catalog)  # conditional loadTable answers, counted
    install_error_handlers(app)
    if changes_file is not None:  # inside the guard: a request it refuses never reaches the counter
        app.add_middleware(CountChanges, counter=ChangeCounter(changes_file))
    app.add_middleware(Guard, secrets=keys, max_body=max_body)
    app.include_router(token_router(keys, ttl=token_ttl))
    health = health_payload(database_url, warehouse, catalog_name)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        # table_loads: loadTable answers in full and as 304 Not Modified since the start (catalog.loads)
        return {**health, "pid": os.getpid(), "table_loads": loads.snapshot_counts()}

    # -- lineage: Marquez-compatible POST /api/v1/lineage, and the review page over what was received ------------
    lineage = LineageStore(service_store_url(database_url))
    app.state.lineage = lineage
    lineage_errors: Responses = {**_NOT_FOUND, 422: _error("Not a valid OpenLineage event (the problems are listed)")}
    app.include_router(make_router(lineage), responses=lineage_errors)
    # the embedded default also appends every event to lineage.jsonl beside a SQLite catalog.db: show those too
    jsonl = None
    if database_url.startswith("sqlite:///"):
        jsonl = Path(database_url[len("sqlite:///") :]).parent / "lineage.jsonl"

    @app.get("/lineage", response_class=HTMLResponse)
    def lineage_review(
        limit: int = Query(5000, ge=0),
        access_token: str | None = Query(None, description="a bearer token, for a browser that cannot send one"),
    ) -> HTMLResponse:
        store = LineageStore()
        store.add_many(lineage.events())
        if jsonl is not None:
            load_jsonl(jsonl, store)
        page = lineage_page(
            store,
            load=lambda name: catalog.load_table(tuple(name.split("."))),
            namespace=warehouse.rstrip("/"),
            limit=limit,
            title="lakehouse lineage (catalog service)",
        )
        store.close()
        # the token may have come in the URL: keep the page out of caches and its URL out of Referer headers
        return HTMLResponse(page, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})

    @app.get("/v1/config")
    def config(warehouse_param: str | None = Query(None, alias="warehouse")) -> dict[str, Any]:
        if warehouse_param and _normalise_warehouse(warehouse_param) != _normalise_warehouse(warehouse):
            raise BadRequest(f"This catalog serves warehouse {warehouse!r}, not {warehouse_param!r}")
        return {"defaults": {"warehouse": warehouse}, "overrides": {}, "endpoints": ENDPOINTS}

    # -- namespaces -------------------------------------------------------------------------------------------

    @app.get("/v1/namespaces")
    def list_namespaces(parent: str | None = None) -> Response:
        found = catalog.list_namespaces(_namespace(parent) if parent else ())
        return _json(ListNamespaceResponse(namespaces=sorted(found)))

    @app.post("/v1/namespaces", responses=_CONFLICT)
    def create_namespace(body: dict[str, Any] = Body(...)) -> Response:
        if isinstance(body.get("namespace"), list):
            check_namespace(body["namespace"])  # before any joining: a 0x1F inside a part must not split it
        request = NamespaceResponse.model_validate(body)
        namespace = check_namespace(request.namespace)
        properties = _check_properties(request.properties)
        catalog.locations.check_properties(properties, "namespace")
        catalog.create_namespace(namespace, properties)
        return _json(NamespaceResponse(namespace=namespace, properties=properties))

    @app.get(_NS, responses=_NOT_FOUND)
    def load_namespace(namespace: str) -> Response:
        ns = _namespace(namespace)
        return _json(NamespaceResponse(namespace=ns, properties=catalog.load_namespace_properties(ns)))

    @app.head(_NS, status_code=204, responses=_NOT_FOUND)
    def namespace_exists(namespace: str) -> Response:
        return _exists(catalog.namespace_exists(_namespace(namespace)))

    @app.delete(_NS, status_code=204, responses={**_NOT_FOUND, **_CONFLICT})
    def drop_namespace(namespace: str) -> Response:
        catalog.drop_namespace(_namespace(namespace))
        return Response(status_code=204)

    @app.post(_NS + "/properties", responses=_NOT_FOUND)
    def update_namespace_properties(namespace: str, body: dict[str, Any] = Body(...)) -> Response:
        ns = _namespace(namespace)
        removals, updates = body.get("removals") or [], body.get("updates") or {}
        if not isinstance(removals, list) or not all(isinstance(r, str) for r in removals):
            raise BadRequest("Expected 'removals' as a list of property names")
        _check_properties(updates, "property updates")
        if set(removals) & set(updates):
            raise BadRequest(f"Properties both removed and updated: {sorted(set(removals) & set(updates))[:10]}")
        catalog.locations.check_properties(updates, "namespace")
        summary = catalog.update_namespace_properties(ns, set(removals), updates)
        response = UpdateNamespacePropertiesResponse(
            removed=summary.removed, updated=summary.updated, missing=summary.missing
        )
        return _json(response)

    # -- tables -----------------------------------------------------------------------------------------------

    @app.get(_NS + "/tables", responses=_NOT_FOUND)
    def list_tables(namespace: str) -> Response:
        ns = _namespace(namespace)
        entries = [ListTableResponseEntry(namespace=ident[:-1], name=ident[-1]) for ident in catalog.list_tables(ns)]
        return _json(ListTablesResponse(identifiers=sorted(entries, key=lambda e: e.name)))

    @app.post(_NS + "/tables", responses={**_NOT_FOUND, **_CONFLICT})
    def create_table(namespace: str, body: dict[str, Any] = Body(...)) -> Response:
        ns = _namespace(namespace)
        check_part("table", body.get("name"))
        for optional in ("location", "partition-spec", "write-order"):
            body.setdefault(optional, None)
        request = CreateTableRequest.model_validate(body)
        _check_properties(request.properties)
        if request.stage_create:
            staged = catalog.stage_from_request(ns, request)
            return _json(TableResponse(metadata=staged.metadata))
        return _table_response(catalog.create_from_request(ns, request))

    @app.post(_NS + "/register", responses={**_NOT_FOUND, **_CONFLICT})
    def register_table(namespace: str, body: dict[str, Any] = Body(...)) -> Response:
        ns = _namespace(namespace)
        check_part("table", body.get("name"))
        body.setdefault("overwrite", False)
        request = RegisterTableRequest.model_validate(body)
        if request.overwrite:
            raise BadRequest("register with overwrite=true is not supported")
        return _table_response(catalog.register((*ns, request.name), request.metadata_location))

    not_modified: Responses = {
        304: {"description": "Not Modified: the metadata is still the one the If-None-Match ETag names"}
    }

    @app.get(_TABLE, responses={**_NOT_FOUND, **not_modified})
    async def load_table(
        namespace: str,
        table: str,
        if_none_match: str | None = Header(None, description="the ETag of an earlier load: 304 while it is current"),
    ) -> Response:
        return await loads.answer_async(_identifier(namespace, table), if_none_match)

    @app.head(_TABLE, status_code=204, responses=_NOT_FOUND)
    def table_exists(namespace: str, table: str) -> Response:
        return _exists(catalog.table_exists(_identifier(namespace, table)))

    @app.post(_TABLE, responses={**_NOT_FOUND, **_CONFLICT})
    def commit_table(namespace: str, table: str, body: dict[str, Any] = Body(...)) -> Response:
        identifier = _identifier(namespace, table)
        _updates_properties(body)
        # Spark sends no identifier (the path names the table); the path wins over the body either way.
        body["identifier"] = {"namespace": list(identifier[:-1]), "name": table}
        request = CommitTableRequest.model_validate(body)
        return _json(catalog.commit(identifier, request.requirements, request.updates))

    @app.delete(_TABLE, status_code=204, responses={**_NOT_FOUND, **_CONFLICT})
    def drop_table(
        namespace: str, table: str, purge_requested: bool = Query(False, alias="purgeRequested")
    ) -> Response:
        catalog.drop(_identifier(namespace, table), purge=purge_requested)
        return Response(status_code=204)

    @app.post(_TABLE + "/metrics", status_code=204)
    def report_metrics(namespace: str, table: str) -> Response:
        # Java clients report scan/commit metrics here; accepting and dropping them is allowed by the spec.
        _identifier(namespace, table)
        return Response(status_code=204)

    @app.post("/v1/tables/rename", status_code=204, responses={**_NOT_FOUND, **_CONFLICT})
    def rename_table(body: dict[str, Any] = Body(...)) -> Response:
        ends = []
        for end in ("source", "destination"):
            value = body.get(end)
            if not isinstance(value, dict):
                raise BadRequest(f"Rename request lacks '{end}' (an object with 'namespace' and 'name')")
            if isinstance(value.get("namespace"), list):
                check_namespace(value["namespace"])
            identifier = TableIdentifier.model_validate(value)
            ends.append(check_identifier(identifier.namespace.root, identifier.name))
        catalog.rename_table(ends[0], ends[1])
        return Response(status_code=204)

    _document_security(app)
    return app


def _document_security(app: FastAPI) -> None:
    """Declare the bearer scheme in the OpenAPI document (every operation but the open ones needs it)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes, description=app.description)
            schema.setdefault("components", {})["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            schema["security"] = [{"bearer": []}]
            for path in OPEN_PATHS:
                for operation in schema.get("paths", {}).get(path, {}).values():
                    operation["security"] = []
                    operation.get("responses", {}).pop("403", None)
                    if path == "/healthz":
                        operation.get("responses", {}).pop("401", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
