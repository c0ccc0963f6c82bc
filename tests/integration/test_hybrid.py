"""Hybrid search (BM25 + vector, reciprocal rank fusion) on a tiny corpus where the two legs disagree."""

from __future__ import annotations

import uuid

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.errors import VectorIndexError
from lakehouse.index import build, open_index, refresh
from lakehouse.index.fulltext import bm25, tokens
from lakehouse.index.hybrid import Fusion, hybrid_search, rrf
from lakehouse.table import VectorTable
from lakehouse.vector import VectorSpec, vector_type

pytestmark = pytest.mark.integration
DIM = 4
Q = np.array([0.0, 1.0, 0.0, 0.0], np.float32)
# vector order for Q: b (1.0), c (0.8), a (0.6), d (0.0); BM25 order for "vacuum": d (twice, short), a ("autovacuum"
# in b is another token, c has none)
ROWS = {
    "a": ("vacuum reclaims storage of dead rows in the table", [0.8, 0.6, 0.0, 0.0]),
    "b": ("the autovacuum daemon and its settings", [0.0, 1.0, 0.0, 0.0]),
    "c": ("the planner uses column statistics", [0.6, 0.8, 0.0, 0.0]),
    "d": ("vacuum full vacuum", [0.0, 0.0, 1.0, 0.0]),
}


@pytest.fixture(scope="module")
def settings(lake_settings):  # noqa: ANN001, ANN201
    return lake_settings


def rows(items: dict[str, tuple[str, list[float]]]) -> pa.Table:
    flat = np.array([v for _, v in items.values()], np.float32).ravel()
    return pa.table(
        {
            "key": list(items),
            "chunk_index": pa.array([0] * len(items), pa.int32()),
            "chunk_text": [t for t, _ in items.values()],
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(flat), type=vector_type(DIM)),
        }
    )


def new_table(settings, fmt="iceberg"):  # noqa: ANN001, ANN201
    schema = pa.schema(
        [
            ("key", pa.string()),
            ("chunk_index", pa.int32()),
            ("chunk_text", pa.string()),
            ("embedding", pa.list_(pa.float32())),
        ]
    )
    vt = VectorTable.create(
        f"hyb.t{uuid.uuid4().hex[:10]}",
        schema,
        key="key",
        settings=settings,
        vectors=[VectorSpec("embedding", dim=DIM, metric="cosine")],
        format=fmt,
    )
    vt.append(rows(ROWS))
    return vt.refresh()


def expected(vector_ranks: dict[str, int], text_ranks: dict[str, int], wv: float, wt: float, k: float) -> dict:
    keys = set(vector_ranks) | set(text_ranks)
    return {
        kk: (wv / (k + vector_ranks[kk]) if kk in vector_ranks else 0.0)
        + (wt / (k + text_ranks[kk]) if kk in text_ranks else 0.0)
        for kk in keys
    }


def test_rrf_math_and_options() -> None:
    assert rrf([(["a", "b"], 1.0), (["b", "c"], 2.0)], rrf_k=0) == {"a": 1.0, "b": 0.5 + 2.0, "c": 1.0}
    with pytest.raises(VectorIndexError, match="both weights are 0"):
        Fusion(vector_weight=0, text_weight=0)
    with pytest.raises(VectorIndexError, match="depth=0"):
        Fusion(depth=0)
    assert tokens("What is VACUUM FULL?") == ["vacuum", "full"]
    assert list(bm25(["x", "vacuum"], "vacuum") > 0) == [False, True]


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_fusion_where_the_legs_disagree(settings, fmt) -> None:  # noqa: ANN001
    vt = new_table(settings, fmt)
    build(vt, "embedding", text="chunk_text", settings=settings)
    index = open_index(vt, "embedding", settings=settings)
    assert index.meta.text == ("chunk_text",) and "chunk_text" in index.meta.store

    vec_only = index.search(Q, 4)
    assert vec_only.keys == ["b", "c", "a", "d"]
    hits = hybrid_search(index, "vacuum", 4, vector=Q)
    table = hits.table
    assert dict(zip(hits.keys, table.column("text_rank").to_pylist(), strict=True)) == {
        "d": 1,
        "a": 2,
        "b": None,
        "c": None,
    }
    want = expected({"b": 1, "c": 2, "a": 3, "d": 4}, {"d": 1, "a": 2}, 1.0, 1.0, 60)
    # d: 1/64 + 1/61 = 0.032018 beats a: 1/63 + 1/62 = 0.032002, then b (1/61), c (1/62)
    assert hits.keys == ["d", "a", "b", "c"]
    assert hits.scores.tolist() == pytest.approx([want[kk] for kk in hits.keys], abs=1e-15)
    assert table.column("vector_rank").to_pylist() == [4, 3, 1, 2]
    assert table.column("chunk_text").to_pylist()[0] == ROWS["d"][0]
    assert any("reciprocal rank fusion" in n for n in hits.plan.notes)

    # weights: a small text weight keeps the vector order; k=1 sharpens the curve
    assert hybrid_search(index, "vacuum", 4, vector=Q, fusion=Fusion(text_weight=0.01)).keys == ["b", "c", "a", "d"]
    sharp = hybrid_search(index, "vacuum", 2, vector=Q, fusion=Fusion(rrf_k=1, vector_weight=2.0))
    want = expected({"b": 1, "c": 2, "a": 3, "d": 4}, {"d": 1, "a": 2}, 2.0, 1.0, 1)
    assert sharp.keys == ["b", "d"]  # b: 2/2 = 1.0; d: 2/5 + 1/2 = 0.9; a: 2/4 + 1/3 = 0.833; c: 2/3
    assert sharp.scores.tolist() == pytest.approx([want["b"], want["d"]], abs=1e-15)
    assert want["b"] == 1.0 and want["d"] == pytest.approx(0.9)

    # a filter applies to both legs; k limits the fused list
    only_a = hybrid_search(index, "vacuum", 1, vector=Q, where="key IN ('a', 'c')")
    assert only_a.keys == ["a"]


