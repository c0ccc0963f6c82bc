"""Near-duplicate candidates, two ways.

``exact`` (the default): every pair with cosine >= the threshold, found by :func:`lakehouse.index.pairs_within`, a
blockwise float32 matrix product over k-means partitions with an exact pruning bound. No index is needed and nothing
is missed; on a large clustered table it took seconds where one ANN search per row took minutes (figures:
BENCHMARKS.md, design measurements, 'exact dedup join').

``ann``: the k nearest neighbours of every row through the column's Lance index (n searches of ~log n work each),
searched one by one from a few threads (Lance releases the GIL while it searches; its own 2-D batch query measured
slower per query here than single queries: BENCHMARKS.md, design measurements, 'Lance batch query'). Kept for
tables too large to hold in memory as one matrix; it finds at most ``k`` neighbours a row, and only those the ANN
structure returns. The dataset is the index version that ``lakehouse.index.status`` reports for the table's current
snapshot, after ``build``/``refresh``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.config import Settings
from lakehouse.errors import VectorIndexError

if TYPE_CHECKING:
    from lakehouse.index import IndexStatus
    from lakehouse.table import VectorTable


Candidates = Literal["exact", "ann"]
CANDIDATES: tuple[str, ...] = get_args(Candidates)


@dataclass(frozen=True)
class SearchOptions:
    """How candidates are found: ``method`` (see the module doc); for ``ann``, ``k`` neighbours a row and the index's
    search parameters (``None`` keeps the index's own default, 0 turns one off). Re-ranking (``refine_factor``) is off
    by default: every candidate is rescored exactly anyway, and the index's own refine_factor made the search several
    times slower for no pair found more (figures: BENCHMARKS.md, design measurements, 'dedup re-ranking off').
    ``workers``: threads of either method."""

    method: Candidates = "exact"
    k: int = 10
    nprobes: int | None = None
    refine_factor: int | None = 0
    ef: int | None = None
    workers: int = 4
    block: int = 1024  # rows per matrix product (exact) or per unit of work (ann)
    max_pairs: int | None = 50_000_000  # exact: stop with an error beyond this many pairs (~1 GB)


def ensure_index(
    table: VectorTable, column: str, *, settings: Settings | None = None, log: Callable[[str], object] = print
) -> IndexStatus:
    """Build the index when there is none, refresh it when it lags the table; return its (up to date) status."""
    from lakehouse.index import build, refresh, status

    st = status(table, column, settings=settings)
    if not st.exists:
        log(f"no index on {table.identifier}.{column}: building one")
        build(table, column, settings=settings)
    elif not st.up_to_date:
        log(
            f"index on {table.identifier}.{column} is at snapshot {st.indexed_snapshot}, the table at "
            f"{st.table_snapshot}: refreshing it"
        )
        refresh(table, column, settings=settings)
    st = status(table, column, settings=settings)
    if not st.up_to_date or st.lance_version is None:
        raise VectorIndexError(
            f"the index on {table.identifier}.{column} is not at the table's snapshot after a refresh "
            f"(indexed {st.indexed_snapshot}, table {st.table_snapshot})",
            hint="another writer committed meanwhile: run dedup again",
            table=table.identifier,
            column=column,
            problem="stale",
        )
    return st


def has_ann(st: IndexStatus) -> bool:
    return bool(st.index_type) and st.index_type != "flat" and "untrained" not in str(st.index_type)


def exact_pairs(
    unit: np.ndarray,
    threshold: float,
    *,
    codes: np.ndarray | None = None,
    block: int = 1024,
    workers: int = 4,
    max_pairs: int | None = 50_000_000,
    log: Callable[[str], object] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every pair with cosine >= ``threshold`` (:func:`lakehouse.index.pairs_within`), as far as clustering needs.

    With content-hash ``codes``, a row whose vector equals the first vector of its hash group stays out of the join:
    the hash already ties it to that row, which stands in for it (same vector, same neighbours), so the clusters are
    the same while n copies of a chunk cost one row, not n^2 / 2 pairs. The join runs a hair below the threshold:
    the caller rescores every pair exactly and decides, so float32 rounding never drops one.
    """
    from lakehouse.index import pairs_within

    rows = np.arange(unit.shape[0], dtype=np.int64) if codes is None else _stand_ins(unit, codes)
    threads = max(1, min(workers, os.cpu_count() or 1))  # more threads than cores only contend here
    found = pairs_within(unit[rows], max(-1.0, threshold - 1e-6), block=block, workers=threads, max_pairs=max_pairs)
    if log is not None:
        st = found.stats
        log(
            f"  exact join of {rows.shape[0]:,} rows (copies with a shared content hash stand aside): "
            f"{st.partitions} partitions, {st.probes:.2f} other partitions probed a row, {st.comparisons:,} "
            f"comparisons ({st.fraction:.2%} of all pairs), "
            + ", ".join(f"{k} {v:.1f} s" for k, v in st.seconds.items())
        )
    return rows[found.left], rows[found.right]


def _stand_ins(unit: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Positions of the rows that take part in the join: the first row of each content-hash group, and any row whose
    vector differs from that first row's (sorted)."""
    rows = np.arange(codes.shape[0], dtype=np.int64)
    order = np.lexsort((rows, codes))
    grouped = codes[order]
    first = np.ones(order.shape[0], bool)
    first[1:] = grouped[1:] != grouped[:-1]
    head = order[first][np.cumsum(first) - 1]  # each row's group head, in sorted order
    differs = np.zeros(order.shape[0], bool)
    for s in range(0, order.shape[0], 65_536):  # blockwise: no second copy of the matrix
        a, b = order[s : s + 65_536], head[s : s + 65_536]
        differs[s : s + 65_536] = np.any(unit[a] != unit[b], axis=1)
    return np.sort(order[first | differs])


def _dataset(st: IndexStatus) -> Any:
    import lance

    uri = st.uri[len("file://") :] if st.uri.startswith("file://") else st.uri
    return lance.dataset(uri, version=st.lance_version)


def ann_pairs(
    st: IndexStatus,
    column: str,
    key: str,
    keys: pa.Array,
    unit: np.ndarray,
    options: SearchOptions,
    *,
    progress: Callable[[int], object] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(row, neighbour) positions for the ``options.k`` nearest neighbours of every row, found in the index."""
    ds = _dataset(st)
    params = dict(st.params)
    nearest: dict[str, Any] = {"column": column, "k": options.k + 1, "metric": st.metric or "cosine"}
    for name in ("nprobes", "refine_factor", "ef"):
        value = getattr(options, name) if getattr(options, name) is not None else params.get(name)
        if value:
            nearest[name] = int(value)
    if "ef" in nearest:  # Lance refuses ef below k * refine_factor
        nearest["ef"] = max(nearest["ef"], nearest["k"] * nearest.get("refine_factor", 1))

    def search(start: int) -> tuple[np.ndarray, list[pa.Array]]:
        rows, found = [], []
        for i in range(start, min(start + options.block, unit.shape[0])):
            hit = ds.to_table(nearest={**nearest, "q": unit[i]}, columns=[key], disable_scoring_autoprojection=True)
            found.extend(hit.column(key).cast(pa.string()).chunks)
            rows.append(np.full(hit.num_rows, i, np.int64))
        return (np.concatenate(rows) if rows else np.empty(0, np.int64)), found

    row_parts: list[np.ndarray] = []
    key_parts: list[pa.Array] = []
    done = 0
    with ThreadPoolExecutor(max(1, options.workers)) as pool:
        for rows, found in pool.map(search, range(0, unit.shape[0], options.block)):
            row_parts.append(rows)
            key_parts.extend(found)
            done = min(done + options.block, unit.shape[0])
            if progress is not None:
                progress(done)
    if not key_parts:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    # one hash lookup of all neighbour keys against the rows read (a key missing from the read is skipped)
    pos = pc.index_in(pa.chunked_array(key_parts, type=pa.string()), value_set=keys.cast(pa.string()))
    neighbours = pc.fill_null(pos, -1).combine_chunks().to_numpy(zero_copy_only=False).astype(np.int64)
    rows = np.concatenate(row_parts)
    keep = (neighbours >= 0) & (neighbours != rows)
    return rows[keep], neighbours[keep]
