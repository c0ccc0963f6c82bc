"""Choosing index types and parameters (no catalog, no Lance dataset)."""

from __future__ import annotations

import pytest

from lakehouse.errors import VectorIndexError
from lakehouse.index import choose_params
from lakehouse.index.store import IndexMeta


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (10, "flat"),
        (19_999, "flat"),
        (20_000, "ivf_pq"),
        (300_000, "ivf_pq"),
        (300_001, "ivf_hnsw_sq"),
        (1_000_000, "ivf_hnsw_sq"),
    ],
)
def test_auto_picks_by_row_count(rows: int, expected: str) -> None:
    assert choose_params(rows, 384).index_type == expected


def test_pq_sub_vectors_divide_the_dimension() -> None:
    for dim in (16, 100, 384, 768, 7):
        p = choose_params(100_000, dim, "ivf_pq")
        assert p.num_sub_vectors and dim % p.num_sub_vectors == 0


def test_overrides_and_measured_training_defaults() -> None:
    p = choose_params(100_000, 384, "ivf_flat", num_partitions=8, nprobes=8)
    assert (p.num_partitions, p.nprobes, p.sample_rate, p.max_iters) == (8, 8, 64, 10)


def test_unknown_type_is_refused() -> None:
    with pytest.raises(VectorIndexError, match="unknown index type"):
        choose_params(10, 16, "hnsw")


def test_meta_round_trips() -> None:
    meta = IndexMeta("docs.e", "embedding", "key", ("lang",), 16, "cosine", params={"nprobes": 4})
    assert IndexMeta.from_json(meta.to_json()) == meta


@pytest.mark.parametrize("rows", [300_001, 1_000_000, 5_000_000])
def test_hnsw_partitions_stay_small_so_queries_route_to_their_cluster(rows: int) -> None:
    # ~16k rows a partition: at 1M, 8 partitions of 131k rows (2 probed) routed queries on data with 1,000 tight
    # clusters to the wrong partitions (recall@10 0.676); the probes grow with the partitions
    p = choose_params(rows, 384)
    assert p.index_type == "ivf_hnsw_sq" and p.num_partitions and p.nprobes
    assert 12_000 <= rows / p.num_partitions <= 24_000
    assert p.nprobes >= 2 and p.nprobes >= p.num_partitions / 16
    assert p.refine_factor and p.refine_factor >= 4 and p.ef and p.ef >= 10 * p.refine_factor
