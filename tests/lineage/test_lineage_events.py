"""OpenLineage events from ``LineageEmitter.run``: structure, facets, configuration precedence, store and router.

Tables here live in an in-process pyiceberg SQL catalog (SQLite under tmp_path): no catalog service, no JVM.
Every event is validated with jsonschema against the OpenLineage schemas (rebuilt offline from openlineage-python's
generated model by ``lakehouse.lineage.validate``); the emitters here are strict, so an invalid event fails the job.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openlineage.client.facet_v2 import error_message_run
from openlineage.client.transport.file import FileTransport
from openlineage.client.transport.http import HttpTransport
from openlineage.client.transport.transport import Transport
from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.config import Settings, load_settings
from lakehouse.errors import LineageError
from lakehouse.lineage import (
    LineageEmitter,
    LineageStore,
    ParentRef,
    embedding_column_lineage,
    file_input,
    iceberg_input,
    iceberg_output,
    load_jsonl,
    make_router,
    openlineage_config,
)
from lakehouse.lineage.validate import event_problems, facet_schema_urls, validate_event
from lakehouse.table import VectorTable
from lakehouse.vector import VectorSpec

SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


# -- helpers ------------------------------------------------------------------------------------------------------
def assert_uri(value: str) -> None:
    parsed = urlparse(value)
    assert parsed.scheme and (parsed.netloc or parsed.path), value


def assert_facets(facets: dict[str, Any]) -> None:
    for name, facet in facets.items():
        assert isinstance(facet, dict), name
        assert_uri(facet["_producer"])
        assert_uri(facet["_schemaURL"])
        assert "#/$defs/" in facet["_schemaURL"], name


def assert_run_event(event: dict[str, Any]) -> None:
    """A valid OpenLineage 2-0-2 RunEvent: the JSON schemas, plus what this project always writes."""
    assert event_problems(event) == []
    assert {"eventTime", "producer", "schemaURL", "run", "job"} <= set(event)
    assert event["schemaURL"] == SCHEMA_URL
    assert_uri(event["producer"])
    assert "T" in event["eventTime"] and event["eventTime"].endswith("+00:00")
    assert event["eventType"] in {"START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"}
    uuid.UUID(event["run"]["runId"])
    assert isinstance(event["job"]["namespace"], str) and isinstance(event["job"]["name"], str)
    assert_facets(event["run"].get("facets", {}))
    assert_facets(event["job"].get("facets", {}))
    for key in ("inputs", "outputs"):
        for dataset in event.get(key, []):
            assert dataset["namespace"] and dataset["name"]
            assert_facets(dataset.get("facets", {}))
            assert_facets(dataset.get("inputFacets" if key == "inputs" else "outputFacets", {}))
    json.dumps(event)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Boom(Transport):
    kind = "boom"

    def __init__(self) -> None:
        pass

    def emit(self, event: Any) -> None:
        raise ConnectionError("collector down")


# -- fixtures -----------------------------------------------------------------------------------------------------
@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(project_dir=tmp_path, environ={}, home=str(tmp_path))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"HOME": str(tmp_path)}  # no ~/.openlineage/openlineage.yml of the machine's user


@pytest.fixture
def emitter(settings: Settings, env: dict[str, str], tmp_path: Path) -> LineageEmitter:
    return LineageEmitter.from_settings(settings, environ=env, strict=True, cwd=tmp_path)


@pytest.fixture
def tables(settings: Settings, tmp_path: Path) -> Iterator[tuple[VectorTable, VectorTable]]:
    catalog = SqlCatalog(
        "lake", uri=f"sqlite:///{tmp_path / 'catalog.db'}", warehouse=(tmp_path / "warehouse").as_uri()
    )
    (tmp_path / "warehouse").mkdir()
    docs = VectorTable.create(
        "docs.documents",
        pa.schema([pa.field("key", pa.string(), nullable=False), ("text", pa.string())]),
        vectors=[],
        key="key",
        catalog=catalog,
        settings=settings,
    )
    docs.append({"key": ["a", "b"], "text": ["alpha text", "beta text"]})
    spec = VectorSpec("embedding", dim=4, model="hash-4", model_version="v1", source_column="docs.documents.text")
    emb = VectorTable.create(
        "docs.embeddings",
        pa.schema(
            [
                pa.field("embedding_id", pa.string(), nullable=False),
                ("source_key", pa.string()),
                pa.field("embedding", pa.list_(pa.float32()), nullable=False),
            ]
        ),
        vectors=[spec],
        key="embedding_id",
        catalog=catalog,
        settings=settings,
    )
    yield docs, emb
    catalog.engine.dispose()


def run_embed(emitter: LineageEmitter, settings: Settings, docs: VectorTable, emb: VectorTable) -> str:
    with emitter.run("embed_table", inputs=[iceberg_input(docs, settings)], params={"model": "hash-4"}) as run:
        vectors = np.eye(4, dtype=np.float32)[:2]
        emb.append(
            {
                "embedding_id": ["e1", "e2"],
                "source_key": ["a", "b"],
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), 4),
            }
        )
        lineage = embedding_column_lineage(
            "file:///w", "docs.documents", text_column="text", key_column="key", model="hash-4", model_version="v1"
        )
        run.add_output(iceberg_output(emb, settings, extra_facets={"columnLineage": lineage}))
    return run.run_id


# -- events -------------------------------------------------------------------------------------------------------
def test_start_and_complete_carry_snapshots_schema_statistics_and_facets(
    emitter: LineageEmitter, settings: Settings, tables: tuple[VectorTable, VectorTable]
) -> None:
    docs, emb = tables
    run_id = run_embed(emitter, settings, docs, emb)
    assert uuid.UUID(run_id).version == 7

    start, complete = lines(settings.lineage_path)
    for event in (start, complete):
        assert_run_event(event)
        assert event["run"]["runId"] == run_id
        assert event["job"] == {**event["job"], "namespace": "lakehouse", "name": "embed_table"}
        assert event["job"]["facets"]["jobType"]["processingType"] == "BATCH"
        assert event["run"]["facets"]["executionParameters"]["parameters"] == [{"key": "model", "value": "hash-4"}]
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["outputs"] == [] and start["eventTime"] <= complete["eventTime"]

    (source,) = complete["inputs"]
    assert source["namespace"] == settings.warehouse and source["name"] == "docs.documents"
    assert source["facets"]["version"]["datasetVersion"] == str(docs.snapshot_id)
    assert [f["name"] for f in source["facets"]["schema"]["fields"]] == ["key", "text"]
    assert source["facets"]["catalog"]["framework"] == "iceberg"

    (output,) = complete["outputs"]
    assert output["name"] == "docs.embeddings"
    assert output["facets"]["version"]["datasetVersion"] == str(emb.snapshot_id)
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 2
    assert output["outputFacets"]["outputStatistics"]["size"] > 0
    embedding_field = output["facets"]["schema"]["fields"][2]
    assert embedding_field["name"] == "embedding" and embedding_field["type"].startswith("list")
    spec = output["facets"]["lakehouse_vectorSpec"]
    assert spec["_schemaURL"].endswith("VectorSpecDatasetFacet.json#/$defs/VectorSpecDatasetFacet")
    assert spec["vectors"] == [
        {
            "column": "embedding",
            "dim": 4,
            "metric": "cosine",
            "model": "hash-4",
            "modelVersion": "v1",
            "sourceColumn": "docs.documents.text",
            "normalized": False,
        }
    ]
    fields = output["facets"]["columnLineage"]["fields"]
    assert {c: [i["field"] for i in v["inputFields"]] for c, v in fields.items()} == {
        "embedding": ["text"],
        "chunk_text": ["text"],
        "chunk_index": ["text"],
        "chunk_start": ["text"],
        "chunk_end": ["text"],
        "content_sha256": ["text"],
        "source_key": ["key"],
        "embedding_id": ["key"],
    }
    assert fields["source_key"]["inputFields"][0]["transformations"][0]["subtype"] == "IDENTITY"
    assert fields["content_sha256"]["inputFields"][0]["transformations"][0]["masking"] is True
    assert "hash-4@v1" in fields["embedding"]["inputFields"][0]["transformations"][0]["description"]


def test_vector_spec_facet_schema_ships_with_the_package() -> None:
    import lakehouse.lineage

    path = Path(lakehouse.lineage.__file__).parent / "schemas" / "VectorSpecDatasetFacet.json"
    schema = json.loads(path.read_text())
    assert set(schema["$defs"]["VectorColumn"]["required"]) == {"column", "dim", "metric"}
    assert f"{schema['$id']}#/$defs/VectorSpecDatasetFacet" in facet_schema_urls()


# -- schema validation --------------------------------------------------------------------------------------------
def _break(event: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``event`` with the value at a dotted path (list indexes as numbers) replaced, or removed for ...."""
    broken = json.loads(json.dumps(event))
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = broken
    for part in parents:
        node = node[part]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return broken


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        ("run.runId", "run-1", "run.runId: 'run-1' is not a 'uuid'"),
        ("eventTime", "2026-11-22", "eventTime: '2026-11-22' is not a 'date-time'"),
        ("eventTime", "2026-11-22T10:00:00", "eventTime: '2026-11-22T10:00:00' is not a 'date-time'"),
        ("eventType", "DONE", "eventType: 'DONE' is not one of"),
        ("producer", "lakehouse", "producer: 'lakehouse' is not a 'uri'"),
        ("job.name", ..., "job: 'name' is a required property"),
        ("outputs.0.facets.schema.fields", {}, "outputs[0].facets.schema.fields: {} is not of type 'array'"),
        ("outputs.0.facets.version.datasetVersion", None, "datasetVersion: None is not of type 'string'"),
        ("outputs.0.facets.schema._producer", ..., "outputs[0].facets.schema: '_producer' is a required property"),
        ("outputs.0.outputFacets.outputStatistics.rowCount", 2.5, "rowCount: 2.5 is not of type 'integer'"),
        ("outputs.0.facets.lakehouse_vectorSpec.vectors.0.dim", "4", "vectors[0].dim: '4' is not of type 'integer'"),
        ("outputs.0.facets.lakehouse_vectorSpec.vectors.0.metric", "hamming", "metric: 'hamming' is not one of"),
        ("outputs.0.facets.columnLineage.fields.embedding.inputFields.0.field", ..., "'field' is a required property"),
        ("inputs.0.facets.catalog._schemaURL", "https://example.com/x.json#/$defs/X", "no schema known for"),
    ],
)
def test_schema_validation_names_what_is_wrong_and_where(
    emitter: LineageEmitter,
    settings: Settings,
    tables: tuple[VectorTable, VectorTable],
    path: str,
    value: Any,
    problem: str,
) -> None:
    docs, emb = tables
    run_embed(emitter, settings, docs, emb)
    complete = lines(settings.lineage_path)[-1]
    assert event_problems(complete) == []
    problems = event_problems(_break(complete, path, value))
    assert len(problems) == 1 and problem in problems[0], problems
    with pytest.raises(LineageError, match="does not validate"):
        validate_event(_break(complete, path, value))


