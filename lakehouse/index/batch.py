"""Many nearest-neighbour questions answered at once, exactly, by float32 matrix products in blocks (numpy/BLAS).

Two questions: the ``k`` best rows of a matrix for each of many queries (:func:`knn`), and every pair of rows of one
matrix within a similarity threshold (:func:`pairs_within`, the candidate join of semantic dedup). Answers are exact
(the same as :func:`lakehouse.vector.top_k` per query, or as comparing every pair), not approximate.

Why not one ANN search per row: a Lance query costs milliseconds whatever it finds, while BLAS compares a whole block of
rows with another at once, far faster per pair (figures: BENCHMARKS.md, design measurements, 'batch exact products').
Comparing *every* pair is still n^2 work, so :func:`pairs_within` first splits the rows into partitions (k-means, about
sqrt(n) of them) and compares a row only with the partitions that can hold a row within the threshold. The pruning is
exact, not a probe count: a row ``b`` of partition ``j`` is no farther from centroid ``c_j`` than from ``c_A``, the
centroid of ``a``'s partition, so ``b`` lies beyond the bisecting hyperplane of ``c_A`` and ``c_j``; when ``a`` is
farther than the radius ``r`` from that hyperplane, ``(|a - c_j|^2 - |a - c_A|^2) / (2 |c_A - c_j|) > r``, no row of
``j`` is within ``r`` of ``a``. A cosine threshold ``t`` on unit vectors is the radius ``sqrt(2 - 2t)``. A pair across
partitions ``A < B`` is compared once, from ``a``'s side (the bound guarantees that ``a`` probes ``B``); pairs inside a
partition by one upper-triangle product. Work is ~n^2/P within partitions plus n x (partitions probed) x n/P across
them, instead of n^2/2; when the data has no structure and the probes alone would cost half as much as comparing every
pair, it falls back to the plain blockwise product.

Example::

    from lakehouse.index import knn, pairs_within
    idx, score = knn(queries, matrix, k=10)            # (m, 10) row positions and cosine similarities, best first
    found = pairs_within(matrix, 0.95)                  # every pair with cosine >= 0.95
    found.left, found.right, found.score, found.stats.probes
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np

from lakehouse.errors import LakehouseError, VectorSpecError
from lakehouse.vector.spec import Metric

T = TypeVar("T")
R = TypeVar("R")
_GIVE_UP = 0.5  # probe work, as a fraction of comparing every pair, above which partitioning is not worth it


@dataclass(frozen=True)
class PairStats:
    """How :func:`pairs_within` did its work."""

    rows: int
    partitions: int  # 1: the plain blockwise product over all rows
    probes: float  # mean number of other partitions a row was compared with
    comparisons: int  # vector pairs scored (dot products)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        """Comparisons made, as a fraction of all n (n - 1) / 2 pairs."""
        total = self.rows * (self.rows - 1) // 2
        return self.comparisons / total if total else 0.0


@dataclass(frozen=True)
class NeighbourPairs:
    """Row-position pairs ``left < right`` within the threshold, with their score (cosine similarity, or L2
    distance for ``metric="l2"``), in no particular order."""

    left: np.ndarray
    right: np.ndarray
    score: np.ndarray
    stats: PairStats

    def __len__(self) -> int:
        return int(self.left.shape[0])


def _unit(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero); rows already unit are used as they are, without a copy."""
    m = np.ascontiguousarray(matrix, dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", m, m))  # no n x d temporary, unlike np.linalg.norm
    if m.shape[0] and np.all((np.abs(norms - 1) < 1e-6) | (norms == 0)):
        return m
    out = np.zeros_like(m)
    np.divide(m, norms[:, None], out=out, where=norms[:, None] > 0)
    return out


def _as_matrix(name: str, value: np.ndarray) -> np.ndarray:
    m = np.asarray(value, dtype=np.float32)
    if m.ndim != 2:
        raise VectorSpecError(f"{name} must be a 2-D (rows, dim) array, got shape {m.shape}", hint="stack the vectors")
    if not np.isfinite(m).all():
        raise VectorSpecError(f"{name} holds NaN or infinite values", hint="validate the vectors before searching")
    return m


def knn(
    queries: np.ndarray, vectors: np.ndarray, k: int, *, metric: Metric = "cosine", block: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best rows of ``vectors`` for every query: ``(indices, scores)``, each ``(len(queries), k')`` with
    ``k' = min(k, len(vectors))``, best first, ties by row position. Scores are higher-is-better as in
    :func:`lakehouse.vector.scores` (cosine similarity, inner product, negative L2 distance).

    >>> import numpy as np
    >>> idx, s = knn(np.eye(2), np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), k=2)
    >>> idx.tolist()
    [[0, 2], [1, 2]]
    """
    q, x = _as_matrix("queries", queries), _as_matrix("vectors", vectors)
    if q.shape[1] != x.shape[1]:
        raise VectorSpecError(f"queries are {q.shape[1]}-d but vectors are {x.shape[1]}-d", hint="use one model")
    if metric == "cosine":
        q, x = _unit(q), _unit(x)
    elif metric not in ("dot", "l2"):
        raise VectorSpecError(f"unknown metric {metric!r}", hint="cosine, dot or l2")
    kk = min(int(k), x.shape[0])
    idx = np.empty((q.shape[0], kk), np.int64)
    out = np.empty((q.shape[0], kk), np.float32)
    if kk <= 0:
        return idx, out
    x_sq = (x * x).sum(axis=1)
    cols = max(kk, 16 * block)  # 64 MB of scores per product at the default block
    for s in range(0, q.shape[0], block):
        qb = q[s : s + block]
        best_i = np.empty((qb.shape[0], 0), np.int64)
        best_s = np.empty((qb.shape[0], 0), np.float32)
        for c in range(0, x.shape[0], cols):
            sc = qb @ x[c : c + cols].T
            if metric == "l2":
                sq = (qb * qb).sum(axis=1)[:, None] + x_sq[None, c : c + cols] - 2 * sc
                sc = -np.sqrt(np.maximum(sq, 0.0))
            ids = np.broadcast_to(np.arange(c, c + sc.shape[1]), sc.shape)
            cand_s = np.concatenate([best_s, sc], axis=1)
            cand_i = np.concatenate([best_i, ids], axis=1)
            if cand_s.shape[1] > kk:
                part = np.argpartition(-cand_s, kk - 1, axis=1)[:, :kk]
                cand_s = np.take_along_axis(cand_s, part, axis=1)
                cand_i = np.take_along_axis(cand_i, part, axis=1)
            best_s, best_i = cand_s, cand_i
        if metric == "l2":  # |q|^2 + |x|^2 - 2 q.x loses the small distances to cancellation: rescore the k found
            best_s = -np.linalg.norm(qb[:, None, :] - x[best_i], axis=2).astype(np.float32)
        order = np.lexsort((best_i, -best_s), axis=1)  # score descending, then row position
        idx[s : s + block] = np.take_along_axis(best_i, order, axis=1)
        out[s : s + block] = np.take_along_axis(best_s, order, axis=1)
    return idx, out


def _blas_single(workers: int) -> AbstractContextManager[object]:
    """One BLAS thread while ``workers`` Python threads split the work (numpy releases the GIL in products): on a
    2-core machine shared with other jobs, OpenBLAS's own threads spin while they wait, which made the many small
    products here much slower than single-threaded ones (figures: BENCHMARKS.md, design measurements, 'one BLAS
    thread'). threadpoolctl is a pinned dependency; should it be missing, BLAS keeps its default."""
    if workers <= 1:
        return nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - pinned in pyproject.toml
        return nullcontext()
    return threadpool_limits(1, user_api="blas")


def _map(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    if workers <= 1 or len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def _nearest(x: np.ndarray, centres: np.ndarray, workers: int, block: int = 4096) -> np.ndarray:
    neg2 = -2 * centres
    c_sq = (centres * centres).sum(axis=1)

    def part(s: int) -> np.ndarray:
        d = x[s : s + block] @ neg2.T
        d += c_sq
        return np.argmin(d, axis=1)

    parts = _map(part, range(0, x.shape[0], block), workers)
    return np.concatenate(parts) if parts else np.empty(0, np.int64)


def _kmeans(x: np.ndarray, parts: int, rng: np.random.Generator, workers: int, iters: int = 6) -> np.ndarray:
    """Centroids by Lloyd's algorithm on a sample (balance only affects speed: the pruning is exact anyway)."""
    sample = x[np.sort(rng.choice(x.shape[0], min(x.shape[0], parts * 24), replace=False))]
    centres = sample[rng.choice(sample.shape[0], parts, replace=False)].astype(np.float32)
    for _ in range(iters):
        near = _nearest(sample, centres, workers)
        order = np.argsort(near, kind="stable")
        counts = np.bincount(near, minlength=parts)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        filled = counts > 0
        sums = np.add.reduceat(sample[order], starts[filled], axis=0, dtype=np.float64)
        centres[filled] = (sums / counts[filled, None]).astype(np.float32)
        empty = ~filled
        if empty.any():  # re-seed empty partitions with random rows
            centres[empty] = sample[rng.choice(sample.shape[0], int(empty.sum()), replace=False)]
    return centres


class _Bound:
    """The bisector bound of a set of centroids, ready to apply to blocks of rows."""

    def __init__(self, centres: np.ndarray, radius: float) -> None:
        c64 = centres.astype(np.float64)
        c_sq = (c64 * c64).sum(axis=1)
        gaps = np.sqrt(np.maximum(c_sq[:, None] + c_sq[None, :] - 2 * (c64 @ c64.T), 0.0))
        # radius x 2|c_A - c_j|, rounded up; coinciding centroids have no bisector: always probe (infinite reach)
        self.reach = np.where(gaps < 1e-6, np.inf, 2 * gaps * (1 + 1e-3) * radius + 1e-6).astype(np.float32)
        self.neg2 = (-2 * centres).astype(np.float32)
        self.c_sq = c_sq.astype(np.float32)
        # float32 rounding of |x|^2 + |c|^2 - 2 x.c, bounded generously (the pruning must never drop a true pair)
        self.slack = 5e-7 * centres.shape[1] * (1 + float(c_sq.max(initial=0.0)))

    def probe(self, xb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(own partition of each row, rows, partitions): the higher-numbered partitions that may hold a row
        within the radius of each row. |x|^2 is left out: it cancels in every difference used."""
        d = xb @ self.neg2.T
        d += self.c_sq
        own = np.argmin(d, axis=1)
        own_d = np.take_along_axis(d, own[:, None], axis=1)
        x_sq = (xb * xb).sum(axis=1, keepdims=True)
        d -= own_d + self.slack * (1 + x_sq)
        rows, parts = np.nonzero(d <= self.reach[own])
        keep = parts > own[rows]
        return own, rows[keep].astype(np.int64), parts[keep].astype(np.int64)


def _join(
    a: np.ndarray, b: np.ndarray, metric: Metric, limit: float, *, upper: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions (in ``a``, in ``b``) and scores of the pairs within ``limit``; ``upper``: ``a`` is the start of
    ``b`` (a block of the same rows) and only pairs with the second position greater than the first count."""
    g = a @ b.T
    if metric == "cosine":
        i, j = np.nonzero(g >= limit)
        score = g[i, j]
    else:
        sq = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2 * g
        i, j = np.nonzero(sq <= limit)
        score = np.sqrt(np.maximum(sq[i, j], 0.0))
    if upper:
        keep = j > i
        i, j, score = i[keep], j[keep], score[keep]
    return i, j, score.astype(np.float32)


_Found = tuple[np.ndarray, np.ndarray, np.ndarray, int]  # left, right, score, comparisons


class _Budget:
    """At most ``limit`` pairs across all threads: many near-identical rows make a quadratic number of pairs, and
    an error that says so beats running out of memory."""

    def __init__(self, limit: int | None, threshold: float) -> None:
        self.limit, self.threshold, self.found = limit, threshold, 0
        self._lock = threading.Lock()

    def spend(self, pairs: int) -> None:
        if self.limit is None:
            return
        with self._lock:
            self.found += pairs
            over = self.found > self.limit
        if over:
            raise LakehouseError(
                f"more than {self.limit:,} pairs are within the threshold {self.threshold} (large groups of "
                "near-identical rows make a quadratic number of pairs); stopped before running out of memory",
                hint="raise the threshold, remove exact copies first, or raise max_pairs if the memory is there",
                limit=self.limit,
                threshold=self.threshold,
            )


def _within(
    xm: np.ndarray, members: np.ndarray, metric: Metric, limit: float, block: int, budget: _Budget
) -> list[_Found]:
    """Every pair inside one group of rows (``xm``: their vectors), upper triangle, in row blocks."""
    out = []
    for s in range(0, members.shape[0], block):
        budget.spend(0)
        i, j, score = _join(xm[s : s + block], xm[s:], metric, limit, upper=True)
        budget.spend(i.shape[0])
        out.append((members[i + s], members[j + s], score, min(block, members.shape[0] - s) * (members.shape[0] - s)))
    return out


def _across(
    x: np.ndarray,
    queries: np.ndarray,
    xm: np.ndarray,
    members: np.ndarray,
    metric: Metric,
    limit: float,
    budget: _Budget,
) -> list[_Found]:
    """Every pair of a query row (of a lower partition) and a member row, queries in blocks."""
    out = []
    block = max(256, (1 << 24) // max(1, members.shape[0]))  # ~64 MB of scores per product
    for s in range(0, queries.shape[0], block):
        q = queries[s : s + block]
        budget.spend(0)
        i, j, score = _join(x[q], xm, metric, limit, upper=False)
        budget.spend(i.shape[0])
        out.append((q[i], members[j], score, q.shape[0] * members.shape[0]))
    return out


def _gather(found: Sequence[_Found], stats: PairStats) -> NeighbourPairs:
    def cat(k: int, dtype: type) -> np.ndarray:
        return np.concatenate([f[k] for f in found]).astype(dtype) if found else np.empty(0, dtype)

    a, b = cat(0, np.int64), cat(1, np.int64)
    stats = replace(stats, comparisons=sum(f[3] for f in found))
    return NeighbourPairs(np.minimum(a, b), np.maximum(a, b), cat(2, np.float32), stats)


def auto_partitions(rows: int) -> int:
    """About 2 sqrt(rows) partitions: the probe pass costs rows x partitions and the join ~rows^2 / partitions, and
    the measured optimum on clustered data sat above sqrt(rows); one (the plain blockwise product) below 20k rows,
    where partitioning saves less than it costs."""
    return 1 if rows < 20_000 else int(min(4096, round(2 * np.sqrt(rows))))


def pairs_within(
    vectors: np.ndarray,
    threshold: float,
    *,
    metric: Metric = "cosine",
    partitions: int | None = None,
    workers: int | None = None,
    block: int = 2048,
    seed: int = 0,
    max_pairs: int | None = None,
) -> NeighbourPairs:
    """Every pair of rows with cosine similarity >= ``threshold`` (``metric="cosine"``), or L2 distance <=
    ``threshold`` (``metric="l2"``), exactly; see the module doc for how. ``partitions``: ``None`` picks
    :func:`auto_partitions`, 1 forces the plain blockwise product; ``workers``: threads (default: the cores, up to
    4); ``max_pairs``: raise a :class:`~lakehouse.errors.LakehouseError` once more pairs than this are found, rather
    than run out of memory. Inner product has no radius: use cosine.

    >>> import numpy as np
    >>> found = pairs_within(np.array([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0]]), 0.95)
    >>> list(zip(found.left.tolist(), found.right.tolist()))
    [(0, 1)]
    """
    x = _as_matrix("vectors", vectors)
    if metric == "cosine":
        if not -1.0 <= threshold <= 1.0:
            raise VectorSpecError(f"a cosine threshold must be in [-1, 1], got {threshold}", hint="e.g. 0.95")
        x = _unit(x)
        radius = float(np.sqrt(max(0.0, 2.0 - 2.0 * (threshold - 1e-5))))
        limit = float(threshold)
    elif metric == "l2":
        if threshold < 0:
            raise VectorSpecError(f"an L2 distance threshold must be >= 0, got {threshold}", hint="e.g. 0.3")
        radius, limit = float(threshold) * (1 + 1e-5) + 1e-6, float(threshold) ** 2
    else:
        raise VectorSpecError(
            f"pairs_within needs a distance: metric {metric!r} is not one",
            hint="use metric='cosine' (normalised inner product) or 'l2'",
        )
    n = x.shape[0]
    parts = auto_partitions(n) if partitions is None else max(1, min(int(partitions), n))
    if metric == "cosine" and threshold <= 0:
        parts = 1  # the radius covers the whole sphere: nothing can be pruned
    threads = max(1, workers if workers is not None else min(4, os.cpu_count() or 1))
    with _blas_single(threads):
        budget = _Budget(max_pairs, threshold)
        return _pairs(x, parts, radius, metric, limit, threads, block, np.random.default_rng(seed), budget)


def _pairs(
    x: np.ndarray,
    parts: int,
    radius: float,
    metric: Metric,
    limit: float,
    threads: int,
    block: int,
    rng: np.random.Generator,
    budget: _Budget,
) -> NeighbourPairs:
    n = x.shape[0]
    seconds: dict[str, float] = {}
    if parts > 1:
        t = time.perf_counter()
        bound = _Bound(_kmeans(x, parts, rng, threads), radius)
        seconds["partition"] = time.perf_counter() - t
        t = time.perf_counter()
        # estimate the probes on a sample first: with no structure to exploit, the plain product is cheaper
        _, sample_rows, _ = bound.probe(x[rng.choice(n, min(n, 4096), replace=False)])
        worth_it = sample_rows.shape[0] / min(n, 4096) <= _GIVE_UP * parts / 2
        if worth_it:
            probed = _map(lambda s: bound.probe(x[s : s + 4096]), range(0, n, 4096), threads)
            own = np.concatenate([p[0] for p in probed])
            rows = np.concatenate([p[1] + s for p, s in zip(probed, range(0, n, 4096), strict=True)])
            targets = np.concatenate([p[2] for p in probed])
            del probed
            by_part = np.argsort(targets, kind="stable")
            rows, targets = rows[by_part], targets[by_part]
            q_bounds = np.searchsorted(targets, np.arange(parts + 1))
            order = np.argsort(own, kind="stable")
            m_bounds = np.searchsorted(own[order], np.arange(parts + 1))
            seconds["probe"] = time.perf_counter() - t
            t = time.perf_counter()

            def partition(p: int) -> list[_Found]:
                members = order[m_bounds[p] : m_bounds[p + 1]]
                if members.size == 0:
                    return []
                xm = x[members]
                queries = rows[q_bounds[p] : q_bounds[p + 1]]
                found = _within(xm, members, metric, limit, block, budget)
                return found + (_across(x, queries, xm, members, metric, limit, budget) if queries.size else [])

            found = [f for group in _map(partition, range(parts), threads) for f in group]
            seconds["join"] = time.perf_counter() - t
            return _gather(found, PairStats(n, parts, rows.shape[0] / max(n, 1), 0, seconds))
        seconds["probe"] = time.perf_counter() - t
    t = time.perf_counter()

    def rows_from(s: int) -> _Found:
        budget.spend(0)
        i, j, score = _join(x[s : s + block], x[s:], metric, limit, upper=True)
        budget.spend(i.shape[0])
        return i + s, j + s, score, min(block, n - s) * (n - s)

    found = _map(rows_from, range(0, n, block), threads)
    seconds["join"] = time.perf_counter() - t
    return _gather(found, PairStats(n, 1, 0.0, 0, seconds))
