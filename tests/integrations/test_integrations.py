"""The LangChain and LlamaIndex retrievers and the Hugging Face export over a real small table and index."""

from __future__ import annotations

import uuid

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.embed import get_model
from lakehouse.index import build
from lakehouse.integrations import PassageSearch
from lakehouse.table import VectorTable
from lakehouse.vector import VectorSpec, vector_type

pytestmark = pytest.mark.integration
MODEL = "hash-64"
DOCS = {
    "doc-vacuum": ("/manual/vacuum.html", "VACUUM reclaims storage occupied by dead tuples. VACUUM FULL rewrites."),
    "doc-index": (
        "/manual/indexes.html",
        "CREATE INDEX builds a B-tree index on a column of a table. Indexes speed up lookups.",
    ),
    "doc-copy": ("/manual/copy.html", "COPY moves data between tables and files. It is fast bulk loading."),
}


@pytest.fixture(scope="module")
def tables(lake_settings):  # noqa: ANN001, ANN201
    ns = f"rag{uuid.uuid4().hex[:8]}"
    docs = VectorTable.create(
        f"{ns}.documents",
        pa.schema([("key", pa.string()), ("path", pa.string()), ("text", pa.string())]),
        vectors=[],
        key="key",
        settings=lake_settings,
    )
    docs.append(
        pa.table({"key": list(DOCS), "path": [p for p, _ in DOCS.values()], "text": [t for _, t in DOCS.values()]})
    )
    # two chunks per document, split at the first full stop: spans point into the source text
    rows = []
    for key, (_, text) in DOCS.items():
        cut = text.index(".") + 1
        for i, (start, end) in enumerate([(0, cut), (cut + 1, len(text))]):
            rows.append((f"{key}#{i}", key, i, start, end, text[start:end]))
    model = get_model(MODEL)
    vectors = np.asarray(model.embed([r[5] for r in rows]), np.float32)
    schema = pa.schema(
        [
            ("embedding_id", pa.string()),
            ("source_table", pa.string()),
            ("source_key", pa.string()),
            ("source_snapshot_id", pa.int64()),
            ("chunk_index", pa.int32()),
            ("chunk_start", pa.int32()),
            ("chunk_end", pa.int32()),
            ("chunk_text", pa.string()),
            ("model", pa.string()),
            ("embedding", pa.list_(pa.float32())),
        ]
    )
    emb = VectorTable.create(
        f"{ns}.embeddings",
        schema,
        key="embedding_id",
        settings=lake_settings,
        vectors=[VectorSpec("embedding", dim=64, metric="cosine", model=MODEL, model_version=model.version)],
    )
    n = len(rows)
    emb.append(
        pa.table(
            {
                "embedding_id": [r[0] for r in rows],
                "source_table": [docs.identifier] * n,
                "source_key": [r[1] for r in rows],
                "source_snapshot_id": pa.array([docs.refresh().snapshot_id] * n, pa.int64()),
                "chunk_index": pa.array([r[2] for r in rows], pa.int32()),
                "chunk_start": pa.array([r[3] for r in rows], pa.int32()),
                "chunk_end": pa.array([r[4] for r in rows], pa.int32()),
                "chunk_text": [r[5] for r in rows],
                "model": [MODEL] * n,
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), type=vector_type(64)),
            }
        )
    )
    emb = emb.refresh()
    build(emb, "embedding", store=["chunk_index"], text="chunk_text", settings=lake_settings)
    return docs.refresh(), emb, vectors


def test_passages_carry_text_lineage_and_snapshot(tables, lake_settings) -> None:  # noqa: ANN001
    docs, emb, _ = tables
    hits = PassageSearch(emb, k=2, settings=lake_settings)("VACUUM reclaims storage occupied by dead tuples.")
    top = hits[0]
    assert top.key == "doc-vacuum#0"
    assert top.text == DOCS["doc-vacuum"][1][top.metadata["chunk_start"] : top.metadata["chunk_end"]]
    assert top.metadata["source_key"] == "doc-vacuum" and top.metadata["path"] == "/manual/vacuum.html"
    assert top.metadata["snapshot_id"] == emb.snapshot_id
    assert top.metadata["source_snapshot_id"] == docs.snapshot_id
    assert top.score == pytest.approx(1.0, abs=1e-5)
    assert len(hits) == 2 and hits[0].score >= hits[1].score


def test_langchain_retriever(tables, lake_settings) -> None:  # noqa: ANN001
    from langchain_core.documents import Document

    from lakehouse.integrations.langchain import LakehouseRetriever

    _, emb, _ = tables
    retriever = LakehouseRetriever.from_table(emb, k=3, hybrid=True, settings=lake_settings)
    docs = retriever.invoke("bulk loading with COPY")
    assert all(isinstance(d, Document) for d in docs) and len(docs) == 3
    assert docs[0].id == "doc-copy#1" and docs[0].page_content == "It is fast bulk loading."
    assert docs[0].metadata["path"] == "/manual/copy.html" and docs[0].metadata["text_rank"] == 1
    assert docs[0].metadata["search"] in ("index", "index+tail")
    filtered = LakehouseRetriever.from_table(emb, k=5, where="chunk_index = 0", settings=lake_settings).invoke("COPY")
    assert {d.metadata["chunk_index"] for d in filtered} == {0} and len(filtered) == 3


def test_llamaindex_retriever(tables, lake_settings) -> None:  # noqa: ANN001
    from llama_index.core.schema import QueryBundle

    from lakehouse.integrations.llamaindex import LakehouseLlamaRetriever

    _, emb, vectors = tables
    retriever = LakehouseLlamaRetriever.from_table(emb, k=2, settings=lake_settings)
    nodes = retriever.retrieve("CREATE INDEX builds a B-tree index on a column of a table.")
    assert nodes[0].node.node_id == "doc-index#0"
    assert (nodes[0].node.start_char_idx, nodes[0].node.end_char_idx) == (0, DOCS["doc-index"][1].index(".") + 1)
    assert nodes[0].score == pytest.approx(1.0, abs=1e-5) and nodes[0].node.metadata["path"] == "/manual/indexes.html"
    # a bundle with its own embedding is searched by it: the vector of doc-copy#1 finds doc-copy#1 whatever the text
    by_vector = retriever.retrieve(QueryBundle("unrelated words", embedding=vectors[5].tolist()))
    assert by_vector[0].node.node_id == "doc-copy#1"


def test_hf_dataset_export(tables) -> None:  # noqa: ANN001
    import datasets

    _, emb, vectors = tables
    from lakehouse.integrations.huggingface import to_hf_dataset

    ds = to_hf_dataset(emb, where="chunk_index = 1")
    assert isinstance(ds, datasets.Dataset) and ds.num_rows == 3
    assert ds.features["embedding"] == datasets.List(datasets.Value("float32"), length=64)
    assert set(ds.column_names) >= {
        "embedding_id",
        "source_key",
        "source_snapshot_id",
        "chunk_start",
        "chunk_end",
        "model",
    }
    row = ds.sort("embedding_id")[0]
    assert row["embedding_id"] == "doc-copy#1"
    np.testing.assert_array_equal(np.asarray(row["embedding"], np.float32), vectors[5])
    assert f'"snapshot_id": {emb.snapshot_id}' in ds.info.description and '"model": "hash-64"' in ds.info.description
    old = to_hf_dataset(emb, snapshot_id=emb.snapshot_id, columns=["embedding_id", "embedding"])
    assert old.column_names == ["embedding_id", "embedding"] and old.num_rows == 6