def test_lenient_validation_lets_other_producers_facets_and_spec_versions_through(
    emitter: LineageEmitter, settings: Settings
) -> None:
    with emitter.run("ingest_documents"):
        pass
    start = lines(settings.lineage_path)[0]
    foreign = _break(start, "run.facets.spark_version", {"_producer": "https://spark.example", "_schemaURL": "x:y"})
    assert event_problems(foreign, strict=False) == []
    assert "no schema known" in event_problems(foreign)[0]
    older = _break(start, "schemaURL", "https://openlineage.io/spec/1-0-5/OpenLineage.json#/$defs/RunEvent")
    assert event_problems(older, strict=False) == []
    assert "not a spec version known here" in event_problems(older)[0]
    assert event_problems(_break(foreign, "run.runId", "x"), strict=False) == ["run.runId: 'x' is not a 'uuid'"]
    assert event_problems({"eventType": "START"}, strict=False) == [
        f"(event): '{name}' is a required property" for name in ("eventTime", "producer", "schemaURL", "run", "job")
    ]


def test_failure_inside_the_run_emits_fail_and_reraises(emitter: LineageEmitter, settings: Settings) -> None:
    with pytest.raises(ZeroDivisionError), emitter.run("embed_table", inputs=[file_input("/data/in")]) as run:
        1 / 0  # noqa: B018
    start, fail = lines(settings.lineage_path)
    assert (start["eventType"], fail["eventType"]) == ("START", "FAIL")
    assert fail["run"]["runId"] == run.run_id
    assert_run_event(fail)
    error = fail["run"]["facets"]["errorMessage"]
    assert error["message"] == "ZeroDivisionError: division by zero"
    assert error["programmingLanguage"] == "PYTHON"
    assert "1 / 0" in error["stackTrace"]
    assert [(d["namespace"], d["name"]) for d in fail["inputs"]] == [("file", "/data/in")]


