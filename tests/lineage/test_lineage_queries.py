"""trace and impact over real Iceberg tables in the catalog service (pyiceberg writes, no Spark).

The embed step below does in Python what ``jobs/embed_table.py`` does in Spark: chunk with ``chunk_text``, hash each
chunk, embed with the deterministic ``hash-16`` model and write the lineage columns, inside ``emitter.run``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from pyiceberg.expressions import In

from lakehouse.config import Settings, load_settings
from lakehouse.embed import chunk_text, get_model
from lakehouse.errors import LineageError
from lakehouse.lineage import (
    LineageEmitter,
    embedding_column_lineage,
    iceberg_input,
    iceberg_output,
    impact,
    load_jsonl,
    trace,
)
from lakehouse.table import VectorTable
from lakehouse.vector import VectorSpec

pytestmark = pytest.mark.integration

CHUNK_SIZE, OVERLAP = 80, 15
DOC_SCHEMA = pa.schema([pa.field("key", pa.string(), nullable=False), pa.field("text", pa.string())])
EMB_SCHEMA = pa.schema(
    [
        pa.field("embedding_id", pa.string(), nullable=False),
        ("source_table", pa.string()),
        ("source_key", pa.string()),
        ("source_snapshot_id", pa.int64()),
        ("chunk_index", pa.int32()),
        ("chunk_start", pa.int32()),
        ("chunk_end", pa.int32()),
        ("chunk_text", pa.string()),
        ("content_sha256", pa.string()),
        ("model", pa.string()),
        ("model_version", pa.string()),
        ("run_id", pa.string()),
        pa.field("embedding", pa.list_(pa.float32()), nullable=False),
    ]
)


def document(i: int) -> str:
    # Several sentences and a paragraph break, so chunks cut at boundaries; non-ASCII to keep offsets honest.
    words = " ".join(f"wörd{i}_{j}" for j in range(12))
    return f"Document {i} — über lineage.\n\n{words}. Second sentence of {i}.\nA last line for document {i}."


@dataclass
class World:
    settings: Settings
    docs: VectorTable
    emb: VectorTable
    embedded_snapshot: int
    run_id: str
    original: dict[str, str]


def embed(docs: VectorTable, out: str, settings: Settings, emitter: LineageEmitter) -> tuple[VectorTable, int, str]:
    model = get_model("hash-16")
    source = docs.identifier
    snapshot = docs.snapshot_id
    assert snapshot is not None
    spec = VectorSpec(
        "embedding",
        dim=model.dim,
        model=model.name,
        model_version=model.version,
        source_column=f"{source}.text",
        normalized=True,
    )
    params = {"source": source, "column": "text", "chunk_size": CHUNK_SIZE, "chunk_overlap": OVERLAP}
    with emitter.run("embed_table", inputs=[iceberg_input(docs, settings)], params=params) as run:
        rows = docs.to_arrow(snapshot_id=snapshot, columns=["key", "text"]).to_pylist()
        cols: dict[str, list[object]] = {name: [] for name in EMB_SCHEMA.names if name != "embedding"}
        for r in rows:
            for c in chunk_text(r["text"], chunk_size=CHUNK_SIZE, overlap=OVERLAP):
                ident = f"{source}|{r['key']}|{c.index}|{model.name}"
                cols["embedding_id"].append(hashlib.sha256(ident.encode()).hexdigest()[:32])
                cols["source_table"].append(source)
                cols["source_key"].append(r["key"])
                cols["source_snapshot_id"].append(snapshot)
                cols["chunk_index"].append(c.index)
                cols["chunk_start"].append(c.start)
                cols["chunk_end"].append(c.end)
                cols["chunk_text"].append(c.text)
                cols["content_sha256"].append(hashlib.sha256(c.text.encode("utf-8")).hexdigest())
                cols["model"].append(model.name)
                cols["model_version"].append(model.version)
                cols["run_id"].append(run.run_id)
        vectors = model.embed([str(t) for t in cols["chunk_text"]]).astype(np.float32)
        batch = pa.table(
            {
                **{name: pa.array(values, EMB_SCHEMA.field(name).type) for name, values in cols.items()},
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), model.dim),
            }
        )
        emb = VectorTable.create(out, EMB_SCHEMA, vectors=[spec], key="embedding_id", settings=settings)
        with emb.iceberg.transaction() as tx:  # as the embed job records it: impact re-chunks edited rows with it
            tx.set_properties({f"lakehouse.embeddings.{source}.chunking": f"{CHUNK_SIZE}/{OVERLAP}"})
        emb.refresh()
        emb.append(batch)
        lineage = embedding_column_lineage(
            settings.warehouse.rstrip("/"),
            source,
            text_column="text",
            key_column="key",
            model=model.name,
            model_version=model.version,
            chunk_size=CHUNK_SIZE,
            chunk_overlap=OVERLAP,
        )
        run.add_output(iceberg_output(emb, settings, extra_facets={"columnLineage": lineage}))
    assert emb.snapshot_id is not None
    return emb, snapshot, run.run_id


@pytest.fixture
def world(catalog_service, tmp_path: Path) -> World:
    settings = load_settings(
        project_dir=tmp_path,
        environ={},
        home=str(tmp_path),
        catalog=catalog_service.catalog_settings,
        warehouse=catalog_service.warehouse,
    )
    ns = f"lin_{uuid.uuid4().hex[:8]}"
    docs = VectorTable.create(f"{ns}.documents", DOC_SCHEMA, vectors=[], key="key", settings=settings)
    original = {f"d{i}": document(i) for i in range(1, 7)}
    docs.append(pa.table({"key": list(original), "text": list(original.values())}, schema=DOC_SCHEMA))
    emitter = LineageEmitter.from_settings(settings, environ={"HOME": str(tmp_path)}, strict=True, cwd=tmp_path)
    emb, snapshot, run_id = embed(docs, f"{ns}.embeddings", settings, emitter)
    return World(settings, docs, emb, snapshot, run_id, original)


def edit(world: World) -> dict[str, str]:
    """Edit d1 (middle), d2 (text appended after the last chunk), d3 (one character); delete d4; add d7."""
    edited = {
        "d1": world.original["d1"].replace("Second sentence", "Changed sentence"),
        "d2": world.original["d2"] + " And a new tail.",
        "d3": world.original["d3"][:-1] + "!",
        "d7": document(7),
    }
    world.docs.iceberg.delete(In("key", ["d1", "d2", "d3", "d4"]))
    world.docs.refresh()
    world.docs.append(pa.table({"key": list(edited), "text": list(edited.values())}, schema=DOC_SCHEMA))
    return edited


def embedding_ids_of(emb: VectorTable, keys: set[str]) -> list[str]:
    rows = emb.to_arrow(columns=["embedding_id", "source_key"]).to_pylist()
    return sorted(r["embedding_id"] for r in rows if r["source_key"] in keys)


def test_trace_returns_the_span_as_of_the_embedded_snapshot_after_edits(world: World) -> None:
    rows = world.emb.to_arrow(columns=["embedding_id", "source_key", "chunk_index", "chunk_text"]).to_pylist()
    sample = [r for r in rows if r["source_key"] == "d1" and r["chunk_index"] >= 1][0]
    before = trace(world.emb, sample["embedding_id"], world.settings)

    edit(world)
    assert world.docs.snapshot_id != world.embedded_snapshot
    after = trace(world.emb, sample["embedding_id"], world.settings)

    for t in (before, after):
        assert t.source_table == world.docs.identifier
        assert t.source_key == "d1"
        assert t.source_snapshot_id == world.embedded_snapshot
        assert t.text == sample["chunk_text"] == world.original["d1"][t.chunk_start : t.chunk_end]
        assert t.verified
        assert (t.model, t.model_version) == ("hash-16", get_model("hash-16").version)
        assert t.run_id == world.run_id
        assert t.run is not None and t.run.state == "COMPLETE"
        assert t.run.started_at is not None and t.run.ended_at is not None and t.run.started_at <= t.run.ended_at
        assert t.run.parameters["chunk_size"] == str(CHUNK_SIZE)
    assert json.loads(json.dumps(after.to_dict()))["text"] == sample["chunk_text"]


def test_trace_of_every_embedding_matches_its_chunk(world: World) -> None:
    rows = world.emb.to_arrow(columns=["embedding_id", "chunk_text"]).to_pylist()
    store = load_jsonl(world.settings.lineage_path)
    for r in rows:
        assert trace(world.emb, r["embedding_id"], world.settings, store=store).text == r["chunk_text"]


def test_trace_unknown_embedding_raises(world: World) -> None:
    with pytest.raises(LineageError, match="no embedding"):
        trace(world.emb, "nope", world.settings)


def test_impact_finds_exactly_the_edited_and_deleted_rows(world: World) -> None:
    fresh = impact(world.docs.identifier, world.emb, world.settings)
    assert fresh.stale == () and fresh.unembedded_keys == ()

    edit(world)
    result = impact(world.docs.identifier, world.emb, world.settings)
    assert result.counts == {"deleted": 1, "content_changed": 3, "model_changed": 0}
    assert result.keys("deleted") == ["d4"]
    assert result.keys("content_changed") == ["d1", "d2", "d3"]
    assert result.embedding_ids("deleted") == embedding_ids_of(world.emb, {"d4"})
    changed = set(result.embedding_ids("content_changed"))
    assert changed and changed < set(embedding_ids_of(world.emb, {"d1", "d2", "d3"})), "only the touched chunks"
    # d3's edit is its last character: only its last chunk changed
    d3 = [r for r in world.emb.to_arrow().to_pylist() if r["source_key"] == "d3"]
    assert [e for e in changed if e in {r["embedding_id"] for r in d3}] == [
        max(d3, key=lambda r: r["chunk_index"])["embedding_id"]
    ]
    assert sum(result.embedding_counts.values()) == len(result.embedding_ids())
    assert result.unembedded_keys == ("d7",)
    assert json.loads(json.dumps(result.to_dict()))["keys"]["deleted"] == ["d4"]


def test_impact_lists_only_the_chunks_whose_text_changed(world: World) -> None:
    long = "\n\n".join(f"Paragraph {p}: " + " ".join(f"term{p}x{j}" for j in range(6)) for p in range(12))
    world.docs.iceberg.delete(In("key", ["d5"]))
    world.docs.refresh()
    world.docs.append(pa.table({"key": ["d5"], "text": [long]}, schema=DOC_SCHEMA))
    world.emb, _, _ = embed(world.docs, f"{world.emb.identifier}_long", world.settings, LineageEmitter([]))
    chunks = [r for r in world.emb.to_arrow().to_pylist() if r["source_key"] == "d5"]
    assert len(chunks) > 6

    at = long.index("term7x3")  # a same-length edit: no span moves, so exactly the chunks covering it change
    edited = long[:at] + "TERM7X3" + long[at + 7 :]
    world.docs.iceberg.delete(In("key", ["d5"]))
    world.docs.refresh()
    world.docs.append(pa.table({"key": ["d5"], "text": [edited]}, schema=DOC_SCHEMA))
    result = impact(world.docs, world.emb, world.settings)
    (row,) = [r for r in result.stale if r.source_key == "d5"]
    covering = sorted(c["embedding_id"] for c in chunks if c["chunk_start"] < at + 7 and c["chunk_end"] > at)
    assert row.reason == "content_changed" and list(row.embedding_ids) == covering
    assert 1 <= len(covering) <= 2 and row.chunks_to_embed == 0


def test_impact_flags_a_model_change_of_the_vector_column(world: World) -> None:
    with world.emb.iceberg.transaction() as tx:
        tx.set_properties({"lakehouse.vector.embedding.model-version": "hashing-v2"})
    world.emb.refresh()
    result = impact(world.docs, world.emb, world.settings)
    assert result.counts["model_changed"] == len(world.original)
    assert result.embedding_ids("model_changed") == embedding_ids_of(world.emb, set(world.original))


def test_embed_run_events_carry_snapshots_statistics_and_column_lineage(world: World) -> None:
    record = load_jsonl(world.settings.lineage_path).run(world.run_id)
    assert record is not None and [e["eventType"] for e in record.events] == ["START", "COMPLETE"]
    complete = record.events[-1]
    (source,) = complete["inputs"]
    (output,) = complete["outputs"]
    assert source["namespace"] == world.settings.warehouse.rstrip("/") == output["namespace"]
    assert source["name"] == world.docs.identifier
    assert source["facets"]["version"]["datasetVersion"] == str(world.embedded_snapshot)
    assert output["facets"]["version"]["datasetVersion"] == str(world.emb.snapshot_id)
    assert [f["name"] for f in output["facets"]["schema"]["fields"]] == EMB_SCHEMA.names
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == world.emb.count()
    assert output["outputFacets"]["outputStatistics"]["size"] > 0
    spec = output["facets"]["lakehouse_vectorSpec"]
    assert spec["vectors"][0] == {
        "column": "embedding",
        "dim": 16,
        "metric": "cosine",
        "model": "hash-16",
        "modelVersion": get_model("hash-16").version,
        "sourceColumn": f"{world.docs.identifier}.text",
        "normalized": True,
    }
    lineage = output["facets"]["columnLineage"]["fields"]
    assert lineage["embedding"]["inputFields"][0]["field"] == "text"
    assert lineage["source_key"]["inputFields"][0]["field"] == "key"
    assert world.emb.identifier in [
        e["outputs"][0]["name"]
        for e in load_jsonl(world.settings.lineage_path).events_for_dataset(world.emb.identifier)
        if e["outputs"]
    ]
