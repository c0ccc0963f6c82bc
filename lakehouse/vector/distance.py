"""Exact similarity kernels (numpy) used as ground truth, for small scans and for the exact tail of a search."""

from __future__ import annotations

import numpy as np

from lakehouse.vector.spec import Metric


def scores(matrix: np.ndarray, query: np.ndarray, metric: Metric) -> np.ndarray:
    """Higher-is-better scores of every row of ``matrix`` against ``query``.

    cosine -> cosine similarity, dot -> inner product, l2 -> negative Euclidean distance.
    """
    q = np.asarray(query, dtype=np.float32).reshape(-1)
    if metric == "dot":
        return matrix @ q
    if metric == "cosine":
        norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(q) or 1.0)
        return (matrix @ q) / np.where(norms == 0, 1.0, norms)
    if metric == "l2":
        return -np.sqrt(np.maximum(((matrix - q) ** 2).sum(axis=1), 0.0))
    raise ValueError(f"unknown metric {metric!r}")


def top_k(matrix: np.ndarray, query: np.ndarray, k: int, metric: Metric) -> tuple[np.ndarray, np.ndarray]:
    """Indices and scores of the ``k`` best rows, best first (ties broken by row order)."""
    s = scores(matrix, query, metric)
    k = min(k, len(s))
    if k == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    part = np.argpartition(-s, k - 1)[:k]
    order = np.lexsort((part, -s[part]))
    idx = part[order]
    return idx, s[idx]