def test_parent_run_facet_links_a_job_chain(emitter: LineageEmitter, settings: Settings) -> None:
    with emitter.run("demo") as demo:
        with emitter.run("ingest_documents", parent=demo) as ingest:
            pass
        with emitter.run("embed_table", parent=ingest.ref()) as embed:
            pass
    events = {(e["job"]["name"], e["eventType"]): e for e in lines(settings.lineage_path)}
    assert "parent" not in events["demo", "START"]["run"]["facets"]
    parent = events["ingest_documents", "COMPLETE"]["run"]["facets"]["parent"]
    assert parent["run"]["runId"] == demo.run_id
    assert parent["job"] == {"facets": {}, "namespace": "lakehouse", "name": "demo"}
    grandchild = events["embed_table", "START"]["run"]["facets"]["parent"]
    assert grandchild["run"]["runId"] == ingest.run_id
    assert grandchild["root"]["run"]["runId"] == demo.run_id == embed.chain_root[0]
    assert_run_event(events["embed_table", "START"])


def test_run_accepts_a_given_run_id(emitter: LineageEmitter) -> None:
    given = str(uuid.uuid4())
    with emitter.run("embed_table", run_id=given) as run:
        pass
    assert run.run_id == given and [e["run"]["runId"] for e in run.events] == [given, given]


