"""The planner's selectivity decision for filtered searches, for every index type (no catalog, no Lance)."""

from __future__ import annotations

import doctest
import math

import pytest

import lakehouse.index.selectivity as selectivity
from lakehouse.index import choose_params
from lakehouse.index.selectivity import exact_rows_limit, plan_filtered


@pytest.mark.parametrize("rows", [50_000, 200_000, 1_000_000])
@pytest.mark.parametrize("index_type", ["auto", "ivf_flat", "ivf_pq", "ivf_hnsw_sq"])
def test_probes_grow_with_one_over_selectivity_until_every_partition(rows: int, index_type: str) -> None:
    params = choose_params(rows, 384, index_type)
    parts, base = params.num_partitions, params.nprobes
    assert parts and base
    power = 0.5 if params.index_type == "ivf_hnsw_sq" else 0.75
    probes = []
    for share in (0.5, 0.1, 0.01):
        matched = int(rows * share)
        plan = plan_filtered(matched, rows, 384, params)
        if matched <= exact_rows_limit(384):
            assert plan.path == "exact"
            continue
        assert plan.path == "ann" and plan.params.nprobes == min(parts, math.ceil(base / share**power)), share
        assert plan.params.refine_factor == params.refine_factor and plan.params.ef == params.ef
        probes.append(plan.params.nprobes)
    assert probes == sorted(probes), "the rarer the filter, the more partitions"
    assert plan_filtered(rows, rows, 384, params).params.nprobes == base, "a filter keeping every row: defaults"


def test_a_one_percent_filter_probes_every_partition_of_the_auto_index() -> None:
    # the measured need on filter-independent clustered data (BENCHMARKS.md): 1% of 200k (IVF_PQ) and of 1M (HNSW)
    for rows in (200_000, 1_000_000):
        params = choose_params(rows, 384)
        widened = plan_filtered(rows // 100, rows, 384, params).params
        assert widened.nprobes == params.num_partitions or widened.nprobes / params.num_partitions >= 0.8, rows


def test_exact_when_matching_rows_times_dim_is_small() -> None:
    params = choose_params(1_000_000, 384)
    assert plan_filtered(1_000, 1_000_000, 384, params).path == "exact"  # 0.1% of 1M at 384-d
    assert plan_filtered(1_001, 1_000_000, 384, params).path == "ann"
    assert plan_filtered(1_000, 1_000_000, 768, params).path == "ann", "twice the dimensions: twice the cost"
    assert plan_filtered(500, 1_000_000, 768, params).path == "exact"
    assert plan_filtered(10, 1_000_000, 384, params, exact_rows=0).path == "ann", "0 forces ANN"
    assert plan_filtered(900_000, 1_000_000, 384, params, exact_rows=10**9).path == "exact"
    assert "exact search over them" in plan_filtered(10, 1_000_000, 384, params).reason


def test_flat_index_is_left_alone() -> None:
    flat = choose_params(5_000, 384)
    plan = plan_filtered(2_000, 5_000, 384, flat)
    assert plan.path == "ann" and plan.params == flat


def test_docstring_examples() -> None:
    assert doctest.testmod(selectivity).failed == 0
