"""ANN indexes against real tables: every search must equal exact numpy search over the table at the same snapshot.

Each test runs on an Iceberg table and on a Delta table (``fmt``): the index behaves the same over both formats. The
few table operations that differ (delete, overwrite by key, property change) go through the helpers below.
"""

from __future__ import annotations

import importlib
import json
import uuid
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner
from deltalake import write_deltalake
from pyiceberg.expressions import In

from lakehouse.config import load_settings
from lakehouse.errors import ModelError, VectorIndexError, VectorSpecError, VectorValidationError
from lakehouse.index import VectorIndex, build, open_index, refresh, search, status
from lakehouse.index.refresh import FoldPolicy
from lakehouse.index.store import IndexStore, snapshot_property
from lakehouse.table import VectorTable
from lakehouse.vector import VectorSpec, to_numpy, top_k, vector_type

pytestmark = pytest.mark.integration
DIM = 16
LANGS = np.array(["en", "fr", "de", "es"])
FORMATS = ["iceberg", "delta"]


@pytest.fixture(scope="module")
def settings(catalog_service, tmp_path_factory):  # noqa: ANN001, ANN201
    home = tmp_path_factory.mktemp("index-home")
    return load_settings(
        home=str(home), catalog=catalog_service.catalog_settings, warehouse=catalog_service.warehouse, environ={}
    )


def batch(rng: np.random.Generator, start: int, count: int) -> pa.Table:
    # clustered vectors, so an IVF index has structure to find
    centers = rng.normal(size=(8, DIM)).astype(np.float32) * 3
    m = centers[rng.integers(0, 8, count)] + rng.normal(size=(count, DIM)).astype(np.float32)
    ids = np.arange(start, start + count)
    return pa.table(
        {
            "key": pa.array([f"k{i:06d}" for i in ids]),
            "lang": pa.array(LANGS[ids % 4]),
            "n": pa.array(ids, pa.int64()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), type=vector_type(DIM)),
        }
    )


@pytest.fixture(params=FORMATS)
def fmt(request: pytest.FixtureRequest) -> str:
    return request.param


def new_table(settings, rng, rows=2000, metric="cosine", model=None, fmt="iceberg"):  # noqa: ANN001, ANN201
    schema = pa.schema(
        [("key", pa.string()), ("lang", pa.string()), ("n", pa.int64()), ("embedding", pa.list_(pa.float32()))]
    )
    vt = VectorTable.create(
        f"idx.t{uuid.uuid4().hex[:10]}",
        schema,
        key="key",
        settings=settings,
        vectors=[VectorSpec("embedding", dim=DIM, metric=metric, model=model)],
        format=fmt,
    )
    vt.append(batch(rng, 0, rows))
    return vt.refresh()


def exact(vt: VectorTable, q: np.ndarray, k: int, snapshot_id: int | None = None, where: str | None = None):  # noqa: ANN201
    snapshot_id = vt.snapshot_id if snapshot_id is None else snapshot_id
    # Delta: read through delta-rs's SQL engine (DataFusion), an independent reader of the log and files
    where = where or ("TRUE" if vt.format == "delta" else None)
    rows = vt.to_arrow(snapshot_id=snapshot_id, columns=["key", "embedding", "lang", "n"], row_filter=where)
    idx, scores = top_k(to_numpy(rows.column("embedding"), DIM), q, k, vt.spec("embedding").metric)
    return [rows.column("key")[int(i)].as_py() for i in idx], scores


def assert_same(result, expected) -> None:  # noqa: ANN001
    keys, scores = expected
    assert sorted(result.keys) == sorted(keys), result.plan
    np.testing.assert_allclose(result.scores, scores, rtol=1e-4, atol=1e-4)


def delete(vt: VectorTable, predicate: str) -> None:
    """A copy-on-write DELETE: files holding matching rows are rewritten without them."""
    if vt.format == "delta":
        vt.delta.delete(predicate)
    else:
        vt.iceberg.delete(predicate)
    vt.refresh()


def replace_rows(vt: VectorTable, rows: pa.Table) -> None:
    """Replace the rows with ``rows``' keys by ``rows`` in one commit (Iceberg overwrite, Delta replaceWhere)."""
    keys = rows.column("key").to_pylist()
    target = vt.iceberg.schema().as_arrow() if vt.format == "iceberg" else vt.schema()
    storage = pa.Table.from_arrays([rows.column(f.name).cast(f.type) for f in target], schema=target)
    if vt.format == "delta":
        quoted = ", ".join(f"'{k}'" for k in keys)
        write_deltalake(vt.delta, storage, mode="overwrite", predicate=f"key IN ({quoted})")
    else:
        vt.iceberg.overwrite(storage, overwrite_filter=In("key", keys))
    vt.refresh()