def test_parent_ref_from_another_process() -> None:
    ref = ParentRef(str(uuid.uuid4()), "demo", "lakehouse")
    assert ref.chain_root == (ref.run_id, "lakehouse", "demo")


# -- configuration ------------------------------------------------------------------------------------------------
def test_jsonl_is_appended_under_the_state_directory(emitter: LineageEmitter, settings: Settings) -> None:
    assert settings.lineage_path == settings.state_dir / "lineage.jsonl"
    assert [type(t) for t in emitter.transports] == [FileTransport]
    for _ in range(2):
        with emitter.run("ingest_documents"):
            pass
    assert [e["eventType"] for e in lines(settings.lineage_path)] == ["START", "COMPLETE"] * 2


def test_openlineage_disabled_emits_nothing(settings: Settings, env: dict[str, str], tmp_path: Path) -> None:
    emitter = LineageEmitter.from_settings(
        settings, environ={**env, "OPENLINEAGE_DISABLED": "TRUE", "OPENLINEAGE_URL": "http://x"}, cwd=tmp_path
    )
    assert not emitter.enabled
    with emitter.run("embed_table") as run:
        pass
    uuid.UUID(run.run_id)  # the job still gets a run id for its run_id column
    assert run.events == [] and not settings.lineage_path.exists()


