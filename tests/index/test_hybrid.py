"""Hybrid search (BM25 + vector, reciprocal rank fusion) on a tiny corpus where the two legs disagree."""

from __future__ import annotations

import uuid

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.errors import SqlError, VectorIndexError
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


@pytest.fixture(scope="module")
def text_table(lake_settings):  # noqa: ANN001, ANN201
    """The same texts embedded with the hashing model, so SQL can embed the query text itself."""
    from lakehouse.embed import get_model

    model = get_model("hash-16")
    texts = {k: t for k, (t, _) in ROWS.items()} | {"e": "analyze collects planner statistics"}
    vectors = np.asarray(model.embed(list(texts.values())), np.float32)
    schema = pa.schema(
        [
            ("key", pa.string()),
            ("chunk_index", pa.int32()),
            ("chunk_text", pa.string()),
            ("embedding", pa.list_(pa.float32())),
        ]
    )
    vt = VectorTable.create(
        f"hyb.s{uuid.uuid4().hex[:10]}",
        schema,
        key="key",
        settings=lake_settings,
        vectors=[VectorSpec("embedding", dim=16, metric="cosine", model="hash-16", model_version=model.version)],
    )
    vt.append(
        pa.table(
            {
                "key": list(texts),
                "chunk_index": pa.array([0, 1, 0, 1, 0], pa.int32()),
                "chunk_text": list(texts.values()),
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), type=vector_type(16)),
            }
        )
    )
    build(vt, "embedding", store=["chunk_index"], text="chunk_text", settings=lake_settings)
    return vt.refresh()


def test_sql_hybrid_search_duckdb(text_table, lake_settings) -> None:  # noqa: ANN001
    from lakehouse.sql import query
    from lakehouse.sql.api import explain

    vt = text_table
    api = hybrid_search(open_index(vt, "embedding", settings=lake_settings), "planner statistics vacuum", 3)
    sql = (
        f"SELECT h.key, h.chunk_text, h.score, h.text_rank FROM hybrid_search(table => '{vt.identifier}', "
        "column => 'embedding', query => 'planner statistics vacuum', k => 3) AS h ORDER BY h.score DESC"
    )
    out = query(sql, settings=lake_settings)
    assert out.column("key").to_pylist() == api.keys
    assert out.column("score").to_pylist() == pytest.approx(api.scores.tolist(), abs=1e-12)
    assert out.column("text_rank").to_pylist() == api.table.column("text_rank").to_pylist()
    assert out.column("chunk_text").to_pylist() == api.table.column("chunk_text").to_pylist()
    # options and filter reach the search; an empty answer is an empty relation with the same columns
    weighted = query(
        f"SELECT key FROM hybrid_search(table => '{vt.identifier}', column => 'embedding', query => 'vacuum', k => 2, "
        "filter => 'chunk_index = 1', text_weight => 0.25, rrf_k => 10) ORDER BY score DESC",
        settings=lake_settings,
    )
    index = open_index(vt, "embedding", settings=lake_settings)
    want = hybrid_search(index, "vacuum", 2, where="chunk_index = 1", fusion=Fusion(text_weight=0.25, rrf_k=10))
    assert weighted.column("key").to_pylist() == want.keys
    none = query(
        f"SELECT * FROM hybrid_search(table => '{vt.identifier}', column => 'embedding', query => 'vacuum', k => 2, "
        "filter => 'chunk_index = 7')",
        settings=lake_settings,
    )
    assert none.num_rows == 0 and {"embedding", "score", "text_rank"} <= set(none.column_names)
    plan = explain(sql, settings=lake_settings)
    assert "hybrid_search(" in plan and "reciprocal rank fusion" in plan
    with pytest.raises(SqlError, match="no argument 'weight'"):
        query(
            f"SELECT * FROM hybrid_search('{vt.identifier}', 'embedding', 'x', 2, weight => 1)",
            settings=lake_settings,
        )
    with pytest.raises(SqlError, match="k must be a positive integer"):
        query(f"SELECT * FROM hybrid_search('{vt.identifier}', 'embedding', 'x', 0)", settings=lake_settings)


def test_sql_hybrid_search_does_not_transpile(text_table, lake_settings) -> None:  # noqa: ANN001
    from lakehouse.sql.transpile import transpile

    with pytest.raises(SqlError, match="lakehouse engines only"):
        transpile(
            f"SELECT * FROM hybrid_search('{text_table.identifier}', 'embedding', 'x', 2)",
            "snowflake",
            settings=lake_settings,
        )


@pytest.mark.spark
def test_sql_hybrid_search_spark(text_table, lake_settings, spark) -> None:  # noqa: ANN001
    from lakehouse.sql import query

    vt = text_table
    sql = (
        f"SELECT h.key, h.score FROM hybrid_search(table => '{vt.identifier}', column => 'embedding', "
        "query => 'planner statistics vacuum', k => 3) AS h ORDER BY h.score DESC"
    )
    duck = query(sql, settings=lake_settings)
    on_spark = query(sql, engine="spark", settings=lake_settings, spark=spark)
    assert on_spark.column("key").to_pylist() == duck.column("key").to_pylist()
    assert on_spark.column("score").to_pylist() == pytest.approx(duck.column("score").to_pylist(), abs=1e-12)


def test_table_function_arguments_positional_then_named() -> None:
    import sqlglot

    from lakehouse.sql.dialect import HybridSearch, VectorSearch

    vs = sqlglot.parse_one("SELECT * FROM vector_search('t', 'v', [1, 0], 3, filter => 'n = 1')", read="lakehouse")
    node = vs.find(VectorSearch)
    assert node is not None and node.args["k"].this == "3" and node.args["filter"].this == "n = 1"
    hs = sqlglot.parse_one("SELECT * FROM hybrid_search('t', 'v', 'text', 3, rrf_k => 10)", read="lakehouse")
    assert hs.find(HybridSearch).args["rrf_k"].this == "10"
    with pytest.raises(SqlError, match="positional arguments must come before named ones"):
        sqlglot.parse_one("SELECT * FROM hybrid_search(table => 't', 'v', 'text', 3)", read="lakehouse")
