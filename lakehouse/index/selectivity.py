"""How a filtered search runs, from the share of rows its filter keeps: exact over the matching rows, or prefiltered
ANN with the partitions to probe widened in proportion to 1/selectivity. The same rule serves every index type
(IVF_FLAT, IVF_PQ, IVF_HNSW_SQ) and every entry point (``VectorIndex.search``, similarity SQL, ``vector_search``).

Why widen: with a prefilter, a probed partition only offers its *matching* rows as candidates. When the filter is
independent of where vectors sit (a bucket, a tenant, a date that says nothing about content), the k nearest matching
rows are the k/selectivity nearest rows overall, which lie in many more partitions than the k nearest do. Measured
on 200k x 384 rows in 1,000 tight clusters with a 1% filter: IVF_PQ at its default 22 of 447 partitions found 0.31 of
the true top 10. Probing ``nprobes / selectivity`` partitions keeps the number of candidates a query looks at the
same as without a filter (``nprobes / partitions * rows``), so the work stays about the same too: each probed
partition contributes only its matching rows.

Why exact: an exact search touches ``matching rows x dim`` floats (plus reading those rows), and never misses. Below
:data:`EXACT_FILTER_COST` floats that is cheaper than an ANN probe of most partitions; BENCHMARKS.md has the figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from lakehouse.index.build import IndexParams

# Exact over the filtered rows when matching rows x dim is at most this many floats: 1,000 rows at 384-d. Reading
# vectors from Lance costs ~14-57 us a row here (load-dependent): 1,000 of 1M rows took 21 ms exact (a BTREE or
# BITMAP index on the stored column finds them), 10,000 rows took ~200 ms, where a widened ANN probe took 10-30 ms.
EXACT_FILTER_COST = 1_000 * 384


@dataclass(frozen=True)
class FilterPlan:
    """The decision for one filtered search: ``exact`` over the matching rows, or ``ann`` with ``params``."""

    path: str  # "exact" | "ann"
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
    >>> plan_filtered(20_000, 200_000, 384, p).params.nprobes  # 10%: ten times the default
    220
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
    probes = min(parts, max(base, math.ceil(base / max(share, 1e-12))))
    widened = replace(params, nprobes=probes)
    note = (
        f"the filter keeps {matched} rows ({share:.2%}): {probes} of {parts} partitions probed "
        f"({base} / selectivity, so as many matching candidates as an unfiltered search sees)"
        if probes > base
        else f"the filter keeps {matched} rows ({share:.2%}): default probes"
    )
    return FilterPlan("ann", matched, rows, widened, note)
