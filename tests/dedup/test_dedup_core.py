"""The dedup core (no Spark, no catalog): the exact candidate join finds what comparing every pair finds, many
copies of one chunk cost one row of the join, and a quadratic pair count stops with an error instead of the memory."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.dedup import duplicates_in
from lakehouse.dedup.neighbours import exact_pairs
from lakehouse.dedup.pairs import hash_codes, normalized
from lakehouse.errors import LakehouseError
from lakehouse.index import pairs_within


def _data(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(30, 32))
    m = centres[rng.integers(0, 30, n)] + 0.5 * rng.normal(size=(n, 32))
    hashes = [f"h{i}" for i in range(n)]
    for i in range(100):  # near copies
        m[n - 1 - i] = m[i] + 0.02 * rng.normal(size=32)
    for i in range(100, 150):  # exact copies, same hash
        m[n - 101 - i] = m[i]
        hashes[n - 101 - i] = hashes[i]
    return m.astype(np.float32), hashes


def test_clusters_match_those_from_every_pair() -> None:
    m, hashes = _data()
    keys = pa.array([f"k{i:05d}" for i in range(len(hashes))])
    codes = hash_codes(pa.array(hashes))
    unit = normalized(m)
    every = pairs_within(unit, 0.95, partitions=1)

    def brute(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return every.left, every.right

    want, _, want_dropped = duplicates_in(keys, m, threshold=0.95, codes=codes, near=brute)
    got, _, got_dropped = duplicates_in(keys, m, threshold=0.95, codes=codes)
    assert got.to_pylist() == want.to_pylist() and got_dropped.tolist() == want_dropped.tolist()
    assert got.num_rows >= 150


def test_many_copies_of_one_chunk_join_as_one_row() -> None:
    rng = np.random.default_rng(1)
    m = rng.normal(size=(6000, 16)).astype(np.float32)
    m[1000:] = m[0]  # 5,001 identical rows: 12.5 M pairs if joined as they are
    hashes = [f"h{i}" for i in range(1000)] + ["h0"] * 5000
    codes = hash_codes(pa.array(hashes))
    left, right = exact_pairs(normalized(m), 0.99, codes=codes, max_pairs=100_000)
    assert len(left) < 1000, "the copies stand aside: their hash ties them to the first one"
    table, pairs, dropped = duplicates_in(pa.array([f"k{i:05d}" for i in range(6000)]), m, threshold=0.99, codes=codes)
    [big] = [c for c in table.to_pylist() if c["size"] > 2]
    assert big["size"] == 5001 and big["kept_key"] == "k00000" and big["kind"] == "exact"
    assert len(dropped) == 5000 + sum(c["size"] - 1 for c in table.to_pylist() if c["size"] == 2)


def test_a_quadratic_pair_count_is_refused_with_a_clear_error() -> None:
    m = np.ones((3000, 8), np.float32)  # 3,000 identical rows, no content hashes: 4.5 M pairs
    with pytest.raises(LakehouseError, match="more than 100,000 pairs") as err:
        exact_pairs(normalized(m), 0.95, max_pairs=100_000)
    assert "raise the threshold" in str(err.value)