def test_text_leg_follows_the_table(settings) -> None:  # noqa: ANN001
    vt = new_table(settings)
    build(vt, "embedding", text="chunk_text", settings=settings)
    vt.append(rows({"e": ("vacuum vacuum vacuum", [0.0, 0.0, 0.0, 1.0])}))
    vt = vt.refresh()
    index = open_index(vt, "embedding", settings=settings)
    lagging = hybrid_search(index, "vacuum", 5, vector=Q)
    assert lagging.plan.path == "index+tail"
    assert "e" in lagging.keys and lagging.table.column("text_rank").to_pylist()[lagging.keys.index("e")] == 1
    assert any("newer than the index" in n for n in lagging.plan.notes)

    refresh(vt, "embedding", settings=settings)
    index = open_index(vt.refresh(), "embedding", settings=settings)
    assert index.meta.text == ("chunk_text",)
    fresh = hybrid_search(index, "vacuum", 5, vector=Q)
    assert fresh.plan.path == "index"
    ranks = dict(zip(fresh.keys, fresh.table.column("text_rank").to_pylist(), strict=True))
    # scores as a fresh build gives them (Lance ranks rows its index does not cover with their own statistics)
    assert ranks["e"] == 1 and ranks["d"] == 2 and ranks["a"] == 3

    # a rebuild keeps the text index
    refresh(vt, "embedding", settings=settings, index_type="flat")
    assert open_index(vt.refresh(), "embedding", settings=settings).meta.text == ("chunk_text",)


def test_errors(settings) -> None:  # noqa: ANN001
    vt = new_table(settings)
    build(vt, "embedding", settings=settings)
    index = open_index(vt, "embedding", settings=settings)
    with pytest.raises(VectorIndexError, match="no full-text index") as err:
        hybrid_search(index, "vacuum", 3, vector=Q)
    assert "--text chunk_text" in (err.value.hint or "")
    with pytest.raises(VectorIndexError, match="needs the query text"):
        hybrid_search(index, "  ", 3, vector=Q)
    with pytest.raises(VectorIndexError, match="not string columns"):
        build(vt, "embedding", text="chunk_index", settings=settings)


def test_cli_build_text_and_search_hybrid(settings) -> None:  # noqa: ANN001
    import json

    from click.testing import CliRunner

    from lakehouse.cli.main import cli

    vt = new_table(settings)
    env = {"LAKEHOUSE__CATALOG__URI": settings.catalog.uri, "LAKEHOUSE__WAREHOUSE": settings.warehouse}
    env["LAKEHOUSE__CATALOG__CREDENTIAL"] = str(settings.catalog.credential)
    home = ["--home", str(settings.home)]
    runner = CliRunner()
    r = runner.invoke(cli, [*home, "index", "build", vt.identifier, "--text", "chunk_text", "-o", "json"], env=env)
    assert r.exit_code == 0, r.output
    search = [*home, "index", "search", vt.identifier, "--text", "vacuum", "--vector", json.dumps(Q.tolist())]
    r = runner.invoke(cli, [*search, "--hybrid", "-k", "4", "--no-serve", "-o", "json"], env=env)
    assert r.exit_code == 0, r.output
    assert [row["key"] for row in json.loads(r.output)] == ["d", "a", "b", "c"]
    r = runner.invoke(cli, [*search, "--hybrid", "--text-weight", "0.01", "--no-serve", "-o", "json"], env=env)
    assert [row["key"] for row in json.loads(r.output)] == ["b", "c", "a", "d"]
    r = runner.invoke(cli, [*search, "--no-serve"], env=env)
    assert r.exit_code != 0 and "exactly one of --text or --vector" in r.output