def rewrite(vt: VectorTable, rng: np.random.Generator, keys: list[str], start: int) -> None:
    """An overwrite (copy-on-write): the rows with ``keys`` are replaced by new rows with new vectors."""
    replace_rows(vt, batch(rng, start, len(keys)).set_column(0, "key", pa.array(keys)))


def set_property(vt: VectorTable, key: str, value: str) -> None:
    if vt.format == "delta":
        vt.delta.alter.set_table_properties({key: value}, raise_if_not_exists=False)
    else:
        with vt.iceberg.transaction() as tx:
            tx.set_properties({key: value})
    vt.refresh()


def indexed_at(vt: VectorTable, settings) -> int | None:  # noqa: ANN001
    """The snapshot the index says it is at; an Iceberg table records it too, a Delta table must not (a version)."""
    recorded = IndexStore(vt.refresh(), "embedding", settings=settings).indexed_snapshot()
    prop = vt.properties.get(snapshot_property("embedding"))
    assert prop == (str(recorded) if vt.format == "iceberg" and recorded is not None else None)
    return recorded


@pytest.mark.parametrize("metric", ["cosine", "l2", "dot"])
def test_interleaved_changes_always_match_exact_search(settings, metric, fmt):  # noqa: ANN001
    rng = np.random.default_rng(7)
    vt = new_table(settings, rng, 2000, metric=metric, fmt=fmt)
    build(
        vt,
        "embedding",
        index_type="ivf_flat",
        store=["lang"],
        settings=settings,
        num_partitions=8,
        retention=timedelta(0),
    )
    index = open_index(vt, "embedding", settings=settings)
    next_id, tagged, paths = 100_000, {}, set()
    for step in range(14):
        op = (
            ["append", "delete", "overwrite", "refresh"][step % 4]
            if step < 4
            else rng.choice(["append", "delete", "overwrite", "refresh"])
        )
        if op == "append":
            vt.append(batch(rng, next_id, int(rng.integers(50, 400))))
            next_id += 1000
        elif op == "delete":
            lo = int(rng.integers(0, 1500))
            delete(vt, f"n >= {lo} and n < {lo + 150}")
        elif op == "overwrite":
            keys = vt.to_arrow(columns=["key"]).column("key").to_pylist()
            rewrite(vt, rng, [str(k) for k in rng.choice(keys, 40, replace=False)], next_id)
            next_id += 1000
        else:
            refresh(vt, "embedding", settings=settings, retention=timedelta(0))
            tagged[vt.snapshot_id] = vt.count()
        vt.refresh()
        for _ in range(3):
            q = rng.normal(size=DIM).astype(np.float32) * 3
            for where in (None, "lang = 'fr'", "lang in ('en', 'de')"):
                res = index.search(q, 10, where=where, nprobes=8)
                paths.add(res.plan.path)
                assert_same(res, exact(vt, q, 10, where=where))
    assert {"index", "index+tail"} <= paths
    # as of every snapshot an index version was tagged with (the retention keeps the last 10)
    q = rng.normal(size=DIM).astype(np.float32)
    for snap in list(tagged)[-3:]:
        res = index.search(q, 10, as_of=snap, nprobes=8, where="lang = 'es'")
        assert res.plan.path == "index" and res.plan.snapshot_id == snap
        assert_same(res, exact(vt, q, 10, snapshot_id=snap, where="lang = 'es'"))


def test_refresh_twice_is_a_noop_and_reads_only_changes(settings, fmt):  # noqa: ANN001
    rng = np.random.default_rng(1)
    vt = new_table(settings, rng, 1500, fmt=fmt)
    first = build(vt, "embedding", index_type="ivf_pq", settings=settings)
    assert first.action == "build" and first.trained
    vt.append(batch(rng, 50_000, 300))
    res = refresh(vt, "embedding", settings=settings, fold_threshold=0.1)
    assert (res.action, res.files_added, res.files_removed, res.rows_added) == ("incremental", 1, 0, 300)
    assert res.folded  # 300 / 1800 > 10%: folded into the ANN structure
    table_snapshot = vt.refresh().snapshot_id
    again = refresh(vt, "embedding", settings=settings)
    assert again.action == "noop" and again.lance_version == res.lance_version
    st = status(vt, "embedding", settings=settings)
    assert st.up_to_date and st.rows == 1800 and st.rows_outside_ann == 0 and st.table_rows_not_indexed == 0
    assert st.index_type == "ivf_pq" and st.size_bytes
    # recording where the index is never moves the table (a Delta version would)
    assert indexed_at(vt, settings) == vt.snapshot_id == table_snapshot


