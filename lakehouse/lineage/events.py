"""OpenLineage RunEvents (spec 2-0-2) and the datasets they carry, built with ``openlineage.client`` classes.

Dataset naming. OpenLineage names a dataset by the datasource (``namespace``) and a unique name inside it. For an
Iceberg table we use::

    namespace = the warehouse URI        e.g. file:///home/me/.lakehouse/warehouse, s3://bucket/warehouse
    name      = <iceberg namespace>.<table>   e.g. docs.embeddings

The warehouse, not the catalog URI, because the embedded catalog service picks a free port on every start (the
catalog URI would change between runs and split one table into many datasets), while the warehouse names where the
data lives, as OpenLineage's Spark integration does for Iceberg. The catalog (name, URI, warehouse) travels in the
standard ``catalog`` dataset facet. Files read by the ingest job are ``namespace = "file"``, ``name`` = their
absolute path, as the naming spec says for local files.

    >>> from lakehouse.lineage.events import run_event, to_dict
    >>> e = run_event("START", run_id="01890a5d-ac96-774b-bcce-b302099a8057", job_name="embed_table",
    ...               job_namespace="lakehouse", event_time="2026-01-01T00:00:00+00:00")
    >>> to_dict(e)["eventType"], to_dict(e)["job"]["name"]
    ('START', 'embed_table')
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import DatasetFacet, JobFacet, RunFacet
from openlineage.client.serde import Serde

import lakehouse.lineage.facets as f

if TYPE_CHECKING:
    from lakehouse.config import Settings
    from lakehouse.table import VectorTable

__all__ = [
    "EventType",
    "dataset_name",
    "dataset_namespace",
    "file_input",
    "iceberg_input",
    "iceberg_output",
    "new_run_id",
    "now_iso",
    "run_event",
    "to_dict",
    "to_json",
]

EventType = Literal["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]


def new_run_id() -> str:
    """A new run id: a UUIDv7 from the OpenLineage client (time-ordered), as the spec recommends."""
    from openlineage.client.uuid import generate_new_uuid

    return str(generate_new_uuid())


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


# -- datasets -----------------------------------------------------------------------------------------------------
def dataset_namespace(settings: Settings) -> str:
    """The OpenLineage dataset namespace of every table in the warehouse (its URI, without a trailing slash)."""
    return settings.warehouse.rstrip("/")


def dataset_name(identifier: str, settings: Settings) -> str:
    """``lake.docs.embeddings`` / ``docs.embeddings`` / ``embeddings`` -> ``docs.embeddings``."""
    from lakehouse.catalog_client.names import split_identifier

    ns, name = split_identifier(identifier, settings)
    return f"{ns}.{name}"


def _table_facets(table: VectorTable, settings: Settings, snapshot_id: int | None) -> dict[str, DatasetFacet]:
    from lakehouse.table.iceberg import as_iceberg

    ice = as_iceberg(table, "an Iceberg lineage dataset").iceberg
    schema = ice.schema()
    if snapshot_id is not None:
        snap = ice.snapshot_by_id(snapshot_id)
        if snap is not None and snap.schema_id is not None:
            schema = ice.schemas().get(snap.schema_id, schema)
    out: dict[str, DatasetFacet] = {
        "schema": f.schema_facet(schema),
        "catalog": f.catalog_facet(settings.catalog.name, uri=settings.catalog.uri, warehouse=settings.warehouse),
    }
    version = f.version_facet(snapshot_id)
    if version is not None:
        out["version"] = version
    specs = table.specs
    if specs:
        out[f.VECTOR_SPEC_FACET] = f.vector_spec_facet(specs.values())
    return out


def iceberg_input(table: VectorTable, settings: Settings, *, snapshot_id: int | None = None) -> InputDataset:
    """An input dataset for ``table`` as read at ``snapshot_id`` (default: its current snapshot)."""
    snapshot_id = table.snapshot_id if snapshot_id is None else snapshot_id
    return InputDataset(
        namespace=dataset_namespace(settings),
        name=dataset_name(table.identifier, settings),
        facets=_table_facets(table, settings, snapshot_id),
    )


def iceberg_output(
    table: VectorTable,
    settings: Settings,
    *,
    snapshot_id: int | None = None,
    rows: int | None = None,
    size: int | None = None,
    extra_facets: Mapping[str, DatasetFacet] | None = None,
    refresh: bool = True,
) -> OutputDataset:
    """An output dataset for ``table`` at the snapshot the job committed (default: its current snapshot).

    ``rows``/``size`` default to the snapshot summary's ``added-records``/``added-files-size`` (what this commit
    wrote). Pass the column lineage in ``extra_facets={"columnLineage": ...}``. ``refresh=False`` skips reloading the
    table's metadata (a catalog round trip, the largest part of the cost of lineage for a small job) when the caller
    loaded it after the commit.
    """
    if refresh:
        table.refresh()
    snapshot_id = table.snapshot_id if snapshot_id is None else snapshot_id
    files = None
    if snapshot_id is not None:
        from lakehouse.table.iceberg import as_iceberg

        snap = as_iceberg(table, "an Iceberg lineage dataset").iceberg.snapshot_by_id(snapshot_id)
        summary = snap.summary.additional_properties if snap is not None and snap.summary else {}
        rows = rows if rows is not None else _int(summary.get("added-records"))
        size = size if size is not None else _int(summary.get("added-files-size"))
        files = _int(summary.get("added-data-files"))
    return OutputDataset(
        namespace=dataset_namespace(settings),
        name=dataset_name(table.identifier, settings),
        facets={**_table_facets(table, settings, snapshot_id), **(extra_facets or {})},
        outputFacets={"outputStatistics": f.output_statistics_facet(rows, size, files)},
    )


def file_input(path: str | Path) -> InputDataset:
    """An input dataset for a local file or folder (``namespace="file"``, ``name`` = absolute path)."""
    return InputDataset(namespace="file", name=str(Path(path).expanduser().resolve()), facets={})


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


# -- events -------------------------------------------------------------------------------------------------------
def run_event(
    event_type: EventType,
    *,
    run_id: str,
    job_name: str,
    job_namespace: str,
    inputs: Sequence[InputDataset] = (),
    outputs: Sequence[OutputDataset] = (),
    run_facets: Mapping[str, RunFacet] | None = None,
    job_facets: Mapping[str, JobFacet] | None = None,
    event_time: str | None = None,
) -> RunEvent:
    return RunEvent(
        eventType=RunState(event_type),
        eventTime=event_time or now_iso(),
        run=Run(runId=run_id, facets=dict(run_facets or {})),
        job=Job(namespace=job_namespace, name=job_name, facets=dict(job_facets or {})),
        inputs=list(inputs),
        outputs=list(outputs),
        producer=f.PRODUCER,
    )


def to_dict(event: RunEvent) -> dict[str, Any]:
    """The event as the JSON object OpenLineage consumers expect (nulls dropped, enums as strings)."""
    return Serde.to_dict(event)


def to_json(event: RunEvent) -> str:
    return json.dumps(to_dict(event), sort_keys=True)
