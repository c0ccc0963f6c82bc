"""Index versions held in memory (lakehouse.index.resident) answer like the index they copy, or not at all.

Checked against exact search on two distributions (tight and noisy clusters) and the three metrics: the resident
partitions are Lance's own (same sizes), probing every partition returns exactly the exact top k, the default probes
reach the recall Lance reaches, filters and files removed since the index was built are honoured, and the settings
decide when a version is loaded (never, at the first search, at the N-th) and whether it fits the memory budget.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.config import IndexSettings, load_settings
from lakehouse.errors import ConfigError
from lakehouse.index import build, open_index
from lakehouse.index.residency import forget_resident, wait_for_loads
from lakehouse.index.resident import ResidentIVF
from lakehouse.table import VectorTable
from lakehouse.vector import VectorSpec, vector_type
from tests.benchmarks.datasets import clustered

pytestmark = pytest.mark.integration
ROWS, DIM = 24_000, 32


def _settings(catalog_service, tmp_path_factory, **index):  # noqa: ANN001, ANN003, ANN202
    return load_settings(
        home=str(tmp_path_factory.mktemp("resident-home")),
        catalog=catalog_service.catalog_settings,
        warehouse=catalog_service.warehouse,
        environ={},
        index=index,
    )


def _table(settings, shape: str, metric: str, rows: int = ROWS):  # noqa: ANN001, ANN202
    data = clustered(rows, DIM, shape, clusters=300 if shape == "tight" else 64)
    # rows of unequal lengths (so a cosine score that forgets a norm is caught)
    vectors = data.vectors * np.random.default_rng(11).uniform(0.5, 2.0, (rows, 1)).astype(np.float32)
    schema = pa.schema([("key", pa.int64()), ("bucket", pa.int64()), ("embedding", pa.list_(pa.float32()))])
    vt = VectorTable.create(
        f"resident.t{uuid.uuid4().hex[:10]}",
        schema,
        key="key",
        settings=settings,
        vectors=[VectorSpec("embedding", dim=DIM, metric=metric)],
    )
    vt.append(
        {
            "key": np.arange(rows),
            "bucket": data.bucket,
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), type=vector_type(DIM)),
        }
    )
    return vt.refresh(), vectors, data


def _exact(vectors: np.ndarray, q: np.ndarray, metric: str, k: int, rows: np.ndarray | None = None) -> list[int]:
    ids = np.arange(len(vectors)) if rows is None else rows
    m = vectors[ids]
    if metric == "cosine":
        s = (m @ q) / (np.linalg.norm(m, axis=1) * np.linalg.norm(q))
    elif metric == "dot":
        s = m @ q
    else:
        s = -np.linalg.norm(m - q, axis=1)
    return ids[np.argsort(-s, kind="stable")[:k]].tolist()


@pytest.fixture(autouse=True)
def _fresh() -> None:
    forget_resident()


@pytest.mark.parametrize(
    "shape,metric,index_type",
    [
        ("tight", "cosine", "ivf_pq"),
        ("noisy", "cosine", "ivf_flat"),
        ("noisy", "l2", "ivf_pq"),
        ("tight", "dot", "ivf_flat"),
    ],
)
def test_resident_versions_answer_like_exact_search_over_the_probed_partitions(
    catalog_service, tmp_path_factory, shape, metric, index_type
) -> None:  # noqa: ANN001
    settings = _settings(catalog_service, tmp_path_factory, resident="on")
    vt, vectors, data = _table(settings, shape, metric)
    build(vt, "embedding", index_type=index_type, store=["bucket"], settings=settings)
    index = open_index(vt, "embedding", settings=settings)
    parts = index.meta.params["num_partitions"]
    queries = data.queries(30, seed=3) * (1 if metric == "cosine" else 2.5)

    # every partition probed: the exact answer, key for key
    for q in queries[:10]:
        found = index.search(q, 10, nprobes=parts)
        assert any("in memory" in n for n in found.plan.notes), found.plan
        assert found.keys == _exact(vectors, q, metric, 10)

    # the partitions are Lance's own: each row where Lance put it
    ds = index._dataset(index._tag(index.indexed_snapshot))
    loaded = ResidentIVF.load(ds, 0, "embedding", metric, ["key", "bucket"])
    assert isinstance(loaded, ResidentIVF), loaded
    stats = ds.stats.index_stats("embedding_idx")["indices"][0]
    sizes = np.asarray([p["size"] for p in stats["partitions"]])
    assert np.abs(np.diff(loaded.offsets) - sizes).sum() <= 2 * 16  # at most a few boundary rows next door

    # the index's own probes: recall at least Lance's on the same queries (exact ranking inside the partitions)
    lance = replace(settings, index=IndexSettings(resident="off"))
    by_lance = open_index(vt, "embedding", settings=lance)
    truth = [_exact(vectors, q, metric, 10) for q in queries]
    ours = np.mean([len(set(index.search(q, 10).keys) & set(t)) / 10 for q, t in zip(queries, truth, strict=True)])
    theirs = np.mean([len(set(by_lance.search(q, 10).keys) & set(t)) / 10 for q, t in zip(queries, truth, strict=True)])
    assert not any("in memory" in n for n in by_lance.search(queries[0], 10).plan.notes)
    assert ours >= theirs - 0.01 and ours >= 0.9, (ours, theirs)
    # scores are the metric's own (the SQL engine re-scores candidates; a wrong sign or scale would reorder them)
    top = index.search(queries[0], 3, nprobes=parts)
    q = queries[0]
    want = {"cosine": lambda v: v @ q / np.linalg.norm(v) / np.linalg.norm(q), "dot": lambda v: v @ q}.get(
        metric, lambda v: -np.linalg.norm(v - q)
    )
    np.testing.assert_allclose(top.scores, [want(vectors[k]) for k in top.keys], rtol=1e-4, atol=1e-4)


def test_filters_and_files_removed_since_the_index_are_honoured(catalog_service, tmp_path_factory) -> None:  # noqa: ANN001
    settings = _settings(catalog_service, tmp_path_factory, resident="on")
    vt, vectors, data = _table(settings, "noisy", "cosine")
    build(vt, "embedding", index_type="ivf_flat", store=["bucket"], settings=settings)
    index = open_index(vt, "embedding", settings=settings)
    parts = index.meta.params["num_partitions"]
    q = data.queries(1, seed=5)[0]
    for where, rows in [
        ("bucket < 100", data.bucket < 100),
        ("bucket >= 500 AND bucket != 700", (data.bucket >= 500) & (data.bucket != 700)),
    ]:
        found = index.search(q, 10, where=where, nprobes=parts, exact_filter_rows=0)
        assert any("in memory" in n for n in found.plan.notes)
        assert found.keys == _exact(vectors, q, "cosine", 10, np.flatnonzero(rows)), where
    # a selective filter answered exactly over the matching rows, from memory too
    found = index.search(q, 10, where="bucket < 2")
    assert found.keys == _exact(vectors, q, "cosine", 10, np.flatnonzero(data.bucket < 2))

    # the table moves on: a delete rewrites the data file (copy-on-write), so the index's file is excluded and the
    # surviving rows are scanned exactly (index+tail); the resident version must not return the deleted rows
    vt.iceberg.delete("key < 12000")
    later = index.with_table(VectorTable.load(vt.identifier, settings=settings))
    found = later.search(q, 10, nprobes=parts)
    assert found.plan.path == "index+tail" and found.plan.excluded_files >= 1, found.plan
    assert any("in memory" in n for n in found.plan.notes)
    assert found.keys == _exact(vectors, q, "cosine", 10, np.arange(12_000, ROWS))


def test_settings_decide_when_a_version_is_held(catalog_service, tmp_path_factory) -> None:  # noqa: ANN001
    settings = _settings(catalog_service, tmp_path_factory, resident="auto", resident_after=3)
    vt, _, data = _table(settings, "tight", "cosine")
    build(vt, "embedding", index_type="ivf_pq", settings=settings)
    q = data.queries(1)[0]

    def held(s) -> list[bool]:  # noqa: ANN001
        index = open_index(VectorTable.load(vt.identifier, settings=s), "embedding", settings=s)
        out = []
        for _ in range(4):
            out.append(any("in memory" in n for n in index.search(q, 5).plan.notes))
            wait_for_loads()
        return out

    assert held(settings) == [False, False, False, True]  # the 3rd search starts loading it, Lance answers it
    forget_resident()
    assert held(replace(settings, index=IndexSettings(resident="off"))) == [False] * 4
    assert held(replace(settings, index=IndexSettings(resident="on"))) == [True] * 4
    forget_resident()
    assert held(replace(settings, index=IndexSettings(resident="on", resident_max_mb=1))) == [False] * 4  # ~3 MB
    with pytest.raises(ConfigError, match="index.resident"):
        load_settings(environ={"LAKEHOUSE__INDEX__RESIDENT": "sometimes"})


def test_threads_searching_while_a_version_loads_get_exact_answers(catalog_service, tmp_path_factory) -> None:  # noqa: ANN001
    # lakehouse serve's workers: each request searches its own copy of the index while the version loads beside them
    from concurrent.futures import ThreadPoolExecutor

    settings = _settings(catalog_service, tmp_path_factory, resident="auto", resident_after=2)
    vt, vectors, data = _table(settings, "noisy", "cosine")
    build(vt, "embedding", index_type="ivf_flat", settings=settings)
    kept = open_index(vt, "embedding", settings=settings)
    parts = kept.meta.params["num_partitions"]
    queries = data.queries(40, seed=9)

    def ask(q: np.ndarray) -> tuple[list[int], bool]:
        found = kept.with_table(vt).search(q, 10, nprobes=parts)
        return found.keys, any("in memory" in n for n in found.plan.notes)

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(ask, queries))
    wait_for_loads()
    answers.append(ask(queries[0]))
    for (keys, _), q in zip(answers, [*queries, queries[0]], strict=True):
        assert keys == _exact(vectors, q, "cosine", 10)
    assert answers[-1][1], "loaded by the end"
