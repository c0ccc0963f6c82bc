"""Candidate duplicate pairs: rows sharing a content hash (exact) and rows whose vectors are close (near).

A pair is two row positions ``left < right`` of one read of the table, with their exact cosine similarity: whatever
found the pair (hash, ANN index, exact scan), the similarity is recomputed from the full vectors, so quantised index
distances never decide what is a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class Pairs:
    """Row-position pairs (``left < right``), their cosine similarity, and whether their content hashes match."""

    left: np.ndarray
    right: np.ndarray
    similarity: np.ndarray
    exact: np.ndarray

    @classmethod
    def empty(cls) -> Pairs:
        return cls(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32), np.empty(0, bool))

    def __len__(self) -> int:
        return int(self.left.shape[0])

    def as_set(self) -> set[tuple[int, int]]:
        return set(zip(self.left.tolist(), self.right.tolist(), strict=True))


def normalized(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32: cosine similarity becomes a dot product."""
    m = np.asarray(matrix, dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", m, m))[:, None]  # no n x d temporary, unlike np.linalg.norm
    out = np.zeros_like(m)
    np.divide(m, norms, out=out, where=norms > 0)
    return out


def cosine(unit: np.ndarray, left: np.ndarray, right: np.ndarray, chunk: int = 65_536) -> np.ndarray:
    """Cosine similarity of each pair of rows of a row-normalised matrix."""
    out = np.empty(left.shape[0], np.float32)
    for s in range(0, left.shape[0], chunk):
        a, b = unit[left[s : s + chunk]], unit[right[s : s + chunk]]
        out[s : s + chunk] = np.einsum("ij,ij->i", a, b)
    return out


def ordered(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs as ``(min, max)`` with self-pairs and repeats removed."""
    lo, hi = np.minimum(left, right).astype(np.int64), np.maximum(left, right).astype(np.int64)
    keep = lo != hi
    lo, hi = lo[keep], hi[keep]
    if lo.size == 0:
        return lo, hi
    packed = np.unique(np.stack([lo, hi], axis=1), axis=0)
    return packed[:, 0], packed[:, 1]


def hash_codes(hashes: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """One integer per row, equal for equal content hashes; a null hash gets a code of its own (never a duplicate)."""
    values = pc.cast(hashes, pa.string())
    encoded = pc.dictionary_encode(values)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.unify_dictionaries().combine_chunks()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    nulls = np.flatnonzero(codes < 0)
    codes[nulls] = -(nulls + 1)
    return codes


def hash_pairs(codes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Rows with the same content hash code, each linked to the first row holding that code: a star per group is
    enough for union-find and stays linear in the number of rows."""
    if codes is None or codes.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    rows = np.arange(codes.shape[0], dtype=np.int64)
    order = np.lexsort((rows, codes))
    rows, groups = rows[order], codes[order]
    first = np.ones(rows.shape[0], bool)
    first[1:] = groups[1:] != groups[:-1]
    head = rows[first][np.cumsum(first) - 1]  # the first row of each row's group
    return head[~first], rows[~first]


def combine(
    unit: np.ndarray,
    near: tuple[np.ndarray, np.ndarray],
    exact: tuple[np.ndarray, np.ndarray],
    threshold: float,
    codes: np.ndarray | None,
) -> Pairs:
    """Exact pairs (always kept) and near pairs at or above ``threshold``, scored exactly and deduplicated."""
    lo, hi = ordered(np.concatenate([near[0], exact[0]]), np.concatenate([near[1], exact[1]]))
    if lo.size == 0:
        return Pairs.empty()
    sim = cosine(unit, lo, hi)
    is_exact = codes[lo] == codes[hi] if codes is not None else np.zeros(lo.shape[0], bool)
    keep = is_exact | (sim >= threshold)
    return Pairs(lo[keep], hi[keep], sim[keep], is_exact[keep])
