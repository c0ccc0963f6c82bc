"""Lineage on real job output: the ingest and embed jobs (hashing model) under one parent run, as ``lakehouse demo``.

trace returns the embedded span as of the recorded snapshot; after 3 documents are edited and 1 deleted with Spark SQL,
impact lists exactly the chunks the edits changed; the catalog service received the jobs' events over
``POST /api/v1/lineage``.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from lakehouse.cli.lineage import lineage_group
from lakehouse.config import LineageSettings, Settings
from lakehouse.embedding import EmbedParams, EmbedResult
from lakehouse.embedding import run as run_embed
from lakehouse.ingest.demo import build_pydoc_corpus
from lakehouse.ingest.job import IngestParams, IngestResult
from lakehouse.ingest.job import run as run_ingest
from lakehouse.lineage import LineageEmitter, file_input, impact, trace
from lakehouse.lineage.store import load_events
from lakehouse.lineage.validate import event_problems
from lakehouse.table import VectorTable

pytestmark = [pytest.mark.spark, pytest.mark.integration]

NS = "lineage_jobs"
DOCS, EMB = f"{NS}.documents", f"{NS}.embeddings"


@dataclass(frozen=True)
class Lake:
    settings: Settings
    service_uri: str
    demo_run_id: str
    ingested: IngestResult
    embedded: EmbedResult
    texts: dict[str, str]  # source text by key, as embedded
    chunks: dict[str, dict[str, Any]]  # embedding row by embedding_id, as embedded
    cli: Callable[..., Result]


def quiet(_message: str) -> None:
    pass


def embed_params() -> EmbedParams:
    return EmbedParams(source=DOCS, output=EMB, model="hash-64", chunk_size=400, chunk_overlap=40)


@pytest.fixture(scope="module")
def lake(
    spark,
    lake_settings: Settings,
    catalog_service,
    tmp_path_factory: pytest.TempPathFactory,  # noqa: ANN001
) -> Lake:
    root = tmp_path_factory.mktemp("lineage-jobs")
    corpus = root / "corpus"
    build_pydoc_corpus(corpus, modules=["json", "csv", "textwrap", "shlex", "bisect", "heapq"])
    # events go to this module's own JSONL file and, like a configured Marquez, to the catalog service
    settings = dataclasses.replace(
        lake_settings, state_dir=root / "state", lineage=LineageSettings(url=catalog_service.uri)
    )
    emitter = LineageEmitter.from_settings(settings, environ={}, strict=True, cwd=root)
    with emitter.run("demo", inputs=[file_input(corpus)]) as demo:
        ingested = run_ingest(spark, IngestParams(corpus, DOCS), settings, log=quiet, parent=demo)
        embedded = run_embed(spark, embed_params(), settings, log=quiet, parent=demo)
    emitter.close()
    docs = VectorTable.load(DOCS, settings=settings).to_arrow(columns=["key", "text"]).to_pylist()
    rows = VectorTable.load(EMB, settings=settings).to_arrow().drop_columns(["embedding"]).to_pylist()

    def cli(*args: str) -> Result:
        result = CliRunner().invoke(lineage_group, list(args), obj={"settings_factory": lambda **_kw: settings})
        assert result.exit_code == 0, result.output + repr(result.exception)
        return result

    return Lake(
        settings,
        catalog_service.uri,
        demo.run_id,
        ingested,
        embedded,
        {r["key"]: r["text"] for r in docs},
        {r["embedding_id"]: r for r in rows},
        cli,
    )


def sample(lake: Lake, n: int = 12) -> list[dict[str, Any]]:
    rows = sorted(lake.chunks.values(), key=lambda r: r["embedding_id"])
    return random.Random(5).sample(rows, min(n, len(rows)))


def test_trace_returns_the_embedded_span_for_sampled_embeddings(lake: Lake) -> None:
    emb = VectorTable.load(EMB, settings=lake.settings)
    store = load_events(lake.settings)
    for row in sample(lake):
        t = trace(emb, row["embedding_id"], lake.settings, store=store)
        source_text = lake.texts[row["source_key"]]
        assert t.text == source_text[t.chunk_start : t.chunk_end] == row["chunk_text"]
        assert t.verified
        assert (t.source_table, t.source_key) == (DOCS, row["source_key"])
        assert t.source_snapshot_id == lake.ingested.snapshot_id
        assert (t.model, t.run_id) == ("hash-64", lake.embedded.run_id)
        assert t.run is not None and (t.run.job_name, t.run.state) == ("embed_table", "COMPLETE")
        assert t.run.started_at is not None and t.run.ended_at is not None and t.run.started_at < t.run.ended_at
        assert t.run.parameters["model"] == "hash-64" and t.run.parameters["chunk_size"] == "400"
    assert store.run(lake.embedded.run_id).parent_run_id == lake.demo_run_id


def test_trace_command_prints_the_span_and_the_run(lake: Lake) -> None:
    row = sample(lake, 1)[0]
    out = json.loads(lake.cli("trace", EMB, row["embedding_id"], "--output", "json").output)[0]
    assert out["text"] == row["chunk_text"] and out["source_key"] == row["source_key"] and out["verified"]
    assert out["run"]["run_id"] == lake.embedded.run_id and out["run"]["parameters"]["model"] == "hash-64"
    table = lake.cli("trace", EMB, row["embedding_id"]).output
    assert row["source_key"] in table and str(lake.ingested.snapshot_id) in table and "embed_table" in table


def test_events_command_lists_the_runs_of_the_chain(lake: Lake) -> None:
    runs = json.loads(lake.cli("events", "--output", "json").output)
    by_job = {r["job"]: r for r in runs}
    assert set(by_job) == {"demo", "ingest_documents", "embed_table"}
    assert all(r["state"] == "COMPLETE" for r in runs)
    assert by_job["embed_table"]["parent_run_id"] == by_job["ingest_documents"]["parent_run_id"] == lake.demo_run_id
    assert by_job["embed_table"]["reads"] == f"{DOCS}@{lake.ingested.snapshot_id}"
    assert by_job["embed_table"]["writes"] == f"{EMB}@{lake.embedded.output_snapshot_id}"
    only = json.loads(lake.cli("events", "--job", "embed_table", "--output", "json").output)
    assert [r["run_id"] for r in only] == [lake.embedded.run_id]


def test_the_catalog_service_received_the_job_events(lake: Lake) -> None:
    from lakehouse.catalog_client.connection import connect_catalog

    auth = connect_catalog(lake.settings).headers()
    answer = httpx.get(f"{lake.service_uri}/api/v1/lineage/runs/{lake.embedded.run_id}", headers=auth, timeout=30)
    assert answer.status_code == 200
    assert [e["eventType"] for e in answer.json()["events"]] == ["START", "COMPLETE"]
    assert answer.json()["parent_run_id"] == lake.demo_run_id


def test_every_event_of_the_jobs_validates_against_the_openlineage_schemas(lake: Lake) -> None:
    events = [json.loads(line) for line in lake.settings.lineage_path.read_text().splitlines() if line.strip()]
    ours = [e for e in events if e["run"]["runId"] in {lake.embedded.run_id, lake.demo_run_id}]
    assert {e["eventType"] for e in ours} == {"START", "COMPLETE"}
    problems = {(e["job"]["name"], e["eventType"]): event_problems(e) for e in events}
    assert problems and all(p == [] for p in problems.values()), problems


@pytest.fixture(scope="module")
def edited(lake: Lake, spark) -> dict[str, list[str]]:  # noqa: ANN001
    """3 documents edited and 1 deleted with Spark SQL; returns the keys per reason."""
    keys = sorted(lake.texts)
    changed, deleted = keys[:3], keys[3]
    table = f"{lake.settings.catalog.name}.{DOCS}"
    quoted = ", ".join(f"'{k}'" for k in changed)
    spark.sql(f"UPDATE {table} SET text = concat(text, '\\n\\nEdited for the review.') WHERE key IN ({quoted})")
    spark.sql(f"DELETE FROM {table} WHERE key = '{deleted}'")
    return {"content_changed": changed, "deleted": [deleted]}


def ids_of(lake: Lake, keys: list[str]) -> list[str]:
    return sorted(i for i, r in lake.chunks.items() if r["source_key"] in keys)


def last_chunk_ids(lake: Lake, keys: list[str]) -> list[str]:
    """Text appended to a row changes only its last chunk: every earlier window ended before the old text did."""
    last: dict[str, dict[str, Any]] = {}
    for r in lake.chunks.values():
        if (
            r["source_key"] in keys
            and r["chunk_index"] >= last.get(r["source_key"], {"chunk_index": -1})["chunk_index"]
        ):
            last[r["source_key"]] = r
    return sorted(r["embedding_id"] for r in last.values())


def test_impact_lists_exactly_the_embeddings_of_edited_and_deleted_documents(
    lake: Lake, edited: dict[str, list[str]]
) -> None:
    result = impact(DOCS, VectorTable.load(EMB, settings=lake.settings), lake.settings)
    assert result.counts == {"deleted": 1, "content_changed": 3, "model_changed": 0}
    assert result.keys("content_changed") == edited["content_changed"]
    assert result.keys("deleted") == edited["deleted"]
    assert result.embedding_ids("content_changed") == last_chunk_ids(lake, edited["content_changed"])
    assert len(ids_of(lake, edited["content_changed"])) > len(edited["content_changed"]), "documents of many chunks"
    assert result.embedding_ids("deleted") == ids_of(lake, edited["deleted"])
    assert result.unembedded_keys == ()

    out = json.loads(lake.cli("impact", DOCS, "--embeddings", EMB, "--output", "json").output)[0]
    assert out["counts"] == result.counts
    assert out["keys"] == {
        "deleted": edited["deleted"],
        "content_changed": edited["content_changed"],
        "model_changed": [],
    }
    assert sorted(i for s in out["stale"] for i in s["embedding_ids"]) == result.embedding_ids()
    assert out["indexes"] == []  # no ANN index yet
    table = lake.cli("impact", DOCS).output  # --embeddings defaults to <namespace>.embeddings
    assert all(k in table for k in edited["content_changed"] + edited["deleted"])
    assert "no ANN index" in table


def test_trace_after_the_edits_still_returns_the_span_as_embedded(lake: Lake, edited: dict[str, list[str]]) -> None:
    emb = VectorTable.load(EMB, settings=lake.settings)
    for embedding_id in ids_of(lake, edited["content_changed"] + edited["deleted"]):
        t = trace(emb, embedding_id, lake.settings)
        assert t.text == lake.chunks[embedding_id]["chunk_text"] and t.verified
        assert t.source_snapshot_id == lake.ingested.snapshot_id


def test_reembedding_clears_impact_and_an_index_over_the_old_snapshot_is_behind(
    lake: Lake,
    edited: dict[str, list[str]],
    spark,  # noqa: ANN001
) -> None:
    from lakehouse.index import build

    build(EMB, "embedding", settings=lake.settings)
    run_embed(spark, embed_params(), lake.settings, log=quiet)
    out = json.loads(lake.cli("impact", DOCS, "--output", "json").output)[0]
    assert out["counts"] == {"deleted": 0, "content_changed": 0, "model_changed": 0}
    (index,) = out["indexes"]
    assert index["column"] == "embedding" and index["behind"] is True
    assert index["table_snapshot"] == VectorTable.load(EMB, settings=lake.settings).snapshot_id
    assert "ANN indexes" in lake.cli("impact", DOCS).output


def test_graph_command_writes_the_page_with_the_embedding_index(lake: Lake, tmp_path: Path) -> None:
    out = tmp_path / "lineage.html"
    lake.cli("graph", "--out", str(out), "--limit", "5")
    page = out.read_text()
    assert DOCS in page and EMB in page and "embed_table" in page
    assert "embedding index capped: 5 of" in page
