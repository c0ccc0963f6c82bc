"""Hybrid search: the vector leg (:meth:`VectorIndex.search`) and a BM25 leg (:mod:`lakehouse.index.fulltext`) over
the same snapshot, filter and rows, fused by reciprocal rank fusion.

Each leg returns its best ``depth`` rows; a row's fused score is the sum over the legs that found it of
``weight / (rrf_k + rank)`` (rank 1 is a leg's best row). Ties go to the row with the better best rank, then the
smaller key, so the order is deterministic. Rank fusion needs no common scale between cosine similarity and BM25,
which is why it is used; the weights say how much each leg counts. Both legs see exactly the rows the table has at
the snapshot: where the index lags, the rows of newer files are ranked for the text leg by a BM25 over them alone and
fused as a third list under the text weight.

Example::

    from lakehouse.index import open_index
    from lakehouse.index.hybrid import Fusion, hybrid_search

    index = open_index("docs.embeddings", "embedding")     # built with text="chunk_text"
    hits = hybrid_search(index, "vacuum full locks", k=5, where="chunk_index = 0", fusion=Fusion(text_weight=0.5))
    hits.keys, hits.table.column("text_rank")
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from lakehouse.errors import VectorIndexError
from lakehouse.index.fulltext import TEXT_SCORE, lance_text_search, local_text_search, text_column
from lakehouse.index.results import SearchResult
from lakehouse.index.store import FILE_COLUMN, SCORE_COLUMN
from lakehouse.table.files import diff

if TYPE_CHECKING:
    from lakehouse.index.search import VectorIndex

RRF_K = 60  # the constant of Cormack et al. (2009); large k flattens the rank curve
DEPTH = 50  # candidates per leg when Fusion.depth is not set (at least k)
FUSION_COLUMNS = ("vector_score", "text_score", "vector_rank", "text_rank")


@dataclass(frozen=True)
class Fusion:
    """How the two legs are fused: ``weight / (rrf_k + rank)`` per leg, ``depth`` candidates per leg (default
    ``max(k, 50)``), ``text_column`` the full-text indexed column (default: the only one)."""

    vector_weight: float = 1.0
    text_weight: float = 1.0
    rrf_k: float = RRF_K
    depth: int | None = None
    text_column: str | None = None

    def __post_init__(self) -> None:
        bad = [
            f"{name}={value!r}"
            for name, value, ok in (
                ("vector_weight", self.vector_weight, self.vector_weight >= 0),
                ("text_weight", self.text_weight, self.text_weight >= 0),
                ("rrf_k", self.rrf_k, self.rrf_k >= 0),
                ("depth", self.depth, self.depth is None or (isinstance(self.depth, int) and self.depth >= 1)),
            )
            if not ok
        ]
        if bad or self.vector_weight + self.text_weight <= 0:
            raise VectorIndexError(
                f"invalid fusion options: {', '.join(bad) or 'both weights are 0'}",
                hint="weights >= 0 (not both 0), rrf_k >= 0, depth a positive integer",
                problem="fusion",
            )

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def rrf(rankings: Sequence[tuple[Sequence[Hashable], float]], rrf_k: float = RRF_K) -> dict[Hashable, float]:
    """Reciprocal rank fusion of ranked key lists, each with its weight: key -> sum of ``weight / (rrf_k + rank)``.

    >>> rrf([(["a", "b"], 1.0), (["b", "c"], 0.5)], rrf_k=1)
    {'a': 0.5, 'b': 0.5833333333333333, 'c': 0.16666666666666666}
    """
    fused: dict[Hashable, float] = {}
    for keys, weight in rankings:
        for rank, key in enumerate(keys, start=1):
            fused[key] = fused.get(key, 0.0) + weight / (rrf_k + rank)
    return fused


def hybrid_search(
    index: VectorIndex,
    query: str,
    k: int = 10,
    *,
    vector: Sequence[float] | np.ndarray | None = None,
    where: str | None = None,
    as_of: int | None = None,
    fusion: Fusion | None = None,
    **search_options: Any,
) -> SearchResult:
    """The ``k`` best rows for ``query`` by vector similarity and BM25 together, best first.

    ``query`` is the text (embedded with the column's model unless ``vector`` is given); ``where``/``as_of`` as for
    :meth:`VectorIndex.search` (``search_options`` too: ``nprobes``, ``ef``...). The table holds the key, the stored
    columns (the text among them), ``score`` (fused), ``vector_score``, ``text_score`` (BM25; null where a leg did
    not find the row) and ``vector_rank``, ``text_rank`` (1-based, null likewise).
    """
    fusion = fusion or Fusion()
    if not isinstance(query, str) or not query.strip():
        raise VectorIndexError(
            "hybrid search needs the query text (the BM25 leg reads it)",
            hint="pass the text as query (and a precomputed vector as vector=, if any)",
            table=index.store.identifier,
            column=index.column,
            problem="query",
        )
    if not isinstance(k, int) or k < 1:
        raise VectorIndexError(f"k must be a positive integer, got {k!r}", column=index.column, problem="k")
    meta = index.meta
    text = text_column(meta, fusion.text_column)
    depth = max(k, fusion.depth or DEPTH)
    vec = index.search(query if vector is None else vector, depth, where=where, as_of=as_of, **search_options)
    plan = vec.plan
    keep = list(dict.fromkeys([meta.key, *meta.store]))
    lists, how = _text_lists(index, plan, text, query, depth, where, keep)
    key = meta.key
    vkeys = vec.table.column(key).to_pylist()
    rankings = [(vkeys, fusion.vector_weight)] + [(t.column(key).to_pylist(), fusion.text_weight) for t in lists]
    fused = rrf(rankings, fusion.rrf_k)
    vrank = {kk: i for i, kk in enumerate(vkeys, start=1)}
    trank: dict[Hashable, int] = {}
    tscore: dict[Hashable, float] = {}
    for t in lists:
        for i, (kk, s) in enumerate(zip(t.column(key).to_pylist(), t.column(TEXT_SCORE).to_pylist(), strict=True), 1):
            if kk not in trank or i < trank[kk]:
                trank[kk], tscore[kk] = i, float(s)
    best = {kk: min(vrank.get(kk, 1 << 30), trank.get(kk, 1 << 30)) for kk in fused}
    order = sorted(fused, key=lambda kk: (-fused[kk], best[kk], str(kk)))[:k]
    rows = _rows(vec.table, lists, keep, key)
    out = rows.take(pa.array(_positions(rows, key, order), pa.int64()))
    vscore = dict(zip(vkeys, vec.table.column(SCORE_COLUMN).to_pylist(), strict=True))
    out = out.append_column(SCORE_COLUMN, pa.array([fused[kk] for kk in order], pa.float64()))
    out = out.append_column("vector_score", pa.array([vscore.get(kk) for kk in order], pa.float64()))
    out = out.append_column("text_score", pa.array([tscore.get(kk) for kk in order], pa.float64()))
    out = out.append_column("vector_rank", pa.array([vrank.get(kk) for kk in order], pa.int32()))
    out = out.append_column("text_rank", pa.array([trank.get(kk) for kk in order], pa.int32()))
    note = (
        f"hybrid: reciprocal rank fusion (rrf_k {fusion.rrf_k:g}) of the vector leg (weight {fusion.vector_weight:g}, "
        f"{len(vkeys)} candidates) and BM25 on {text} (weight {fusion.text_weight:g}, "
        f"{sum(t.num_rows for t in lists)} candidates: {how})"
    )
    params = {**plan.params, "hybrid": {**fusion.to_dict(), "depth": depth, "text_column": text}}
    return SearchResult(out, replace(plan, notes=(*plan.notes, note), params=params), key)


def _text_lists(
    index: VectorIndex, plan: Any, text: str, query: str, depth: int, where: str | None, keep: list[str]
) -> tuple[list[pa.Table], str]:
    """The text leg's ranked lists over the rows the vector leg saw (same snapshot, filter, excluded files)."""
    flt = index._filter(where)
    meta = index.meta
    if plan.snapshot_id is None:
        return [], "the table has no snapshot"
    if plan.path == "exact" or plan.lance_version is None:
        cols = list(dict.fromkeys([*keep, text, *(flt.columns if flt else ())]))
        rows = index.source.read(plan.snapshot_id, cols, flt)
        return [local_text_search(rows, text, query, depth, keep)], f"a BM25 over the {rows.num_rows} rows read"
    ds = index._dataset(plan.lance_version)
    clauses = [f"({flt.sql})"] if flt else []
    lists: list[pa.Table] = []
    how = "Lance's INVERTED index"
    if plan.path == "index+tail":
        indexed = plan.indexed_snapshot
        change = diff(index._file_set(indexed).identities, index._file_set(plan.snapshot_id))
        if change.removed:
            quoted = ", ".join("'" + f.replace("'", "''") + "'" for f in sorted(change.removed))
            clauses.append(f"{FILE_COLUMN} NOT IN ({quoted})")
        tail = index._tail(indexed, plan.snapshot_id, change.added, meta) if change.added else None
        if tail is not None and tail.num_rows:
            rows = flt.apply(tail, index.source.filter_schema()) if flt else tail
            lists.append(local_text_search(rows, text, query, depth, keep))
            how += f", and a BM25 over the {rows.num_rows} rows newer than the index"
    found = lance_text_search(ds, text, query, depth, " AND ".join(clauses) or None, keep)
    return [found, *lists], how


def _rows(first: pa.Table, lists: Sequence[pa.Table], keep: list[str], key: str) -> pa.Table:
    parts = [first.select(keep)]
    parts += [t.select(keep).cast(parts[0].schema) for t in lists if t.num_rows]
    return pa.concat_tables(parts)


def _positions(rows: pa.Table, key: str, order: Sequence[Hashable]) -> list[int]:
    first: dict[Hashable, int] = {}
    for i, kk in enumerate(rows.column(key).to_pylist()):
        first.setdefault(kk, i)
    return [first[kk] for kk in order]
