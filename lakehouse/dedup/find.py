"""Find the duplicates of one vector column of a table: read, find candidate pairs, cluster, count what would go."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.config import Settings
from lakehouse.dedup.clusters import clusters
from lakehouse.dedup.neighbours import CANDIDATES, SearchOptions, ann_pairs, ensure_index, exact_pairs, has_ann
from lakehouse.dedup.pairs import Pairs, combine, hash_codes, hash_pairs, normalized
from lakehouse.errors import VectorSpecError

if TYPE_CHECKING:
    from lakehouse.table import VectorTable

HASH_COLUMN = "content_sha256"
TEXT_COLUMNS = ("chunk_text", "text")  # the first present is the text whose tokens are counted


@dataclass(frozen=True)
class Duplicates:
    """What dedup found in one snapshot of a table."""

    table: str
    column: str
    key: str
    snapshot_id: int | None
    threshold: float
    rows: int
    clusters: pa.Table  # RESULT_SCHEMA
    pairs: Pairs
    dropped: np.ndarray  # positions (in the read) of the rows to drop
    dropped_keys: pa.Array
    text_column: str | None
    tokens: int | None  # whitespace-split words of the text column, all rows
    tokens_removed: int | None
    path: str  # exact | ann: how near-duplicate candidates were found
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def rows_removed(self) -> int:
        return int(self.dropped.shape[0])

    def summary(self) -> dict[str, object]:
        kinds = self.clusters.column("kind").to_pylist()
        exact = kinds.count("exact")
        return {
            "table": self.table,
            "column": self.column,
            "snapshot_id": self.snapshot_id,
            "threshold": self.threshold,
            "rows": self.rows,
            "clusters": self.clusters.num_rows,
            "exact_clusters": exact,
            "near_clusters": len(kinds) - exact,
            "pairs": len(self.pairs),
            "rows_removed": self.rows_removed,
            "text_column": self.text_column,
            "tokens": self.tokens,
            "tokens_removed": self.tokens_removed,
            "candidates": self.path,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def token_counts(text: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Whitespace-split words per row (what ``str.split()`` counts); null text counts 0."""
    trimmed = pc.utf8_trim_whitespace(text)
    words = pc.list_value_length(pc.utf8_split_whitespace(trimmed))
    counts = pc.fill_null(pc.if_else(pc.equal(trimmed, ""), 0, words), 0)
    arr = counts.combine_chunks() if isinstance(counts, pa.ChunkedArray) else counts
    return arr.to_numpy(zero_copy_only=False).astype(np.int64)


def duplicates_in(
    keys: pa.Array,
    matrix: np.ndarray,
    *,
    threshold: float,
    codes: np.ndarray | None = None,
    near: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[pa.Table, Pairs, np.ndarray]:
    """The pure core: rows (keys, vectors, content-hash codes) -> (clusters table, pairs, dropped positions).

    ``near(unit_matrix)`` returns candidate (row, neighbour) positions; default: the exact threshold join.
    """
    unit = normalized(matrix)
    candidates = near(unit) if near is not None else exact_pairs(unit, threshold, codes=codes)
    pairs = combine(unit, candidates, hash_pairs(codes), threshold, codes)
    table, dropped = clusters(keys, unit, pairs, codes)
    return table, pairs, dropped


def find_duplicates(
    table: VectorTable,
    column: str,
    *,
    threshold: float = 0.95,
    search: SearchOptions | None = None,
    hash_column: str | None = HASH_COLUMN,
    text_column: str | None = None,
    settings: Settings | None = None,
    log: Callable[[str], object] = print,
) -> Duplicates:
    """Exact (same ``hash_column``) and near (cosine >= ``threshold``) duplicates of ``table``'s ``column``.

    Near-duplicate candidates come from ``search.method``: ``exact`` (default) joins the vectors with themselves
    (:func:`lakehouse.index.pairs_within`) at the table's current snapshot; ``ann`` builds or refreshes the column's
    index first and searches it per row, at the indexed snapshot. Example::

        found = find_duplicates(VectorTable.load("docs.embeddings"), "embedding", threshold=0.95)
        found.clusters.to_pylist()[:3], found.rows_removed, found.tokens_removed
    """
    if not 0.0 < threshold <= 1.0:
        raise VectorSpecError(f"threshold must be in (0, 1], got {threshold}", hint="e.g. --threshold 0.95")
    search = search or SearchOptions()
    if search.method not in CANDIDATES:
        raise VectorSpecError(f"unknown candidate method {search.method!r}", hint=f"one of {', '.join(CANDIDATES)}")
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    spec = table.spec(column)
    key = table.key_column
    if not key:
        raise VectorSpecError(
            f"table {table.identifier} has no key column (lakehouse.key-column property)",
            hint="dedup reports rows by key: create the table with a key",
        )
    ann = search.method == "ann"
    st = ensure_index(table, column, settings=settings, log=log) if ann else None
    snapshot_id = st.indexed_snapshot if st is not None else table.snapshot_id
    if st is not None:
        seconds["index"] = time.perf_counter() - t
    names = table.arrow_schema().names
    hash_col = hash_column if hash_column and hash_column in names else None
    text_col = text_column or next((c for c in TEXT_COLUMNS if c in names), None)
    if text_col and text_col not in names:
        raise VectorSpecError(f"no text column {text_col!r} in {table.identifier}", hint=f"columns: {', '.join(names)}")
    t = time.perf_counter()
    cols = list(dict.fromkeys([key, column, *(c for c in (hash_col, text_col) if c)]))
    rows = table.to_arrow(snapshot_id=snapshot_id, columns=cols)
    keys = rows.column(key).combine_chunks()
    from lakehouse.vector import to_numpy

    matrix = to_numpy(rows.column(column), spec.dim)
    codes = hash_codes(rows.column(hash_col)) if hash_col else None
    seconds["read"] = time.perf_counter() - t

    t = time.perf_counter()

    def near(unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if st is None or not has_ann(st):  # an index with no ANN structure would scan exactly anyway
            return exact_pairs(
                unit,
                threshold,
                codes=codes,
                block=search.block,
                workers=search.workers,
                max_pairs=search.max_pairs,
                log=log,
            )
        step = max(1, unit.shape[0] // 10)
        marks = iter(range(step, unit.shape[0] + step, step))
        nxt = [next(marks)]

        def progress(done: int) -> None:
            if done >= nxt[0]:
                log(f"  searched {done:,} of {unit.shape[0]:,} rows ({time.perf_counter() - t:.0f} s)")
                nxt[0] = next(marks, unit.shape[0] + 1)

        return ann_pairs(st, column, key, keys, unit, search, progress=progress)

    found, pairs, dropped = duplicates_in(keys, matrix, threshold=threshold, codes=codes, near=near)
    seconds["search+cluster"] = time.perf_counter() - t
    tokens = removed = None
    if text_col:
        counts = token_counts(rows.column(text_col))
        tokens, removed = int(counts.sum()), int(counts[dropped].sum())
    return Duplicates(
        table.identifier,
        column,
        key,
        snapshot_id,
        threshold,
        rows.num_rows,
        found,
        pairs,
        dropped,
        keys.take(pa.array(dropped, pa.int64())),
        text_col,
        tokens,
        removed,
        "ann" if st is not None and has_ann(st) else "exact",
        seconds,
    )
