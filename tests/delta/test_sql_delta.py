"""Similarity SQL over a Delta table: ``lake.ns.t`` resolves to its Delta location; DuckDB reads it with
``delta_scan``, Spark with :func:`read_delta_table`; vector columns come back as ``FLOAT[dim]``."""

from __future__ import annotations

import uuid

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.sql import SqlSession
from lakehouse.table import VectorTable
from lakehouse.vector import VectorSpec

pytestmark = [pytest.mark.spark, pytest.mark.integration]
DIM = 8


@pytest.fixture(scope="module")
def delta_table(lake_settings: Settings) -> tuple[str, np.ndarray]:
    name = f"delta_sql.t_{uuid.uuid4().hex[:8]}"
    rng = np.random.default_rng(11)
    vectors = rng.normal(size=(40, DIM)).astype(np.float32)
    schema = pa.schema([("id", pa.string()), ("grp", pa.string()), ("embedding", pa.list_(pa.float32()))])
    table = VectorTable.create(
        name, schema, vectors=[VectorSpec("embedding", dim=DIM)], key="id", settings=lake_settings, format="delta"
    )
    table.append(
        {
            "id": [f"r{i:02d}" for i in range(40)],
            "grp": ["a" if i % 2 else "b" for i in range(40)],
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM),
        }
    )
    return name, vectors


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_top_k_over_a_delta_table(spark, lake_settings: Settings, delta_table, engine: str) -> None:  # noqa: ANN001
    name, vectors = delta_table
    query = np.linspace(-1, 1, DIM).astype(np.float32)
    literal = ", ".join(f"{v:.6f}" for v in query)
    sql = (
        f"SELECT id, cosine_similarity(embedding, [{literal}]) AS score FROM lake.{name} "
        f"WHERE grp = 'a' ORDER BY score DESC, id LIMIT 5"
    )
    session = SqlSession(lake_settings, engine=engine, spark=spark if engine == "spark" else None)
    try:
        result = session.query(sql)
    finally:
        session.close()
    q = np.array([float(f"{v:.6f}") for v in query])
    scores = vectors @ q / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(q))
    want = sorted(((-scores[i], f"r{i:02d}") for i in range(40) if i % 2), key=lambda t: t)[:5]
    assert result.column("id").to_pylist() == [k for _, k in want]
    np.testing.assert_allclose(result.column("score").to_pylist(), [-s for s, _ in want], rtol=1e-5)