def test_folds_add_delta_segments_then_merge_then_retrain_and_search_stays_exact(settings, fmt):  # noqa: ANN001
    rng = np.random.default_rng(11)
    vt = new_table(settings, rng, 2000, fmt=fmt)
    # IVF_FLAT probed in all 4 partitions of every segment: the ANN answer must be the exact one
    build(vt, "embedding", index_type="ivf_flat", store=["lang"], settings=settings, num_partitions=4)
    policy = FoldPolicy(threshold=0.05, max_segments=3, retrain_share=0.4)
    index = open_index(vt, "embedding", settings=settings)

    def check() -> None:
        for _ in range(3):
            q = rng.normal(size=DIM).astype(np.float32) * 3
            for where in (None, "lang = 'fr'"):
                res = index.search(q, 10, where=where, nprobes=4, exact_filter_rows=0)
                assert res.plan.path == "index"
                assert_same(res, exact(vt, q, 10, where=where))

    # rows since training / all rows: 400/2400, 800/2800, 1200/3200, 1600/3600 (> 0.4), then 400/4000
    expected = [("delta", 2), ("delta", 3), ("merge", 2), ("retrain", 1), ("delta", 2)]
    for step, (kind, segments) in enumerate(expected):
        vt.append(batch(rng, 100_000 + 1000 * step, 400))
        res = refresh(vt, "embedding", settings=settings, fold_policy=policy)
        assert res.folded and (res.merged, res.trained) == (kind == "merge", kind == "retrain"), res.notes
        assert (res.segments, res.rows_outside_ann) == (segments, 0)
        st = status(vt, "embedding", settings=settings)
        assert (st.ann_segments, st.rows_outside_ann, st.rows) == (segments, 0, vt.count())
        assert st.rows_since_training == (0 if kind == "retrain" else 400 * (step + 1) if step < 3 else 400)
        assert st.params["num_partitions"] == 4  # set at build: kept when a retraining chooses parameters again
        check()
    # deleting rows held by the delta segment: their keys are gone from search, nothing else moves
    delete(vt, "n >= 104000 and n < 104100")
    res = refresh(vt, "embedding", settings=settings, fold_policy=policy)
    assert not res.folded and res.segments == 2
    assert status(vt, "embedding", settings=settings).ann_segments == 2
    check()
    # below the threshold nothing is folded: the new rows are scanned exactly until the next fold
    vt.append(batch(rng, 200_000, 50))
    res = refresh(vt, "embedding", settings=settings, fold_policy=policy)
    assert (res.folded, res.segments, res.rows_outside_ann) == (False, 2, 50)
    assert status(vt, "embedding", settings=settings).rows_outside_ann == 50
    check()
    with pytest.raises(VectorIndexError, match="at least 2"):
        FoldPolicy(max_segments=1)


def test_delta_merges_are_size_tiered() -> None:
    from lakehouse.index.refresh import _tail_to_merge

    # the latest delta with the new rows, then older ones no bigger than the merge so far
    assert _tail_to_merge([400, 400], 400) == 2
    assert _tail_to_merge([80, 60, 20], 20) == 1  # 20+20: the older 60 stays
    assert _tail_to_merge([80, 60, 40], 20) == 3  # 40+20 absorbs 60, then 80
    assert _tail_to_merge([500], 10) == 1  # always at least one, or the segment count would grow


def test_filter_matching_at_least_k_rows_returns_k(settings, fmt):  # noqa: ANN001
    rng = np.random.default_rng(3)
    vt = new_table(settings, rng, 3000, fmt=fmt)
    build(vt, "embedding", index_type="ivf_pq", store=["lang", "n"], settings=settings, num_partitions=32)
    index = open_index(vt, "embedding", settings=settings)
    q = rng.normal(size=DIM).astype(np.float32)
    where = "n >= 1000 and n < 1012"  # 12 rows, scattered over the partitions
    for threshold in (0, 10_000):  # forced through prefiltered ANN, then the exact-over-filtered path
        res = index.search(q, 10, where=where, nprobes=1, exact_filter_rows=threshold)
        assert len(res) == 10
        assert_same(res, exact(vt, q, 10, where=where))
    # a filter on a column the index does not store is answered exactly over the table
    vt2 = new_table(settings, rng, 500, fmt=fmt)
    build(vt2, "embedding", store=["lang"], settings=settings)
    res = open_index(vt2, "embedding", settings=settings).search(q, 5, where="n < 100")
    assert res.plan.path == "exact" and "does not store" in res.plan.reason
    assert_same(res, exact(vt2, q, 5, where="n < 100"))


