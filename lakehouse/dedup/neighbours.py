"""Near-duplicate candidates: the k nearest neighbours of every row, through the column's ANN index.

Each row's vector is searched in the index (n searches of ~log n work each, so n log n overall, not the n^2 of
comparing every pair). ``lakehouse.index`` has no batch search, and Lance's own batch query (a 2-D ``q``) measured
slower here than single queries (23 vs 12 ms a query), so rows are searched one by one in Lance, from a few threads
(Lance releases the GIL while it searches). The dataset is the index version that ``lakehouse.index.status`` reports
for the table's current snapshot, after ``build``/``refresh`` brought it up to date.

An index with no ANN structure (``flat``: below ~20k rows, where ``lakehouse.index`` builds none) would answer every
search by an exact scan; there, one blockwise matrix product over the rows gives the same answer, faster, and finds
every pair above the threshold rather than the k nearest.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.config import Settings
from lakehouse.errors import VectorIndexError

if TYPE_CHECKING:
    from lakehouse.index import IndexStatus
    from lakehouse.table import VectorTable


@dataclass(frozen=True)
class SearchOptions:
    """How the index is searched for each row: ``k`` neighbours; ``None`` keeps the index's own default, 0 turns a
    parameter off. Re-ranking (``refine_factor``) is off by default: every candidate is rescored exactly anyway, and
    at 30k rows the index's refine_factor 30 made the search ~4x slower for no pair found more."""

    k: int = 10
    nprobes: int | None = None
    refine_factor: int | None = 0
    ef: int | None = None
    workers: int = 4
    block: int = 1024  # rows per matrix product (flat path) or per unit of work (ANN path)


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


def exact_pairs(unit: np.ndarray, threshold: float, *, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Every pair with cosine >= ``threshold`` by blockwise matrix products (for small tables: n^2 work)."""
    lefts, rights = [], []
    for s in range(0, unit.shape[0], block):
        sims = unit[s : s + block] @ unit[s:].T  # only the upper triangle: pairs (i, j) with j >= i
        i, j = np.nonzero(sims >= threshold)
        j = j + s
        i = i + s
        keep = j > i
        lefts.append(i[keep])
        rights.append(j[keep])
    if not lefts:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(lefts).astype(np.int64), np.concatenate(rights).astype(np.int64)


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
