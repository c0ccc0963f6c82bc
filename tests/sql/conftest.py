"""A small real docs/embeddings pair (hashing model, 16-d) in the session's catalog, with a flat index."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.embed import get_model
from lakehouse.table import VectorTable
from lakehouse.vector import VectorSpec

WORDS = (
    "commit retry snapshot isolation failed table index vector query spark duckdb iceberg catalog merge "
    "delete schema partition file manifest refresh"
).split()
DOCS, CHUNKS, MODEL = 30, 8, "hash-16"


def _text(rng: np.random.Generator) -> str:
    return " ".join(rng.choice(WORDS, size=6))


@pytest.fixture(scope="session")
def sql_tables(lake_settings: Settings) -> dict[str, VectorTable]:
    """lake.sqlt.documents (key, title, mime) and lake.sqlt.embeddings (chunks of them, 16-d, flat index)."""
    from lakehouse.index import build

    rng = np.random.default_rng(7)
    docs = pa.table(
        {
            "key": [f"d{i:02d}" for i in range(DOCS)],
            "title": [f"Document {i}" for i in range(DOCS)],
            "mime": ["text/html" if i % 3 == 0 else "text/plain" for i in range(DOCS)],
        }
    )
    documents = VectorTable.create(
        "sqlt.documents", docs.schema, vectors=[], key="key", settings=lake_settings, exist_ok=True
    )
    if documents.snapshot_id is None:
        documents.append(docs)
    texts = [_text(rng) for _ in range(DOCS * CHUNKS)]
    vectors = get_model(MODEL).embed(texts)
    rows = pa.table(
        {
            "embedding_id": [f"e{i:04d}" for i in range(len(texts))],
            "source_key": [f"d{i // CHUNKS:02d}" for i in range(len(texts))],
            "chunk_index": pa.array([i % CHUNKS for i in range(len(texts))], pa.int32()),
            "chunk_start": pa.array([(i % CHUNKS) * 100 for i in range(len(texts))], pa.int32()),
            "chunk_text": texts,
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), 16),
        }
    )
    schema = rows.schema.set(5, pa.field("embedding", pa.list_(pa.float32())))
    spec = VectorSpec("embedding", dim=16, metric="cosine", model=MODEL, source_column="sqlt.documents.text")
    embeddings = VectorTable.create(
        "sqlt.embeddings", schema, vectors=[spec], key="embedding_id", settings=lake_settings, exist_ok=True
    )
    if embeddings.snapshot_id is None:
        embeddings.append(rows)
        build(embeddings, "embedding", index_type="flat", store=["source_key", "chunk_index"], settings=lake_settings)
    # a table without an index, and one whose index ranks by l2
    for name, metric in (("plain", "cosine"), ("l2t", "l2")):
        t = VectorTable.create(
            f"sqlt.{name}",
            schema,
            vectors=[spec.with_(metric=metric)],
            key="embedding_id",
            settings=lake_settings,
            exist_ok=True,
        )
        if t.snapshot_id is None:
            t.append(rows)
            if metric == "l2":
                build(t, "embedding", index_type="flat", settings=lake_settings)
    return {"documents": documents.refresh(), "embeddings": embeddings.refresh()}


@pytest.fixture(scope="session")
def duck(lake_settings: Settings, sql_tables: dict[str, VectorTable]):  # noqa: ANN201
    from lakehouse.sql import SqlSession

    with SqlSession(lake_settings) as session:
        yield session