@pytest.mark.parametrize("step", ["relabelled", "deleted", "appended", "folded"])
def test_refresh_killed_midway_leaves_last_good_index_and_is_completed(settings, step, fmt):  # noqa: ANN001
    rng = np.random.default_rng(5)
    vt = new_table(settings, rng, 1000, fmt=fmt)
    build(vt, "embedding", index_type="ivf_flat", store=["lang"], settings=settings, num_partitions=4)
    indexed = vt.snapshot_id
    vt.append(batch(rng, 10_000, 500))
    delete(vt, "n < 100")

    def die(at: str) -> None:
        if at == step:
            raise RuntimeError(f"killed after {at}")

    with pytest.raises(RuntimeError, match="killed"):
        refresh(vt, "embedding", settings=settings, checkpoint=die)
    assert indexed_at(vt, settings) == indexed
    index = open_index(vt, "embedding", settings=settings)
    q = rng.normal(size=DIM).astype(np.float32)
    res = index.search(q, 10, nprobes=4)
    assert res.plan.path == "index+tail"
    assert_same(res, exact(vt, q, 10))
    done = refresh(vt, "embedding", settings=settings)
    assert done.action == "incremental" and any("interrupted" in n for n in done.notes)
    res = open_index(vt, "embedding", settings=settings).search(q, 10, nprobes=4)
    assert res.plan.path == "index"
    assert_same(res, exact(vt, q, 10))
    assert status(vt, "embedding", settings=settings).rows == vt.count()


def test_copy_on_write_rewrites_are_matched_by_key(settings, fmt):  # noqa: ANN001
    rng = np.random.default_rng(31)
    vt = new_table(settings, rng, 3000, fmt=fmt)
    build(vt, "embedding", index_type="ivf_flat", store=["lang"], settings=settings, num_partitions=8)
    index = open_index(vt, "embedding", settings=settings)
    q = rng.normal(size=DIM).astype(np.float32)

    def check(where: str | None = None) -> None:
        res = index.search(q, 10, where=where, nprobes=8)
        assert res.plan.path == "index"
        assert_same(res, exact(vt, q, 10, where=where))

    # a 1% delete rewrites the single data file: the 2,970 surviving rows stay in place, inside the ANN structure
    delete(vt, "n < 30")
    res = refresh(vt, "embedding", settings=settings)
    assert (res.action, res.rows_added) == ("incremental", 0) and any("2970 rows" in n for n in res.notes)
    st = status(vt, "embedding", settings=settings)
    assert st.rows == 2970 and st.rows_outside_ann == 0
    check()
    check("lang = 'fr'")
    # the same keys with new vectors (an UPDATE/MERGE) are re-inserted, and so is a changed stored column
    keys = [f"k{i:06d}" for i in range(100, 140)]
    rewrite(vt, rng, keys, 200_000)
    res = refresh(vt, "embedding", settings=settings)
    assert res.rows_added == 40
    check()
    rows = vt.to_arrow(columns=["key", "lang", "n", "embedding"], row_filter="key in ('k000200', 'k000201')")
    replace_rows(vt, rows.set_column(1, "lang", pa.array(["zz", "zz"])))
    res = refresh(vt, "embedding", settings=settings)
    assert res.rows_added == 2
    check("lang = 'zz'")
    assert sorted(index.search(q, 10, where="lang = 'zz'").keys) == ["k000200", "k000201"]
    # a later refresh deletes by the new file labels: delete everything the rewrites touched
    delete(vt, "n >= 2000")
    refresh(vt, "embedding", settings=settings)
    assert status(vt, "embedding", settings=settings).rows == vt.count()
    check()


def test_concurrent_refresh_fails_clearly(settings, fmt):  # noqa: ANN001
    rng = np.random.default_rng(9)
    vt = new_table(settings, rng, 300, fmt=fmt)
    build(vt, "embedding", settings=settings)
    with IndexStore(vt, "embedding", settings=settings).lock():
        with pytest.raises(VectorIndexError, match="another process") as info:
            refresh(vt, "embedding", settings=settings)
    assert info.value.problem == "locked"
    assert refresh(vt, "embedding", settings=settings).action == "noop"


