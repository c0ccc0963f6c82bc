"""The ingest and embed jobs on a small real corpus (pydoc pages), through the session-scoped SparkSession."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lakehouse.config import Settings
from lakehouse.embed.chunking import chunk_text
from lakehouse.embedding import EmbedParams
from lakehouse.embedding import run as run_embed
from lakehouse.ingest.demo import build_pydoc_corpus
from lakehouse.ingest.job import IngestParams
from lakehouse.ingest.job import run as run_ingest
from lakehouse.table import VectorTable

pytestmark = [pytest.mark.spark, pytest.mark.integration]

DOCS = "jobs_test.documents"
EMBEDDINGS = "jobs_test.embeddings"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    build_pydoc_corpus(root, modules=["json", "csv", "textwrap", "shlex", "bisect"], html_every=2)
    (root / "notes").mkdir()
    (root / "notes" / "retry.md").write_text("# Retries\n\nA writer that loses a commit race refreshes and retries.\n")
    (root / "notes" / "binary.txt").write_bytes(b"\x00\x01\x02binary")
    (root / "notes" / "empty.rst").write_text("")
    return root


@pytest.fixture(scope="module")
def ingested(spark, lake_settings: Settings, corpus: Path):  # noqa: ANN001, ANN201
    return run_ingest(spark, IngestParams(corpus, DOCS), lake_settings, log=lambda _m: None)


def test_ingest_writes_documents_and_reports_skipped_files(ingested, lake_settings: Settings, corpus: Path) -> None:  # noqa: ANN001
    good = sorted(p for p in corpus.rglob("*") if p.suffix in {".txt", ".md", ".html", ".rst"} and p.stat().st_size)
    good = [p for p in good if b"\x00" not in p.read_bytes()[:8192]]
    assert ingested.inserted == len(good) == ingested.total_rows
    assert {s.path for s in ingested.skipped} == {"notes/binary.txt", "notes/empty.rst"}
    table = VectorTable.load(DOCS, settings=lake_settings)
    assert table.iceberg.schema().column_names == [
        "key",
        "path",
        "title",
        "text",
        "mime",
        "bytes",
        "content_sha256",
        "ingested_at",
    ]
    rows = {r["path"]: r for r in table.to_arrow().to_pylist()}
    assert {r["mime"] for r in rows.values()} >= {"text/plain", "text/html", "text/markdown"}
    retry = rows["notes/retry.md"]
    assert retry["title"] == "Retries"
    raw = (corpus / "notes" / "retry.md").read_bytes()
    assert retry["content_sha256"] == hashlib.sha256(raw).hexdigest() and retry["bytes"] == len(raw)
    assert "dumps" in rows["json.txt"]["text"]
    assert table.key_column == "key"


def test_reingest_merges_only_what_changed(spark, ingested, lake_settings: Settings, corpus: Path) -> None:  # noqa: ANN001
    before = VectorTable.load(DOCS, settings=lake_settings).snapshot_id
    again = run_ingest(spark, IngestParams(corpus, DOCS), lake_settings, log=lambda _m: None)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, ingested.total_rows)
    assert again.snapshot_id == before, "an unchanged corpus must not create a snapshot"


def test_embed_writes_chunks_with_lineage_spans_and_spec(spark, ingested, lake_settings: Settings) -> None:  # noqa: ANN001
    params = EmbedParams(source=DOCS, output=EMBEDDINGS, model="hash-64", chunk_size=400, chunk_overlap=40)
    result = run_embed(spark, params, lake_settings, log=lambda _m: None)
    docs = {r["key"]: r["text"] for r in VectorTable.load(DOCS, settings=lake_settings).to_arrow().to_pylist()}
    expected = sum(len(chunk_text(t, chunk_size=400, overlap=40)) for t in docs.values())
    out = VectorTable.load(EMBEDDINGS, settings=lake_settings)
    assert result.chunks == expected == out.count()
    spec = out.spec("embedding")
    assert (spec.dim, spec.metric, spec.model, spec.source_column) == (64, "cosine", "hash-64", f"{DOCS}.text")
    assert out.key_column == "embedding_id"
    rows = out.to_arrow().to_pylist()
    assert len({r["embedding_id"] for r in rows}) == len(rows), "embedding ids are unique"
    for r in rows:
        text = docs[r["source_key"]]
        assert text[r["chunk_start"] : r["chunk_end"]] == r["chunk_text"], "the span slices back to the source text"
        assert r["content_sha256"] == hashlib.sha256(r["chunk_text"].encode()).hexdigest()
        assert r["source_table"] == DOCS and r["source_snapshot_id"] == ingested.snapshot_id
        assert r["model"] == "hash-64" and r["run_id"] == params.run_id and r["model_version"]
        assert len(r["embedding"]) == 64
    keys, matrix = out.vectors("embedding")
    assert matrix.shape == (len(rows), 64)


def test_embed_rerun_over_unchanged_data_embeds_nothing(spark, ingested, lake_settings: Settings) -> None:  # noqa: ANN001
    before = VectorTable.load(EMBEDDINGS, settings=lake_settings)
    params = EmbedParams(source=DOCS, output=EMBEDDINGS, model="hash-64", chunk_size=400, chunk_overlap=40)
    result = run_embed(spark, params, lake_settings, log=lambda _m: None)
    assert result.plan is not None and result.plan.to_embed == 0 and result.plan.keep == before.count()
    after = VectorTable.load(EMBEDDINGS, settings=lake_settings)
    assert after.snapshot_id == before.snapshot_id, "no commit when nothing changed"
    assert params.run_id not in {r["run_id"] for r in after.to_arrow(columns=["run_id"]).to_pylist()}


def _events(settings: Settings) -> list[dict]:
    import json

    return [json.loads(line) for line in settings.lineage_path.read_text().splitlines() if line.strip()]


def test_jobs_emit_openlineage_start_and_complete_with_snapshots(spark, ingested, lake_settings: Settings) -> None:  # noqa: ANN001
    # a new chunking changes every span: everything is re-embedded, and the run records its output
    params = EmbedParams(source=DOCS, output=EMBEDDINGS, model="hash-64", chunk_size=300, chunk_overlap=30)
    result = run_embed(spark, params, lake_settings, log=lambda _m: None)
    mine = [e for e in _events(lake_settings) if e["run"]["runId"] == params.run_id]
    assert [e["eventType"] for e in mine] == ["START", "COMPLETE"]
    complete = mine[-1]
    assert complete["job"]["name"] == "embed_table"
    (inp,) = complete["inputs"]
    assert inp["name"].endswith(DOCS) and inp["facets"]["version"]["datasetVersion"] == str(ingested.snapshot_id)
    (out,) = complete["outputs"]
    assert out["facets"]["version"]["datasetVersion"] == str(result.output_snapshot_id)
    assert out["facets"]["lakehouse_vectorSpec"]["vectors"][0]["dim"] == 64
    assert "embedding" in out["facets"]["columnLineage"]["fields"]
    ingest_runs = {e["run"]["runId"] for e in _events(lake_settings) if e["job"]["name"] == "ingest_documents"}
    assert ingest_runs, "the ingest job emitted events too"


def test_a_failing_job_emits_fail_and_writes_nothing(spark, ingested, lake_settings: Settings) -> None:  # noqa: ANN001
    from lakehouse.errors import LakehouseError

    before = VectorTable.load(EMBEDDINGS, settings=lake_settings).snapshot_id
    params = EmbedParams(source=DOCS, output=EMBEDDINGS, column="no_such_column", model="hash-64")
    with pytest.raises(LakehouseError, match="no_such_column"):
        run_embed(spark, params, lake_settings, log=lambda _m: None)
    mine = [e for e in _events(lake_settings) if e["run"]["runId"] == params.run_id]
    assert [e["eventType"] for e in mine] == ["START", "FAIL"]
    assert "no_such_column" in mine[-1]["run"]["facets"]["errorMessage"]["message"]
    assert VectorTable.load(EMBEDDINGS, settings=lake_settings).snapshot_id == before
