"""``vector_search(...)`` and ``hybrid_search(...)`` read at a snapshot are refused, not answered at the current one.

The resolver replaces the function relation by its expansion; a time-travel clause on it went with the node, so
``vector_search(...) AT (VERSION => S0)`` silently ranked the current table's rows (issue 11).
"""

from __future__ import annotations

import uuid

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.errors import SqlPlanError
from lakehouse.sql import SqlSession
from lakehouse.table import VectorTable
from lakehouse.vector import VectorSpec

pytestmark = pytest.mark.integration
DIM = 4


def test_time_travel_on_a_search_function_is_refused(lake_settings: Settings) -> None:
    schema = pa.schema([("key", pa.string()), ("embedding", pa.list_(pa.float32()))])
    name = f"ttf.t{uuid.uuid4().hex[:8]}"
    vt = VectorTable.create(name, schema, key="key", settings=lake_settings, vectors=[VectorSpec("embedding", dim=DIM)])
    rng = np.random.default_rng(2)
    vt.append(
        {"key": ["a", "b"], "embedding": pa.FixedSizeListArray.from_arrays(pa.array(rng.random(8, np.float32)), DIM)}
    )
    s0 = int(vt.refresh().snapshot_id)  # type: ignore[arg-type]
    vt.append({"key": ["c"], "embedding": pa.FixedSizeListArray.from_arrays(pa.array([1, 1, 1, 1], pa.float32()), DIM)})
    call = f"table => 'lake.{name}', column => 'embedding', query => [1, 1, 1, 1], k => 3"
    with SqlSession(lake_settings) as session:
        assert sorted(session.query(f"SELECT key FROM vector_search({call})").column("key").to_pylist()) == list("abc")
        for sql in (
            f"SELECT key FROM vector_search({call}) AT (VERSION => {s0})",
            f"SELECT key FROM vector_search({call}) FOR VERSION AS OF {s0}",
            f"SELECT key FROM hybrid_search({call.replace('[1, 1, 1, 1]', repr('x'))}) AT (VERSION => {s0})",
        ):
            with pytest.raises(SqlPlanError, match="cannot be read at a snapshot"):
                session.query(sql)
        # the table form honours it
        at = f"SELECT key FROM lake.{name} AT (VERSION => {s0}) ORDER BY cosine_similarity(embedding, [1, 1, 1, 1])"
        at += " DESC LIMIT 3"
        assert sorted(session.query(at).column("key").to_pylist()) == ["a", "b"]
