"""Synthetic vector data sets the index benchmarks (and the recall tests) draw from.

``noisy``: 256 random centres, each row a centre plus isotropic noise 0.35 per dimension (the data the benchmarks
used first). With 1M rows a cluster holds ~4,000 rows, so even a 1% filter leaves ~40 matching rows in the query's
own cluster and the true neighbours sit in the partitions a search probes anyway.

``tight``: 1,000 random centres, noise 0.1. A cluster holds 200 rows at 200k: a 1% filter leaves two of them, so
eight of the true filtered top 10 come from *other* clusters, spread over the partitions. With many more clusters
than IVF partitions, a partition's centroid is the mean of many unrelated centres, which makes routing a query to
its cluster's partition hard even unfiltered.

Every row also gets ``bucket``, a uniform random integer in [0, 1000) drawn independently of the clusters:
``bucket < 1`` keeps 0.1% of the rows, ``bucket < 10`` 1%, ``bucket < 100`` 10%. Queries are drawn around the same
centres as the rows (questions about something the table holds); ground truth is exact search over the same filter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BUCKETS = 1000
SHAPES = {"noisy": (256, 0.35), "tight": (1000, 0.1)}  # clusters, noise per dimension


@dataclass(frozen=True)
class Clustered:
    vectors: np.ndarray  # (n, dim) float32, L2-normalised
    bucket: np.ndarray  # (n,) int64 in [0, BUCKETS), independent of the clusters
    centers: np.ndarray
    noise: float

    def queries(self, count: int, seed: int = 1) -> np.ndarray:
        return around(np.random.default_rng(seed), self.centers, count, self.noise)


def around(rng: np.random.Generator, centers: np.ndarray, n: int, noise: float) -> np.ndarray:
    m = centers[rng.integers(0, len(centers), n)]
    m += noise * rng.normal(size=m.shape).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    return m


def clustered(n: int, dim: int, shape: str = "tight", *, clusters: int | None = None, seed: int = 0) -> Clustered:
    """``n`` rows of the ``shape`` distribution (``clusters`` replaces its cluster count).

    >>> d = clustered(2000, 8, clusters=40)
    >>> d.vectors.shape, round(float((d.bucket < 100).mean()), 1)
    ((2000, 8), 0.1)
    """
    count, noise = SHAPES[shape]
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters or count, dim)).astype(np.float32)
    m = around(rng, centers, n, noise)
    bucket = np.random.default_rng(seed + 7919).integers(0, BUCKETS, n)  # its own stream: independent of clusters
    return Clustered(m, bucket, centers, noise)


def exact_top(m: np.ndarray, queries: np.ndarray, k: int = 10, rows: np.ndarray | None = None) -> np.ndarray:
    """Row numbers of the ``k`` most cosine-similar rows (``m`` L2-normalised) per query, best first; ``rows``
    restricts the search to those row numbers (a filter's matching rows)."""
    ids = np.arange(len(m)) if rows is None else rows
    sub = m if rows is None else m[rows]
    out = []
    for i in range(0, len(queries), 32):
        s = queries[i : i + 32] @ sub.T
        kk = min(k, s.shape[1])
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        order = np.argsort(-np.take_along_axis(s, part, 1), axis=1)
        out.append(ids[np.take_along_axis(part, order, 1)])
    return np.concatenate(out)
