"""A ``NOT IN`` filter answers alike over the indexed rows, the exact tail and exact search (issue 11).

Lance and the SQL engines drop rows whose column is NULL for ``c NOT IN (...)``; the exact tail (rows appended after
the index) and Iceberg's exact read kept them, so a search put NULL rows the filter excludes into its top k, and
similarity SQL, which applies its WHERE again, returned fewer than LIMIT rows. Checked against numpy.
"""

from __future__ import annotations

import uuid

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.index import build, open_index
from lakehouse.sql import SqlSession
from lakehouse.table import VectorTable
from lakehouse.vector import VectorSpec, vector_type

pytestmark = pytest.mark.integration
DIM = 8
WHERE = "tag NOT IN ('a', 'z')"


def _append(vt: VectorTable, keys: np.ndarray, tags: list, vectors: np.ndarray) -> VectorTable:
    vt.append(
        {
            "key": keys,
            "tag": pa.array(tags, pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), type=vector_type(DIM)),
        }
    )
    return vt.refresh()


def test_not_in_drops_null_rows_of_the_tail_and_of_exact_search(lake_settings: Settings) -> None:
    rng = np.random.default_rng(3)
    schema = pa.schema([("key", pa.int64()), ("tag", pa.string()), ("embedding", pa.list_(pa.float32()))])
    name = f"nulls.t{uuid.uuid4().hex[:8]}"
    vt = VectorTable.create(
        name, schema, key="key", settings=lake_settings, vectors=[VectorSpec("embedding", dim=DIM, metric="l2")]
    )
    first = rng.normal(size=(200, DIM)).astype(np.float32)
    tags = [None if i % 4 == 0 else "abc"[i % 3] for i in range(200)]
    vt = _append(vt, np.arange(200), tags, first)
    s0 = int(vt.snapshot_id)  # type: ignore[arg-type]
    build(vt, "embedding", index_type="flat", store=["tag"], settings=lake_settings)
    q = np.zeros(DIM, np.float32)
    near = (0.01 * rng.normal(size=(40, DIM))).astype(np.float32)  # the tail lies nearest the query
    tail_tags = [None if i % 2 else "z" for i in range(40)]
    vt = _append(vt, np.arange(200, 240), tail_tags, near)

    keep = [i for i, t in enumerate(tags + tail_tags) if t is not None and t not in ("a", "z")]
    vectors = np.vstack([first, near])
    truth = [keep[i] for i in np.argsort(np.linalg.norm(vectors[keep] - q, axis=1), kind="stable")[:10]]
    index = open_index(vt, "embedding", settings=lake_settings)
    found = index.search(q, 10, where=WHERE)
    assert found.plan.path == "index+tail" and found.plan.tail_rows == 40
    assert found.keys == truth
    # the index version tagged for the indexed snapshot, and the exact read of the whole table (the exact path)
    keep0 = [i for i in keep if i < 200]
    truth0 = [keep0[i] for i in np.argsort(np.linalg.norm(first[keep0] - q, axis=1), kind="stable")[:10]]
    assert index.search(q, 10, where=WHERE, as_of=s0).keys == truth0
    exact = index.source.read(int(vt.snapshot_id), ["key"], index._filter(WHERE))  # type: ignore[arg-type]
    assert sorted(exact.column("key").to_pylist()) == keep
    with SqlSession(lake_settings) as session:
        rows = session.query(
            f"SELECT key FROM lake.{name} WHERE {WHERE} ORDER BY l2_distance(embedding, ?) LIMIT 10", [q.tolist()]
        )
    assert rows.column("key").to_pylist() == truth
