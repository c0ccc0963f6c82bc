"""Batch nearest-neighbour search answers exactly what one exact search per query answers: the k best rows of each
query (``knn`` against ``lakehouse.vector.top_k``) and every pair within a threshold (``pairs_within`` against
comparing every pair), whatever the partitioning, thread count or block size."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import lakehouse.index.batch as batch
from lakehouse.errors import VectorSpecError
from lakehouse.index import knn, pairs_within
from lakehouse.vector import scores as exact_scores
from lakehouse.vector import top_k


def clustered(n: int, dim: int, clusters: int, seed: int = 0) -> np.ndarray:
    """Clustered rows with planted near copies, exact copies and two zero rows (edge cases for cosine)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    m = centres[rng.integers(0, clusters, n)] + 0.4 * rng.normal(size=(n, dim))
    m[n - 40 : n - 20] = m[:20] + 0.02 * rng.normal(size=(20, dim))  # near copies
    m[n - 20 : n - 5] = m[20:35]  # exact copies
    m[n - 5] = m[0] * 3.0  # same direction, other length: cosine 1, L2 far
    m[n - 2 :] = 0.0
    return m.astype(np.float32)


def brute_pairs(m: np.ndarray, threshold: float, metric: str, tol: float = 1e-5) -> tuple[set, set]:
    """Every pair within ``threshold``, compared in float64: (pairs clearly within, pairs within ``tol`` of the
    threshold). A float32 kernel may put a borderline pair on either side (the test data holds pairs 5e-7 from
    the l2 threshold and 2e-6 from a cosine one), so those may be found or not."""
    m = m.astype(np.float64)
    if metric == "cosine":
        norms = np.linalg.norm(m, axis=1, keepdims=True)
        u = np.divide(m, norms, out=np.zeros_like(m), where=norms > 0)
        margin = (u @ u.T) - threshold
    else:
        margin = threshold - np.sqrt(((m[:, None, :] - m[None, :, :]) ** 2).sum(axis=2))
    upper = np.triu(np.ones(margin.shape, dtype=bool), k=1)

    def pairs(mask: np.ndarray) -> set[tuple[int, int]]:
        i, j = np.nonzero(mask & upper)
        return set(zip(i.tolist(), j.tolist(), strict=True))

    return pairs(margin > tol * max(1.0, threshold)), pairs(np.abs(margin) <= tol * max(1.0, threshold))


def assert_pairs(got: set[tuple[int, int]], m: np.ndarray, threshold: float, metric: str) -> None:
    sure, borderline = brute_pairs(m, threshold, metric)
    assert sure <= got, f"missing pairs: {sorted(sure - got)[:5]}"
    assert got <= sure | borderline, f"pairs outside the threshold: {sorted(got - sure - borderline)[:5]}"


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
@pytest.mark.parametrize("block", [4, 1024])
def test_knn_equals_one_exact_search_per_query(metric: str, block: int) -> None:
    m = clustered(300, 16, 6)
    queries = np.concatenate([m[:10], np.random.default_rng(3).normal(size=(15, 16)).astype(np.float32)])
    idx, scores = knn(queries, m, k=7, metric=metric, block=block)  # type: ignore[arg-type]
    assert idx.shape == scores.shape == (25, 7)
    for q in range(len(queries)):
        _, want_scores = top_k(m, queries[q], 7, metric)  # type: ignore[arg-type]
        np.testing.assert_allclose(scores[q], want_scores, rtol=1e-4, atol=1e-4)
        assert_same_top_k(idx[q], scores[q], exact_scores(m, queries[q], metric))  # type: ignore[arg-type]


def assert_same_top_k(idx: np.ndarray, got: np.ndarray, every: np.ndarray, tol: float = 1e-4) -> None:
    """``idx`` is a valid top-k under ties: distinct rows, each scored as the exact kernel scores it, and every row
    that beats the k-th score by more than ``tol`` is among them. Rows tied with the k-th (the data holds exact copies,
    which may tie across the k-th place) may be any of the tied ones."""
    assert len(set(idx.tolist())) == len(idx), "each row once"
    np.testing.assert_allclose(every[idx], got, rtol=tol, atol=tol)
    must = set(np.nonzero(every > got[-1] + tol * max(1.0, abs(float(got[-1]))))[0].tolist())
    assert must <= set(idx.tolist()), f"rows {sorted(must - set(idx.tolist()))} beat the k-th score but are missing"


