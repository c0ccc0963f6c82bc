"""How a filtered search runs, from the share of rows its filter keeps: exact over the matching rows, or prefiltered
ANN with more partitions probed the more selective the filter is. The same rule serves every index type (IVF_FLAT,
IVF_PQ, IVF_HNSW_SQ) and every entry point (``VectorIndex.search``, similarity SQL, ``vector_search``).

Why widen: with a prefilter, a probed partition only offers its *matching* rows as candidates. When the filter is
independent of where vectors sit (a bucket, a tenant, a date that says nothing about content), the k nearest matching
rows are about the k/selectivity nearest rows overall, which lie in many more partitions than the k nearest do.
On 200k x 384 rows in 1,000 tight clusters with a 1% filter, IVF_PQ at its default 22 of 447 partitions found 0.31
of the true top 10. Probing ``nprobes / selectivity ** power`` partitions (power 0.75, 0.5 for HNSW; measured below)
brings recall@10 to >= 0.95 at 0.1%, 1% and 10% (BENCHMARKS.md).

Why exact: an exact search touches ``matching rows x dim`` floats (plus reading those rows) and never misses; below
:data:`EXACT_FILTER_COST` floats it is also the cheaper path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from lakehouse.index.build import IndexParams

# Exact over the filtered rows when matching rows x dim is at most this many floats: 1,000 rows at 384-d. Reading
# the matching vectors from Lance costs per row (a BTREE or BITMAP index on the stored column finds them), so at
# twice this many rows the exact path was already much slower than a prefiltered IVF_PQ search (figures:
# BENCHMARKS.md, design measurements, 'exact filtered search').
EXACT_FILTER_COST = 1_000 * 384
# probes = nprobes / selectivity ** power. IVF_PQ/IVF_FLAT score only a probed partition's matching rows, so probing
# more costs little, and a selective filter needed many more (up to all) partitions probed to reach full recall. A
# filtered HNSW graph search costs far more per partition, so it widens more slowly (figures: BENCHMARKS.md, design
# measurements, 'probe widening').
WIDEN_POWER = {"ivf_hnsw_sq": 0.5}
DEFAULT_POWER = 0.75


@dataclass(frozen=True)
class FilterPlan:
    """The decision for one filtered search: ``exact`` over the matching rows, or ``ann`` with ``params``."""

    path: Literal["exact", "ann"]
    matched: int
    rows: int
    params: IndexParams
    reason: str

    @property
    def selectivity(self) -> float:
        return self.matched / self.rows if self.rows else 1.0


def exact_rows_limit(dim: int) -> int:
    """Matching rows up to which the exact path is cheaper (:data:`EXACT_FILTER_COST` / ``dim``).

    >>> exact_rows_limit(384), exact_rows_limit(768)
    (1000, 500)
    """
    return max(1, EXACT_FILTER_COST // max(1, dim))


def plan_filtered(
    matched: int, rows: int, dim: int, params: IndexParams, *, exact_rows: int | None = None
) -> FilterPlan:
    """Choose exact or widened ANN for a filter keeping ``matched`` of ``rows`` rows.

    ``exact_rows`` replaces the cost-derived limit (0 forces ANN, a huge value forces exact).

    >>> p = IndexParams("ivf_pq", num_partitions=447, nprobes=22, refine_factor=30)
    >>> plan_filtered(500, 200_000, 384, p).path
    'exact'
    >>> plan_filtered(2_000, 200_000, 384, p).params.nprobes  # 1%: every partition
    447
    >>> plan_filtered(20_000, 200_000, 384, p).params.nprobes  # 10%: 22 / 0.1 ** 0.75
    124
    >>> plan_filtered(200_000, 200_000, 384, p).params.nprobes  # no selectivity: the default
    22
    """
    limit = exact_rows_limit(dim) if exact_rows is None else exact_rows
    share = matched / rows if rows else 1.0
    if matched <= limit:
        return FilterPlan(
            "exact",
            matched,
            rows,
            params,
            f"the filter leaves {matched} rows ({share:.2%}): exact search over them "
            f"(at most {limit} rows at {dim}-d are cheaper exact than ANN)",
        )
    parts = params.num_partitions
    if not parts or not params.is_ann:
        return FilterPlan("ann", matched, rows, params, f"the filter keeps {matched} rows ({share:.2%})")
    base = max(1, min(parts, params.nprobes or 1))
    power = WIDEN_POWER.get(params.index_type, DEFAULT_POWER)
    probes = min(parts, max(base, math.ceil(base / max(share, 1e-12) ** power)))
    widened = replace(params, nprobes=probes)
    note = (
        f"the filter keeps {matched} rows ({share:.2%}): {probes} of {parts} partitions probed "
        f"({base} / selectivity^{power})"
        if probes > base
        else f"the filter keeps {matched} rows ({share:.2%}): default probes"
    )
    return FilterPlan("ann", matched, rows, widened, note)
