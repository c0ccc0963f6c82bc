"""The filter's selectivity counts only the rows still live: rows of files deleted since the index was built are
excluded from the search, so they must not count as matching either (issue 11).

Here the filter matches 1,000 rows of a deleted file and 10 live ones. Counted with the deleted rows, 1,010 rows
(34%) looked too many for the exact path and the ANN probed 3 of 16 partitions, missing the live rows' true top 1.
"""

from __future__ import annotations

import uuid

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.index import build, open_index
from lakehouse.table import VectorTable
from lakehouse.vector import VectorSpec

pytestmark = pytest.mark.integration
DIM = 384  # the exact path takes up to 1,000 matching rows at 384-d


def test_selectivity_ignores_rows_of_deleted_files(lake_settings: Settings) -> None:
    rng = np.random.default_rng(4)
    schema = pa.schema([("key", pa.int64()), ("bucket", pa.int64()), ("embedding", pa.list_(pa.float32()))])
    name = f"sel.t{uuid.uuid4().hex[:8]}"
    vt = VectorTable.create(name, schema, key="key", settings=lake_settings, vectors=[VectorSpec("embedding", dim=DIM)])
    vectors = rng.normal(size=(3000, DIM)).astype(np.float32)
    bucket = np.full(3000, 99)
    bucket[1000:2000] = 0  # the file deleted below
    bucket[rng.choice(np.r_[0:1000, 2000:3000], 10, replace=False)] = 0
    for i in range(3):
        part = slice(i * 1000, (i + 1) * 1000)
        vt.append(
            {
                "key": np.arange(3000)[part],
                "bucket": bucket[part],
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors[part].ravel()), DIM),
            }
        )
    vt = vt.refresh()
    build(vt, "embedding", index_type="ivf_pq", store=["bucket"], settings=lake_settings, num_partitions=16, nprobes=1)
    vt.iceberg.delete("key >= 1000 and key < 2000")
    vt = vt.refresh()
    live = np.flatnonzero((bucket == 0) & ((np.arange(3000) < 1000) | (np.arange(3000) >= 2000)))
    unit = vectors[live] / np.linalg.norm(vectors[live], axis=1, keepdims=True)
    index = open_index(vt, "embedding", settings=lake_settings)
    for q in rng.normal(size=(5, DIM)).astype(np.float32):
        found = index.search(q, 1, where="bucket = 0")
        assert found.plan.filter_rows == 10 and "exact search over them" in found.plan.reason
        assert found.keys == [int(live[np.argmax(unit @ q)])]