def test_pair_check_tolerates_only_borderline_pairs() -> None:
    m = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])  # distances 1, 1, 2 (= threshold), 3, ...
    assert_pairs({(0, 1), (1, 2)}, m, 2.0, "l2")
    assert_pairs({(0, 1), (1, 2), (0, 2)}, m, 2.0, "l2")  # (0, 2) sits on the threshold: either way
    with pytest.raises(AssertionError, match="missing"):
        assert_pairs({(0, 1)}, m, 2.0, "l2")
    with pytest.raises(AssertionError, match="outside"):
        assert_pairs({(0, 1), (1, 2), (0, 3)}, m, 2.0, "l2")


def test_tie_check_accepts_either_copy_at_the_kth_place_and_refuses_a_wrong_row() -> None:
    every = np.array([5.0, 4.0, 3.0, 3.0, 1.0], dtype=np.float32)  # rows 2 and 3 tie at the 3rd place
    assert_same_top_k(np.array([0, 1, 2]), every[[0, 1, 2]], every)
    assert_same_top_k(np.array([0, 1, 3]), every[[0, 1, 3]], every)
    with pytest.raises(AssertionError):
        assert_same_top_k(np.array([0, 2, 3]), every[[0, 2, 3]], every)  # row 1 (4.0) beats them and is missing
    with pytest.raises(AssertionError):
        assert_same_top_k(np.array([0, 1, 4]), np.array([5.0, 4.0, 3.0]), every)  # row 4 is not scored 3.0


def test_knn_with_more_neighbours_asked_than_rows() -> None:
    m = clustered(50, 8, 3)
    idx, scores = knn(m[:3], m[:5], k=10)
    assert idx.shape == (3, 5) and idx[0, 0] == 0 and scores[0, 0] == pytest.approx(1.0)


@pytest.mark.parametrize("metric,threshold", [("cosine", 0.95), ("cosine", 0.8), ("l2", 2.5)])
@pytest.mark.parametrize("partitions,workers", [(1, 1), (8, 1), (37, 2), (None, 4)])
def test_pairs_within_equals_comparing_every_pair(
    metric: str, threshold: float, partitions: int | None, workers: int
) -> None:
    m = clustered(1500, 24, 12, seed=5)
    found = pairs_within(m, threshold, metric=metric, partitions=partitions, workers=workers, block=256)  # type: ignore[arg-type]
    got = list(zip(found.left.tolist(), found.right.tolist(), strict=True))
    assert len(got) == len(set(got)), "each pair once"
    assert all(a < b for a, b in got)
    assert_pairs(set(got), m, threshold, metric)  # type: ignore[arg-type]
    if partitions and partitions > 1 and (metric, threshold) == ("cosine", 0.95):
        assert found.stats.partitions == partitions and found.stats.fraction < 0.5, "partitioning pruned work"


def test_pair_scores_are_the_similarities() -> None:
    m = clustered(400, 16, 4)
    found = pairs_within(m, 0.9, partitions=5)
    u = m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
    np.testing.assert_allclose(found.score, np.einsum("ij,ij->i", u[found.left], u[found.right]), atol=1e-5)
    assert (found.score >= 0.9).all()


def test_data_without_structure_falls_back_to_the_plain_product() -> None:
    m = np.random.default_rng(0).normal(size=(2000, 4)).astype(np.float32)  # 4-d noise: every partition is near
    found = pairs_within(m, 0.5, partitions=16)
    assert found.stats.partitions == 1
    assert_pairs(set(zip(found.left.tolist(), found.right.tolist(), strict=True)), m, 0.5, "cosine")


def test_bad_input_is_refused_with_a_clear_error() -> None:
    m = clustered(100, 4, 2)
    with pytest.raises(VectorSpecError, match="needs a distance"):
        pairs_within(m, 0.9, metric="dot")
    with pytest.raises(VectorSpecError, match="NaN"):
        pairs_within(np.full((3, 4), np.nan), 0.9)
    with pytest.raises(VectorSpecError, match="4-d"):
        knn(np.ones((2, 3)), m, k=1)
    with pytest.raises(VectorSpecError, match=r"\[-1, 1\]"):
        pairs_within(m, 1.5)


def test_docstring_examples() -> None:
    assert doctest.testmod(batch).failed == 0
