"""HTTP endpoints over a :class:`LineageStore`, Marquez-compatible where Marquez defines them.

``POST /api/v1/lineage`` takes one OpenLineage event (JSON) and answers 201, as Marquez does, so the
OpenLineage HTTP transport (and the Spark integration) can point at the catalog service unchanged. An event of the
spec version this project knows is validated against the JSON schemas first (other producers' custom facets and
other spec versions are let through: :func:`lakehouse.lineage.validate.event_problems` with ``strict=False``); an
invalid one is refused with 422 and the list of problems, and nothing is stored.
``GET /api/v1/lineage/runs/{run_id}`` answers the run with its events; ``GET /api/v1/lineage/runs`` lists runs.

    app.include_router(make_router(LineageStore.for_settings(settings)))   # in the catalog service
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Response

from lakehouse.errors import LineageError
from lakehouse.lineage.store import LineageStore
from lakehouse.lineage.validate import validate_event

__all__ = ["make_router"]


def make_router(store: LineageStore) -> APIRouter:
    router = APIRouter(prefix="/api/v1/lineage", tags=["lineage"])

    # a plain def: FastAPI runs it in its thread pool, so the database write does not block the event loop
    @router.post("", status_code=201)
    def post_event(event: Annotated[dict[str, Any], Body()]) -> Response:
        try:
            validate_event(event, strict=False)
            store.add(event)
        except LineageError as exc:
            raise HTTPException(status_code=422, detail=exc.message) from exc
        return Response(status_code=201)

    @router.get("/runs")
    def list_runs(job: str | None = None) -> list[dict[str, Any]]:
        return [r.to_dict(with_events=False) for r in store.runs(job)]

    @router.get("/runs/{run_id}")
    def get_run(run_id: str) -> dict[str, Any]:
        record = store.run(run_id)
        if record is None:
            raise HTTPException(status_code=404, detail=f"no lineage events for run {run_id}")
        return record.to_dict()

    return router
