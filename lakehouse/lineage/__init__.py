"""Lineage: OpenLineage events from every job, their store, and the trace/impact questions reviewers ask.

- :mod:`~lakehouse.lineage.events` / :mod:`~lakehouse.lineage.facets`: RunEvents and facets (dataset version =
  Iceberg snapshot id, schema, column lineage, output statistics, ``lakehouse_vectorSpec``, parent run).
- :mod:`~lakehouse.lineage.emitter`: ``LineageEmitter.run(...)``, a context manager emitting START/COMPLETE/FAIL;
  :mod:`~lakehouse.lineage.transports` decides where events go; :mod:`~lakehouse.lineage.validate` checks them
  against the OpenLineage JSON schemas.
- :mod:`~lakehouse.lineage.store`: ``LineageStore`` (SQLite by default) and ``load_jsonl``; ``make_router`` in
  :mod:`~lakehouse.lineage.router` serves it as a Marquez-compatible ``POST /api/v1/lineage``.
- :mod:`~lakehouse.lineage.queries`: ``trace`` and ``impact``.
- :mod:`~lakehouse.lineage.graph` / :mod:`~lakehouse.lineage.page`: ``LineageGraph`` and ``lineage_page``, the
  self-contained review page (``lakehouse lineage graph``; ``GET /lineage`` on the catalog service).

Example::

    from lakehouse.lineage import LineageEmitter, iceberg_input, iceberg_output
    emitter = LineageEmitter.from_settings(settings)
    with emitter.run("embed_table", inputs=[iceberg_input(source, settings)]) as run:
        ...
        run.add_output(iceberg_output(embeddings, settings))
"""

from lakehouse.lineage.emitter import LineageEmitter, LineageRun, ParentRef
from lakehouse.lineage.events import (
    dataset_name,
    dataset_namespace,
    file_input,
    iceberg_input,
    iceberg_output,
    new_run_id,
    run_event,
    to_dict,
    to_json,
)
from lakehouse.lineage.facets import (
    VECTOR_SPEC_FACET,
    Derivation,
    VectorSpecDatasetFacet,
    column_lineage_facet,
    embedding_column_lineage,
)
from lakehouse.lineage.graph import LineageGraph, lineage_page
from lakehouse.lineage.queries import Impact, RunInfo, StaleRow, Trace, impact, trace
from lakehouse.lineage.store import LineageStore, RunRecord, load_events, load_jsonl
from lakehouse.lineage.transports import openlineage_config

__all__ = [
    "VECTOR_SPEC_FACET",
    "Derivation",
    "Impact",
    "LineageEmitter",
    "LineageGraph",
    "LineageRun",
    "LineageStore",
    "ParentRef",
    "RunInfo",
    "RunRecord",
    "StaleRow",
    "Trace",
    "VectorSpecDatasetFacet",
    "column_lineage_facet",
    "dataset_name",
    "dataset_namespace",
    "embedding_column_lineage",
    "file_input",
    "iceberg_input",
    "iceberg_output",
    "impact",
    "lineage_page",
    "load_events",
    "load_jsonl",
    "make_router",
    "new_run_id",
    "openlineage_config",
    "run_event",
    "to_dict",
    "to_json",
    "trace",
]


def __getattr__(name: str) -> object:
    # the router pulls in FastAPI; only the catalog service needs it
    if name == "make_router":
        from lakehouse.lineage.router import make_router

        return make_router
    raise AttributeError(name)