def test_lineage_transport_none_emits_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    environ = {"LAKEHOUSE__LINEAGE__TRANSPORT": "none"}
    settings = load_settings(project_dir=tmp_path, environ=environ, home=str(tmp_path))
    assert not LineageEmitter.from_settings(settings, environ=env, cwd=tmp_path).enabled


def test_openlineage_variables_take_precedence(settings: Settings, env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "ol.jsonl"
    environ = {
        **env,
        "OPENLINEAGE__TRANSPORT__TYPE": "file",
        "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH": str(target),
        "OPENLINEAGE__TRANSPORT__APPEND": "true",
    }
    emitter = LineageEmitter.from_settings(settings, environ=environ, strict=True, cwd=tmp_path)
    with emitter.run("embed_table"):
        pass
    assert [e["eventType"] for e in lines(target)] == ["START", "COMPLETE"]
    assert not settings.lineage_path.exists()


def test_openlineage_yml_in_the_working_directory(settings: Settings, env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "from-yml.jsonl"
    (tmp_path / "openlineage.yml").write_text(f"transport:\n  type: file\n  log_file_path: {target}\n  append: true\n")
    emitter = LineageEmitter.from_settings(settings, environ=env, strict=True, cwd=tmp_path)
    with emitter.run("embed_table"):
        pass
    assert len(lines(target)) == 2


def test_openlineage_url_means_http(env: dict[str, str], tmp_path: Path) -> None:
    environ = {**env, "OPENLINEAGE_URL": "http://marquez:5000", "OPENLINEAGE_API_KEY": "k"}
    config = openlineage_config(environ, cwd=tmp_path)
    assert config is not None
    assert config["transport"] == {
        "type": "http",
        "url": "http://marquez:5000",
        "endpoint": "api/v1/lineage",
        "auth": {"type": "api_key", "apiKey": "k"},
    }
    assert openlineage_config(env, cwd=tmp_path) is None


def test_embedded_url_posts_beside_the_file(tmp_path: Path, env: dict[str, str]) -> None:
    settings = load_settings(
        project_dir=tmp_path, environ={}, home=str(tmp_path), lineage={"url": "http://127.0.0.1:9"}
    )
    emitter = LineageEmitter.from_settings(settings, environ=env, cwd=tmp_path)
    assert [type(t) for t in emitter.transports] == [FileTransport, HttpTransport]
    assert emitter.transports[1].url == "http://127.0.0.1:9"


def test_emission_failure_never_fails_the_job(caplog: pytest.LogCaptureFixture) -> None:
    emitter = LineageEmitter([Boom()])
    with caplog.at_level(logging.WARNING, logger="lakehouse.lineage.emitter"), emitter.run("embed_table") as run:
        pass
    assert run.events == []
    assert sum("collector down" in r.message for r in caplog.records) == 2


def test_strict_mode_raises_on_emission_failure() -> None:
    with pytest.raises(LineageError, match="collector down"), LineageEmitter([Boom()], strict=True).run("x"):
        pass


def test_strict_mode_refuses_an_invalid_event_before_sending_it(emitter: LineageEmitter, settings: Settings) -> None:
    wrong = error_message_run.ErrorMessageRunFacet(message=5, programmingLanguage="PYTHON")  # type: ignore[arg-type]
    with pytest.raises(LineageError, match=r"run.facets.errorMessage.message: 5 is not of type 'string'"):
        with emitter.run("ingest_documents", run_facets={"errorMessage": wrong}):
            pass
    assert not settings.lineage_path.exists() or lines(settings.lineage_path) == []


def test_strict_mode_keeps_the_jobs_own_error() -> None:
    emitter = LineageEmitter([Boom()], strict=True)
    emitter.transports = []  # START goes nowhere ...
    with pytest.raises(KeyError) as info, emitter.run("x"):
        emitter.transports = [Boom()]  # ... FAIL cannot be sent
        raise KeyError("job error")
    assert any("collector down" in note for note in info.value.__notes__)


# -- store and router ---------------------------------------------------------------------------------------------
@pytest.fixture
def recorded(emitter: LineageEmitter, settings: Settings, tables: tuple[VectorTable, VectorTable]) -> dict[str, str]:
    docs, emb = tables
    with emitter.run("demo") as demo:
        embed_id = run_embed(emitter, settings, docs, emb)
        with pytest.raises(RuntimeError), emitter.run("index_refresh", parent=demo):
            raise RuntimeError("no index")
    return {"demo": demo.run_id, "embed": embed_id}


def test_store_round_trip(recorded: dict[str, str], settings: Settings, tmp_path: Path) -> None:
    store = LineageStore(f"sqlite:///{tmp_path / 'state' / 'lineage.db'}")
    load_jsonl(settings.lineage_path, store)
    assert load_jsonl(settings.lineage_path, store) is store  # loading again adds nothing
    assert [r.job_name for r in store.runs()] == ["demo", "embed_table", "index_refresh"]
    assert [r.state for r in store.runs(job="index_refresh")] == ["FAIL"]

    embed = store.run(recorded["embed"])
    assert embed is not None
    assert (embed.state, embed.parameters) == ("COMPLETE", {"model": "hash-4"})
    assert embed.started_at is not None and embed.ended_at is not None and embed.started_at <= embed.ended_at
    assert [e["eventType"] for e in embed.events] == ["START", "COMPLETE"]
    assert embed.events == [e for e in lines(settings.lineage_path) if e["run"]["runId"] == recorded["embed"]]
    assert store.run(str(uuid.uuid4())) is None

    (index_run,) = store.runs(job="index_refresh")
    assert index_run.parent_run_id == recorded["demo"]
    touching = store.events_for_dataset("docs.embeddings")
    assert [e["eventType"] for e in touching] == ["COMPLETE"]
    assert len(store.events_for_dataset("docs.documents", namespace=settings.warehouse)) == 2
    assert store.events_for_dataset("docs.documents", namespace="s3://elsewhere") == []
    store.close()


def test_store_refuses_what_is_not_an_event(tmp_path: Path) -> None:
    store = LineageStore()
    with pytest.raises(LineageError, match="run.runId"):
        store.add({"eventTime": "2026-01-01T00:00:00Z", "job": {"namespace": "n", "name": "j"}})
    with pytest.raises(LineageError, match="not valid JSON"):
        store.add("{")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"x": 1}\n')
    with pytest.raises(LineageError, match="bad.jsonl:1"):
        load_jsonl(bad)
    assert load_jsonl(tmp_path / "missing.jsonl").runs() == []


def test_router_is_marquez_compatible(recorded: dict[str, str], settings: Settings) -> None:
    store = LineageStore()
    app = FastAPI()
    app.include_router(make_router(store))
    events = lines(settings.lineage_path)
    with TestClient(app) as client:
        for event in events:
            response = client.post("/api/v1/lineage", json=event)
            assert response.status_code == 201, response.text
        assert client.post("/api/v1/lineage", json={"eventTime": "x"}).status_code == 422
        invalid = client.post("/api/v1/lineage", json=_break(events[0], "run.runId", "not-a-uuid"))
        assert invalid.status_code == 422 and "run.runId" in invalid.json()["detail"]
        broken = client.post("/api/v1/lineage", content=b"{", headers={"content-type": "application/json"})
        assert broken.status_code == 422

        run = client.get(f"/api/v1/lineage/runs/{recorded['embed']}")
        assert run.status_code == 200
        body = run.json()
        assert (body["job_name"], body["state"]) == ("embed_table", "COMPLETE")
        assert [e["eventType"] for e in body["events"]] == ["START", "COMPLETE"]
        assert client.get(f"/api/v1/lineage/runs/{uuid.uuid4()}").status_code == 404
        listed = client.get("/api/v1/lineage/runs", params={"job": "demo"}).json()
        assert [r["run_id"] for r in listed] == [recorded["demo"]]
    assert len(store.runs()) == 3
