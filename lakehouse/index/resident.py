"""An index version held in memory: its rows grouped by the index's own IVF partitions, searched with numpy.

Lance answers a nearest query in a few milliseconds even when it probes one partition: it plans a scan, runs it on
its async runtime and materialises the result columns (a repeated string column such as ``_file`` alone cost more
than the search; figures: BENCHMARKS.md, design measurements, 'resident index versions'). A warm process that asks
the same index version many queries can instead keep that version's rows in memory and probe them itself:

- the partitions are Lance's. The index's trained centroids come from Lance's index statistics, and each row is
  assigned to its nearest centroid under the index metric, as Lance assigns it (the partition sizes are checked
  against the statistics when loading: beyond a few boundary rows that float rounding puts next door, a mismatch
  leaves the version to Lance);
- a query probes the same ``nprobes`` nearest partitions and ranks their rows by exact distance (Lance's IVF_PQ ranks
  by PQ codes and re-ranks a shortlist; exact distances can only find the same rows or better ones);
- filters run as Lance's prefilter does: a boolean mask over the rows (the ``where`` predicate, rows of files removed
  since the index was built), evaluated once per version and filter and kept.

A version never changes (Lance writes a new one for every change), so a resident copy can never be stale: the search
path asks for the version it would give Lance. Only IVF indexes without a graph are held (IVF_FLAT, IVF_PQ): an
IVF_HNSW_SQ partition is searched through its graph, far fewer rows than a scan of the partition would read.

Which versions a process holds, and when they are loaded, is :mod:`lakehouse.index.residency`'s part.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.index.store import FILE_COLUMN, SCORE_COLUMN

if TYPE_CHECKING:
    import lance
    from pyiceberg.schema import Schema

    from lakehouse.index.filters import Filter

__all__ = ["RESIDENT_TYPES", "ResidentIVF"]


RESIDENT_TYPES = frozenset({"IVF_FLAT", "IVF_PQ"})  # Lance index types whose partitions are scanned whole
_MASKS = 64  # filter masks kept per resident version


@dataclass
class ResidentIVF:
    """One index version's rows in partition order, with what a probe needs."""

    version: int
    metric: str
    rows: pa.Table  # key, stored columns, ``_file`` and the vector column, in partition order
    matrix: np.ndarray  # (rows, dim) float32, a view of the vector column
    row_terms: np.ndarray  # per row: 1/|v| (cosine), |v|^2 (l2), unused (dot)
    offsets: np.ndarray  # (partitions + 1,): partition p holds rows offsets[p]:offsets[p+1]
    centroids: np.ndarray  # (partitions, dim) float32
    centroid_terms: np.ndarray  # |c|^2 per centroid (cosine, l2)
    masks: OrderedDict[tuple[str, tuple[str, ...]], np.ndarray] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def nbytes(self) -> int:
        return int(self.rows.nbytes + self.row_terms.nbytes + self.centroids.nbytes)

    @property
    def columns(self) -> frozenset[str]:
        if "_columns" not in self.__dict__:
            self.__dict__["_columns"] = frozenset(self.rows.column_names)
        return self.__dict__["_columns"]

    # -- loading ------------------------------------------------------------------------------------------------------
    @classmethod
    def load(cls, ds: lance.LanceDataset, version: int, column: str, metric: str, columns: Sequence[str]) -> Any:
        """The version's rows in memory, or a string saying why they cannot be (then Lance answers)."""
        stats = _ivf_stats(ds, column)
        if isinstance(stats, str):
            return stats
        centroids, sizes = stats
        present = set(ds.schema.names)
        rows = ds.to_table(columns=[c for c in dict.fromkeys([*columns, column]) if c in present])
        if rows.num_rows != int(sizes.sum()):
            return f"{rows.num_rows} live rows but the index partitions hold {int(sizes.sum())}"
        vectors = rows.column(column).combine_chunks()
        matrix = vectors.values.to_numpy(zero_copy_only=False).reshape(len(vectors), -1)
        partition = _assign(matrix, centroids, metric)
        counts = np.bincount(partition, minlength=len(centroids))
        # Lance's distance kernels round differently from BLAS: a row on a partition boundary (as near to two
        # centroids as float32 can tell) may land in the other one (1-6 rows of 200k on the noisy benchmark data).
        # More than that means these are not the index's partitions.
        moved = int(np.abs(counts - sizes).sum()) // 2
        if moved > max(16, rows.num_rows // 1000):
            return f"{moved} rows fall in other partitions than the index's (its partition sizes differ)"
        order = np.argsort(partition, kind="stable")
        rows = rows.take(pa.array(order, pa.int64())).combine_chunks()
        if FILE_COLUMN in rows.column_names:  # one path per data file: a dictionary holds it in a few bytes a row
            rows = rows.set_column(
                rows.column_names.index(FILE_COLUMN), FILE_COLUMN, pc.dictionary_encode(rows.column(FILE_COLUMN))
            )
        vectors = rows.column(column).chunk(0)
        matrix = vectors.values.to_numpy(zero_copy_only=False).reshape(len(vectors), -1)
        if metric == "cosine":
            norms = np.linalg.norm(matrix, axis=1)
            row_terms = (1.0 / np.where(norms == 0, 1.0, norms)).astype(np.float32)
        elif metric == "l2":
            row_terms = np.einsum("ij,ij->i", matrix, matrix).astype(np.float32)
        else:
            row_terms = np.empty(0, np.float32)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        terms = np.einsum("ij,ij->i", centroids, centroids).astype(np.float32)
        return cls(version, metric, rows, matrix, row_terms, offsets, centroids, terms)

    # -- searching ----------------------------------------------------------------------------------------------------
    def probe(self, q: np.ndarray, nprobes: int) -> np.ndarray:
        """The ``nprobes`` partitions nearest to ``q``, as Lance picks them."""
        if self.metric == "dot":
            d = -(self.centroids @ q)
        else:
            qq = q / (np.linalg.norm(q) or 1.0) if self.metric == "cosine" else q
            d = self.centroid_terms - 2.0 * (self.centroids @ qq)
        n = min(max(int(nprobes), 1), len(d))
        return np.argpartition(d, n - 1)[:n] if n < len(d) else np.arange(len(d))

    def search(
        self, q: np.ndarray, k: int, nprobes: int, keep: Sequence[str], mask: np.ndarray | None = None
    ) -> pa.Table:
        """The ``k`` best rows of the probed partitions (those ``mask`` keeps), best first: ``keep`` + ``_score``."""
        ranges = [(int(self.offsets[p]), int(self.offsets[p + 1])) for p in self.probe(q, nprobes)]
        with _one_blas_thread():
            return self._ranked(q, k, [(s, e) for s, e in ranges if e > s], keep, mask)

    def exact(self, q: np.ndarray, k: int, keep: Sequence[str], mask: np.ndarray | None = None) -> pa.Table:
        """The ``k`` best rows of all (or the masked) rows."""
        if mask is not None:
            return self._ranked_positions(q, k, np.flatnonzero(mask), keep)
        return self._ranked(q, k, [(0, self.rows.num_rows)], keep, None)

    def _ranked(
        self, q: np.ndarray, k: int, ranges: list[tuple[int, int]], keep: Sequence[str], mask: np.ndarray | None
    ) -> pa.Table:
        # one buffer for every probed row's score, written in place partition by partition: allocating, arange-ing
        # and concatenating per partition cost as much as the dot products themselves
        cum = np.cumsum([0, *(e - s for s, e in ranges)])
        scores = np.empty(int(cum[-1]), np.float32)
        cosine, l2 = self.metric == "cosine", self.metric == "l2"
        qq = (q / (np.linalg.norm(q) or 1.0)).astype(np.float32) if cosine else q
        qsq = float(q @ q)
        for (s, e), a in zip(ranges, cum[:-1].tolist(), strict=True):
            out = scores[a : a + e - s]
            np.dot(self.matrix[s:e], qq, out=out)
            if cosine:
                out *= self.row_terms[s:e]
            elif l2:
                np.sqrt(np.maximum(self.row_terms[s:e] - 2.0 * out + qsq, 0.0), out=out)
                np.negative(out, out=out)
            if mask is not None:
                np.copyto(out, -np.inf, where=~mask[s:e])
        starts = np.asarray([s for s, _ in ranges], dtype=np.int64)

        def position(idx: np.ndarray) -> np.ndarray:  # buffer index -> row: its partition's first row + the offset
            r = np.searchsorted(cum, idx, "right") - 1
            return starts[r] + idx - cum[r]

        return self._top(scores, position, k, keep)

    def _ranked_positions(self, q: np.ndarray, k: int, pos: np.ndarray, keep: Sequence[str]) -> pa.Table:
        if not len(pos):
            return self._top(np.empty(0, np.float32), lambda idx: pos[idx], k, keep)
        dots = self.matrix[pos] @ q
        if self.metric == "cosine":
            scores = dots * self.row_terms[pos] / (np.linalg.norm(q) or 1.0)
        elif self.metric == "l2":
            scores = -np.sqrt(np.maximum(self.row_terms[pos] - 2.0 * dots + float(q @ q), 0.0))
        else:
            scores = dots
        return self._top(scores.astype(np.float32), lambda idx: pos[idx], k, keep)

    def _top(
        self, scores: np.ndarray, position: Callable[[np.ndarray], np.ndarray], k: int, keep: Sequence[str]
    ) -> pa.Table:
        """The ``k`` best of ``scores`` (masked-out rows are -inf and never returned), best first; ties in row order."""
        k = min(k, len(scores))
        idx = np.argpartition(-scores, k - 1)[:k] if 0 < k < len(scores) else np.arange(k)
        idx = idx[np.isfinite(scores[idx])]
        rows = position(idx)
        order = np.lexsort((rows, -scores[idx]))
        out = self.rows.select(list(keep)).take(pa.array(rows[order], pa.int64()))
        if FILE_COLUMN in out.column_names:
            i = out.column_names.index(FILE_COLUMN)
            out = out.set_column(i, FILE_COLUMN, out.column(i).cast(pa.string()))
        return out.append_column(SCORE_COLUMN, pa.array(scores[idx][order].astype(np.float64)))

    # -- filters ------------------------------------------------------------------------------------------------------
    def mask(self, flt: Filter | None, schema: Schema | None, excluded: Sequence[str]) -> np.ndarray | None:
        """Rows ``flt`` keeps and that are not in ``excluded`` files (None: every row); kept per filter."""
        if flt is None and not excluded:
            return None
        key = (flt.sql if flt else "", tuple(excluded))
        with self.lock:
            if key in self.masks:
                self.masks.move_to_end(key)
                return self.masks[key]
        keep = np.ones(self.rows.num_rows, dtype=bool)
        if flt is not None:
            assert schema is not None
            view = self.rows.select(sorted(flt.columns)).append_column("__row", pa.array(np.arange(len(keep))))
            keep[:] = False
            keep[flt.apply(view, schema).column("__row").to_numpy()] = True
        if excluded:
            gone = pc.is_in(self.rows.column(FILE_COLUMN), value_set=pa.array(list(excluded), pa.string()))
            keep &= ~np.asarray(gone.to_numpy(zero_copy_only=False), dtype=bool)
        with self.lock:
            self.masks[key] = keep
            while len(self.masks) > _MASKS:
                self.masks.popitem(last=False)
        return keep


_blas: list[Any] = []  # threadpoolctl's BLAS controller, found once (a fresh look-up scans the loaded libraries)


def _one_blas_thread() -> AbstractContextManager[object]:
    """One BLAS thread for a probe's small products: with both cores busy, OpenBLAS's second thread waits for a time
    slice and a partition of ~1,500 rows took milliseconds instead of microseconds (figures: BENCHMARKS.md, design
    measurements, 'resident index versions'; the same lesson as 'one BLAS thread'). The limit is the process's; set
    through a controller kept from the first search (~20 us), not ``threadpool_limits``, which looks the libraries
    up again at every call (~3 ms). threadpoolctl is pinned; without it BLAS keeps its default."""
    if not _blas:
        try:
            from threadpoolctl import ThreadpoolController

            _blas.append(ThreadpoolController().select(user_api="blas"))
        except ImportError:  # pragma: no cover - pinned in pyproject.toml
            _blas.append(None)
    return nullcontext() if _blas[0] is None else _blas[0].limit(limits=1)


def _ivf_stats(ds: lance.LanceDataset, column: str) -> tuple[np.ndarray, np.ndarray] | str:
    """The trained centroids of ``column``'s IVF index and the rows each partition holds (all segments summed)."""
    from lakehouse.index.build import vector_index

    entry = vector_index(ds, column)
    if entry is None:
        return "no IVF index"
    if str(entry["type"]).upper() not in RESIDENT_TYPES:
        return f"{entry['type']} partitions are searched through their graph"
    if set(entry["fragment_ids"]) != {f.fragment_id for f in ds.get_fragments()}:
        return "some rows are outside the index (Lance scans them flat)"
    # Lance 14 reports centroids in its statistics and warns that a later release will leave them out unless asked
    os.environ.setdefault("LANCE_INCLUDE_VECTOR_CENTROIDS", "true")
    stats = ds.stats.index_stats(entry["name"])
    segments = stats.get("indices") or []
    if not segments or "centroids" not in segments[0]:
        return "Lance's index statistics hold no centroids"
    centroids = np.asarray(segments[0]["centroids"], dtype=np.float32)
    sizes = np.zeros(len(centroids), dtype=np.int64)
    for seg in segments:
        if len(seg.get("partitions") or []) != len(centroids):
            return "index segments have different partitions"
        if not np.array_equal(np.asarray(seg.get("centroids"), dtype=np.float32), centroids):
            return "index segments were trained apart"
        sizes += np.asarray([p["size"] for p in seg["partitions"]], dtype=np.int64)
    return centroids, sizes


def _assign(matrix: np.ndarray, centroids: np.ndarray, metric: str, block: int = 16_384) -> np.ndarray:
    """Each row's partition: its nearest centroid (cosine: by L2 between the normalised row and the centroid)."""
    out = np.empty(len(matrix), dtype=np.int64)
    terms = np.einsum("ij,ij->i", centroids, centroids)
    for s in range(0, len(matrix), block):
        rows = matrix[s : s + block]
        if metric == "dot":
            out[s : s + block] = (rows @ centroids.T).argmax(axis=1)
            continue
        if metric == "cosine":
            norms = np.linalg.norm(rows, axis=1, keepdims=True)
            rows = rows / np.where(norms == 0, 1.0, norms)
        out[s : s + block] = (terms[None, :] - 2.0 * (rows @ centroids.T)).argmin(axis=1)
    return out
