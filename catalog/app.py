"""The Iceberg REST catalog API (the subset Spark, pyiceberg and DuckDB use) over a ``ServiceCatalog``.

Request and response bodies are pyiceberg's own models (``CreateTableRequest``, ``CommitTableRequest``,
``TableResponse``...). Multi-part namespaces travel in the path joined by 0x1F, as the spec says.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import Body, FastAPI, Query, Response
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
from catalog.errors import BadRequest, install_error_handlers
from catalog.identity import health_payload
from catalog.store import ServiceCatalog, open_catalog
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


def _namespace(encoded: str) -> Identifier:
    parts = tuple(encoded.split(SEPARATOR))
    if not all(parts):
        raise BadRequest(f"Invalid namespace: {encoded!r}")
    if any("." in part for part in parts):
        # The SQL catalog stores a namespace as its parts joined by '.', so a dot inside a part is ambiguous.
        raise BadRequest(f"Namespace parts may not contain '.': {parts}")
    return parts


def _json(model: BaseModel, status_code: int = 200) -> Response:
    return Response(model.model_dump_json(by_alias=True, exclude_none=True), status_code, media_type="application/json")


def _table_response(table: Table) -> Response:
    return _json(TableResponse(**{"metadata-location": table.metadata_location, "metadata": table.metadata}))


def _normalise_warehouse(uri: str) -> str:
    uri = uri.rstrip("/")
    return "file://" + uri if uri.startswith("/") else uri


def create_app(database_url: str, warehouse: str, *, catalog_name: str = "lake") -> FastAPI:
    """Build the REST catalog application for ``warehouse``, with its catalog state in ``database_url``.

    Example:
        >>> app = create_app("sqlite:///tmp/catalog.db", "file:///tmp/warehouse")  # doctest: +SKIP
        >>> uvicorn.run(app, host="127.0.0.1", port=8181)  # doctest: +SKIP
    """
    catalog: ServiceCatalog = open_catalog(database_url, warehouse, name=catalog_name)
    app = FastAPI(title="lakehouse Iceberg REST catalog", version=__version__, docs_url=None, redoc_url=None)
    app.state.catalog = catalog
    install_error_handlers(app)
    health = health_payload(database_url, warehouse, catalog_name)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {**health, "pid": os.getpid()}

    # -- lineage: Marquez-compatible POST /api/v1/lineage, and the review page over what was received ------------
    lineage = LineageStore(service_store_url(database_url))
    app.state.lineage = lineage
    app.include_router(make_router(lineage))
    # the embedded default also appends every event to lineage.jsonl beside a SQLite catalog.db: show those too
    jsonl = None
    if database_url.startswith("sqlite:///"):
        jsonl = Path(database_url[len("sqlite:///") :]).parent / "lineage.jsonl"

    @app.get("/lineage", response_class=HTMLResponse)
    def lineage_review(limit: int = Query(5000, ge=0)) -> HTMLResponse:
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
        return HTMLResponse(page)

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

    @app.post("/v1/namespaces")
    def create_namespace(body: dict[str, Any] = Body(...)) -> Response:
        request = NamespaceResponse.model_validate(body)
        namespace = _namespace(SEPARATOR.join(request.namespace))
        catalog.create_namespace(namespace, request.properties)
        return _json(NamespaceResponse(namespace=namespace, properties=request.properties))

    @app.get(_NS)
    def load_namespace(namespace: str) -> Response:
        ns = _namespace(namespace)
        return _json(NamespaceResponse(namespace=ns, properties=catalog.load_namespace_properties(ns)))

    @app.head(_NS, status_code=204)
    def namespace_exists(namespace: str) -> Response:
        return Response(status_code=204 if catalog.namespace_exists(_namespace(namespace)) else 404)

    @app.delete(_NS, status_code=204)
    def drop_namespace(namespace: str) -> Response:
        catalog.drop_namespace(_namespace(namespace))
        return Response(status_code=204)

    @app.post(_NS + "/properties")
    def update_namespace_properties(namespace: str, body: dict[str, Any] = Body(...)) -> Response:
        removals, updates = body.get("removals") or [], body.get("updates") or {}
        if not isinstance(removals, list) or not isinstance(updates, dict):
            raise BadRequest("Expected 'removals' as a list and 'updates' as an object")
        summary = catalog.update_namespace_properties(_namespace(namespace), set(removals), updates)
        response = UpdateNamespacePropertiesResponse(
            removed=summary.removed, updated=summary.updated, missing=summary.missing
        )
        return _json(response)

    # -- tables -----------------------------------------------------------------------------------------------

    @app.get(_NS + "/tables")
    def list_tables(namespace: str) -> Response:
        ns = _namespace(namespace)
        entries = [ListTableResponseEntry(namespace=ident[:-1], name=ident[-1]) for ident in catalog.list_tables(ns)]
        return _json(ListTablesResponse(identifiers=sorted(entries, key=lambda e: e.name)))

    @app.post(_NS + "/tables")
    def create_table(namespace: str, body: dict[str, Any] = Body(...)) -> Response:
        for optional in ("location", "partition-spec", "write-order"):
            body.setdefault(optional, None)
        request = CreateTableRequest.model_validate(body)
        ns = _namespace(namespace)
        if request.stage_create:
            staged = catalog.stage_from_request(ns, request)
            return _json(TableResponse(metadata=staged.metadata))
        return _table_response(catalog.create_from_request(ns, request))

    @app.post(_NS + "/register")
    def register_table(namespace: str, body: dict[str, Any] = Body(...)) -> Response:
        body.setdefault("overwrite", False)
        request = RegisterTableRequest.model_validate(body)
        if request.overwrite:
            raise BadRequest("register with overwrite=true is not supported")
        identifier = (*_namespace(namespace), request.name)
        return _table_response(catalog.register_table(identifier, request.metadata_location))

    @app.get(_TABLE)
    def load_table(namespace: str, table: str) -> Response:
        return _table_response(catalog.load_table((*_namespace(namespace), table)))

    @app.head(_TABLE, status_code=204)
    def table_exists(namespace: str, table: str) -> Response:
        return Response(status_code=204 if catalog.table_exists((*_namespace(namespace), table)) else 404)

    @app.post(_TABLE)
    def commit_table(namespace: str, table: str, body: dict[str, Any] = Body(...)) -> Response:
        identifier = (*_namespace(namespace), table)
        # Spark sends no identifier (the path names the table); the path wins over the body either way.
        body["identifier"] = {"namespace": list(identifier[:-1]), "name": table}
        request = CommitTableRequest.model_validate(body)
        return _json(catalog.commit(identifier, request.requirements, request.updates))

    @app.delete(_TABLE, status_code=204)
    def drop_table(
        namespace: str, table: str, purge_requested: bool = Query(False, alias="purgeRequested")
    ) -> Response:
        catalog.drop((*_namespace(namespace), table), purge=purge_requested)
        return Response(status_code=204)

    @app.post(_TABLE + "/metrics", status_code=204)
    def report_metrics(namespace: str, table: str) -> Response:
        # Java clients report scan/commit metrics here; accepting and dropping them is allowed by the spec.
        return Response(status_code=204)

    @app.post("/v1/tables/rename", status_code=204)
    def rename_table(body: dict[str, Any] = Body(...)) -> Response:
        try:
            source = TableIdentifier.model_validate(body["source"])
            destination = TableIdentifier.model_validate(body["destination"])
        except KeyError as missing:
            raise BadRequest(f"Rename request lacks {missing}") from None
        catalog.rename_table(
            (*_namespace(SEPARATOR.join(source.namespace.root)), source.name),
            (*_namespace(SEPARATOR.join(destination.namespace.root)), destination.name),
        )
        return Response(status_code=204)

    return app