def test_as_of_untagged_snapshot_falls_back_to_exact(settings, fmt):  # noqa: ANN001
    rng = np.random.default_rng(11)
    vt = new_table(settings, rng, 400, fmt=fmt)
    old = vt.snapshot_id
    vt.append(batch(rng, 5000, 100))
    vt.refresh()
    build(vt, "embedding", settings=settings)
    q = rng.normal(size=DIM).astype(np.float32)
    res = open_index(vt, "embedding", settings=settings).search(q, 7, as_of=old)
    assert res.plan.path == "exact" and "no index version is tagged" in res.plan.reason
    assert_same(res, exact(vt, q, 7, snapshot_id=old))


def test_spec_change_rebuilds_and_auto_upgrades(settings, fmt):  # noqa: ANN001
    rng = np.random.default_rng(13)
    vt = new_table(settings, rng, 300, fmt=fmt)
    assert build(vt, "embedding", settings=settings).action == "build"
    assert status(vt, "embedding", settings=settings).index_type == "flat"
    set_property(vt, "lakehouse.vector.embedding.model-version", "2")
    res = refresh(vt, "embedding", settings=settings)
    assert res.action == "rebuild" and "spec" in res.reason
    assert refresh(vt, "embedding", settings=settings).action == "noop"


def test_auto_switches_type_at_a_retraining_not_on_the_refresh_that_crossed_the_line(settings, fmt, monkeypatch):  # noqa: ANN001
    build_module = importlib.import_module("lakehouse.index.build")  # the package exports a function of that name
    monkeypatch.setattr(build_module, "FLAT_MAX_ROWS", 300)
    monkeypatch.setattr(build_module, "PQ_MAX_ROWS", 1000)
    rng = np.random.default_rng(19)
    vt = new_table(settings, rng, 1000, fmt=fmt)
    build(vt, "embedding", settings=settings)
    assert status(vt, "embedding", settings=settings).index_type == "ivf_pq"
    policy = FoldPolicy(threshold=0.01, max_segments=4, retrain_share=0.4)
    vt.append(batch(rng, 1000, 20))  # 1,020 rows: auto now says ivf_hnsw_sq, but a fold is enough
    res = refresh(vt, "embedding", settings=settings, fold_policy=policy)
    assert (res.action, res.trained, res.folded) == ("incremental", False, True), res.notes
    assert status(vt, "embedding", settings=settings).index_type == "ivf_pq"
    vt.append(batch(rng, 1020, 700))  # 700 of 1,720 rows since training: retrain, and switch type with it
    res = refresh(vt, "embedding", settings=settings, fold_policy=policy)
    assert res.trained and any("auto: ivf_pq -> ivf_hnsw_sq" in n for n in res.notes), res.notes
    assert status(vt, "embedding", settings=settings).index_type == "ivf_hnsw_sq"
    q = rng.normal(size=DIM).astype(np.float32)
    found = open_index(vt, "embedding", settings=settings).search(q, 5, nprobes=64, refine_factor=50)
    assert set(found.keys) & set(exact(vt, q, 5)[0])


def test_bad_input_gets_clear_errors(settings, fmt):  # noqa: ANN001
    rng = np.random.default_rng(17)
    vt = new_table(settings, rng, 200, model="hash-32", fmt=fmt)
    build(vt, "embedding", store=["lang"], settings=settings)
    index = open_index(vt, "embedding", settings=settings)
    with pytest.raises(VectorValidationError, match="16-d"):
        index.search(np.ones(15), 5)
    with pytest.raises(VectorSpecError):
        open_index(vt, "nope", settings=settings)
    with pytest.raises(VectorIndexError, match="does not parse"):
        index.search(np.ones(DIM), 5, where="lang = ")
    with pytest.raises(VectorIndexError, match="Could not find field"):
        index.search(np.ones(DIM), 5, where="colour = 'red'")
    with pytest.raises(VectorIndexError, match="no snapshot 42"):
        index.search(np.ones(DIM), 5, as_of=42)
    with pytest.raises(ModelError, match="32-d"):
        index.search("some text", 5)
    with pytest.raises(VectorIndexError, match="cannot store"):
        build(vt, "embedding", store=["missing"], settings=settings)
    vt_no_index = new_table(settings, rng, 50, fmt=fmt)
    with pytest.raises(VectorIndexError, match="no index"):
        VectorIndex.open(vt_no_index, "embedding", settings=settings)
    q = rng.normal(size=DIM).astype(np.float32)
    res = search(vt_no_index, "embedding", q, 3, settings=settings)
    assert res.plan.path == "exact" and "no index" in res.plan.reason
    assert_same(res, exact(vt_no_index, q, 3))


