"""The ingest and embed jobs with ``--format delta``: same columns, spec and lineage; merges and incremental embeds
land in one Delta commit each; a retried job never commits twice."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from jobs.embed_table import parse_args
from lakehouse.config import Settings
from lakehouse.embedding import EmbedParams
from lakehouse.embedding import run as run_embed
from lakehouse.ingest.files import document_key
from lakehouse.ingest.job import IngestParams
from lakehouse.ingest.job import run as run_ingest
from lakehouse.table import VectorTable
from lakehouse.table.delta import DeltaVectorTable
from lakehouse.table.formats import delta_location
from lakehouse.table.spark.delta_write import write_delta_table

pytestmark = [pytest.mark.spark, pytest.mark.integration]

DOCS = "delta_jobs.documents"
OUT = "delta_jobs.embeddings"


def _quiet(_m: str) -> None:
    return None


def _embed_params(**kw: object) -> EmbedParams:
    return EmbedParams(
        **{
            "source": DOCS,
            "output": OUT,
            "model": "hash-16",
            "chunk_size": 400,
            "chunk_overlap": 40,
            "format": "delta",
            **kw,
        }
    )


def _events(settings: Settings, run_id: str | None = None) -> list[dict]:
    events = [json.loads(line) for line in settings.lineage_path.read_text().splitlines() if line.strip()]
    return [e for e in events if run_id is None or e["run"]["runId"] == run_id]


def _rows(settings: Settings) -> dict[str, dict]:
    table = DeltaVectorTable.load(OUT, settings=settings)
    return {r["source_key"]: r for r in table.to_arrow().to_pylist()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("delta-corpus")
    for i in range(6):
        (root / f"doc{i}.txt").write_text(f"document {i} about topic {i % 3}\n")
    (root / "binary.txt").write_bytes(b"\x00\x01binary")
    return root


@pytest.fixture(scope="module")
def ingested(spark, lake_settings: Settings, corpus: Path):  # noqa: ANN001, ANN201
    return run_ingest(spark, IngestParams(corpus, DOCS, format="delta"), lake_settings, log=_quiet)


def test_ingest_writes_a_delta_table_with_the_same_columns(ingested, lake_settings: Settings) -> None:  # noqa: ANN001
    assert (ingested.files, ingested.inserted, len(ingested.skipped)) == (6, 6, 1)
    table = VectorTable.load(DOCS, settings=lake_settings)  # found at its Delta location
    assert isinstance(table, DeltaVectorTable) and table.key_column == "key"
    assert ingested.snapshot_id == table.version and ingested.total_rows == 6
    columns = {"key", "path", "title", "text", "mime", "bytes", "content_sha256", "ingested_at"}
    assert columns <= set(table.schema().names)
    assert DeltaTable(table.location).transaction_version(f"ingest_documents:{DOCS}") == 0
    # the session's lineage file also holds other tests' ingest runs: pick this table's
    (complete,) = [
        e
        for e in _events(lake_settings)
        if e["job"]["name"] == "ingest_documents"
        and e["eventType"] == "COMPLETE"
        and any(o["name"].endswith(DOCS) for o in e["outputs"])
    ]
    assert complete["outputs"][0]["facets"]["version"]["datasetVersion"] == str(table.version)


def test_embed_first_run_writes_delta_with_spec_and_lineage(spark, ingested, lake_settings: Settings) -> None:  # noqa: ANN001
    params = _embed_params()
    result = run_embed(spark, params, lake_settings, log=_quiet)
    assert result.plan is not None and (result.plan.insert, result.chunks) == (6, 6)
    out = DeltaVectorTable.load(OUT, settings=lake_settings)
    spec = out.spec("embedding")
    assert (spec.dim, spec.model) == (16, "hash-16") and out.key_column == "embedding_id"
    assert result.output_snapshot_id == out.version and out.partition_columns == ["source_table"]
    rows = _rows(lake_settings)
    assert {r["source_snapshot_id"] for r in rows.values()} == {ingested.snapshot_id}
    assert {r["run_id"] for r in rows.values()} == {params.run_id}
    assert DeltaTable(out.location).transaction_version(f"embed_table:{OUT}") == ingested.snapshot_id
    (complete,) = [e for e in _events(lake_settings, params.run_id) if e["eventType"] == "COMPLETE"]
    (inp,) = complete["inputs"]
    assert inp["facets"]["version"]["datasetVersion"] == str(ingested.snapshot_id)
    (output,) = complete["outputs"]
    assert output["facets"]["version"]["datasetVersion"] == str(out.version)
    assert "embedding" in output["facets"]["columnLineage"]["fields"]


def test_a_retried_first_write_commits_nothing(spark, ingested, lake_settings: Settings) -> None:  # noqa: ANN001
    location = delta_location(OUT, lake_settings)
    before = DeltaTable(location).version()
    again = write_delta_table(
        spark.createDataFrame([], "embedding_id string"),
        location,
        specs=[],
        key_column="embedding_id",
        app_id=f"embed_table:{OUT}",
        app_version=ingested.snapshot_id,
    )
    assert not again.committed and DeltaTable(location).version() == before


def test_reingest_and_incremental_embed_merge_in_one_commit_each(  # noqa: PLR0915
    spark,
    ingested,
    corpus: Path,
    lake_settings: Settings,  # noqa: ANN001
) -> None:
    (corpus / "doc1.txt").write_text("document 1 was edited\n")
    (corpus / "doc9.txt").write_text("a new document\n")
    (corpus / "doc4.txt").unlink()  # a vanished file: its row goes in the same commit
    docs_before = DeltaVectorTable.load(DOCS, settings=lake_settings).version
    again = run_ingest(spark, IngestParams(corpus, DOCS, format="delta"), lake_settings, log=_quiet)
    assert (again.inserted, again.updated, again.deleted, again.unchanged) == (1, 1, 1, 4)
    docs = DeltaVectorTable.load(DOCS, settings=lake_settings)
    assert docs.version == docs_before + 1 and docs.count() == 6, "one merge commit"
    # a source row deleted outside the job
    docs.delta.delete("path = 'doc5.txt'")
    docs.refresh()
    assert docs.count() == 5

    before = _rows(lake_settings)
    out_version = DeltaVectorTable.load(OUT, settings=lake_settings).version
    params = _embed_params()
    result = run_embed(spark, params, lake_settings, log=_quiet)
    assert result.plan is not None
    assert (result.plan.insert, result.plan.update, result.plan.delete, result.plan.keep) == (1, 1, 2, 3)
    after = _rows(lake_settings)
    k = {i: document_key(f"doc{i}.txt") for i in (0, 1, 2, 3, 4, 5, 9)}
    assert set(after) == {k[i] for i in (0, 1, 2, 3, 9)}
    assert after[k[1]]["run_id"] == params.run_id and after[k[9]]["run_id"] == params.run_id
    assert after[k[0]]["run_id"] == before[k[0]]["run_id"], "unchanged rows are not rewritten"
    assert {after[k[i]]["source_snapshot_id"] for i in (1, 9)} == {docs.version}
    history = DeltaVectorTable.load(OUT, settings=lake_settings).history()
    ops = [h["operation"] for h in history if h.get("version", 0) > out_version]
    assert ops.count("MERGE") == 1, ops

    rerun = run_embed(spark, _embed_params(), lake_settings, log=_quiet)
    assert rerun.plan is not None and rerun.plan.changes == 0
    assert rerun.output_snapshot_id == DeltaVectorTable.load(OUT, settings=lake_settings).version


def test_format_option_parses() -> None:
    assert parse_args(["--source", "a.b", "--format", "delta"]).format == "delta"
    assert pa is not None