def test_text_query_uses_the_column_model(settings, fmt):  # noqa: ANN001
    from lakehouse.embed import get_model

    rng = np.random.default_rng(19)
    schema = pa.schema([("key", pa.string()), ("text", pa.string()), ("embedding", pa.list_(pa.float32()))])
    vt = VectorTable.create(
        f"idx.t{uuid.uuid4().hex[:10]}",
        schema,
        key="key",
        settings=settings,
        vectors=[VectorSpec("embedding", dim=16, model="hash-16")],
        format=fmt,
    )
    texts = [f"document number {i} about {w}" for i, w in enumerate(rng.choice(["cats", "dogs", "tax"], 300))]
    m = get_model("hash-16").embed(texts)
    vt.append(
        {
            "key": [str(i) for i in range(300)],
            "text": texts,
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), type=vector_type(16)),
        }
    )
    build(vt.refresh(), "embedding", settings=settings)
    res = vt.index("embedding", settings=settings).search(texts[42], 1)
    assert res.keys == ["42"]


def test_cli_build_status_search(settings, fmt):  # noqa: ANN001
    from lakehouse.cli.main import cli

    rng = np.random.default_rng(23)
    vt = new_table(settings, rng, 600, fmt=fmt)
    env = {"LAKEHOUSE__CATALOG__URI": settings.catalog.uri, "LAKEHOUSE__WAREHOUSE": settings.warehouse}
    env["LAKEHOUSE__CATALOG__CREDENTIAL"] = str(settings.catalog.credential)
    runner = CliRunner()
    home = ["--home", str(settings.home)]
    r = runner.invoke(
        cli, [*home, "index", "build", vt.identifier, "--format", fmt, "--store", "lang", "-o", "json"], env=env
    )
    assert r.exit_code == 0, r.output
    vt.append(batch(rng, 9000, 20))
    r = runner.invoke(cli, [*home, "index", "status", vt.identifier, "--format", fmt, "-o", "json"], env=env)
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)[0]
    assert info["table_rows_not_indexed"] == 20 and not info["up_to_date"]
    q = rng.normal(size=DIM).astype(np.float32)
    r = runner.invoke(
        cli,
        [
            *home,
            "index",
            "search",
            vt.identifier,
            "--format",
            fmt,
            "--vector",
            json.dumps(q.tolist()),
            "-k",
            "5",
            "--where",
            "lang = 'en'",
            "--explain",
            "-o",
            "json",
        ],
        env=env,
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["plan"]["path"] == "index+tail"
    vt.refresh()
    assert sorted(row["key"] for row in out["rows"]) == sorted(exact(vt, q, 5, where="lang = 'en'")[0])
    r = runner.invoke(cli, [*home, "index", "search", vt.identifier, "--format", fmt, "--vector", "[1, 2]"], env=env)
    assert r.exit_code != 0 and "16-d" in r.output
    r = runner.invoke(cli, [*home, "index", "refresh", vt.identifier, "--format", fmt, "-o", "json"], env=env)
    assert r.exit_code == 0 and json.loads(r.output)[0]["action"] == "incremental"


def test_refresh_job_main(settings, monkeypatch, capsys, fmt):  # noqa: ANN001
    from jobs.refresh_index import main

    rng = np.random.default_rng(29)
    vt = new_table(settings, rng, 200, fmt=fmt)
    monkeypatch.setenv("LAKEHOUSE__CATALOG__URI", settings.catalog.uri)
    monkeypatch.setenv("LAKEHOUSE__CATALOG__CREDENTIAL", str(settings.catalog.credential))
    monkeypatch.setenv("LAKEHOUSE__WAREHOUSE", settings.warehouse)
    monkeypatch.setenv("LAKEHOUSE_HOME", str(settings.home))
    assert main(["--table", vt.identifier, "--format", fmt, "--store", "lang"]) == 0
    assert json.loads(capsys.readouterr().out)["action"] == "build"
    assert main(["--table", vt.identifier, "--format", fmt]) == 0
    assert json.loads(capsys.readouterr().out)["action"] == "noop"
