"""The analyst queries on DuckDB: the issue's two examples, the ANN rewrite vs exact, every fallback, EXPLAIN."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.embed import get_model
from lakehouse.errors import ModelError, SqlError, SqlPlanError, TableNotFoundError

pytestmark = pytest.mark.integration

EXAMPLE_1 = """
SELECT d.title, e.chunk_start, cosine_similarity(e.embedding, embed('how do I retry a failed commit')) AS score
FROM lake.sqlt.embeddings e JOIN lake.sqlt.documents d ON d.key = e.source_key
WHERE d.mime = 'text/html'
ORDER BY score DESC LIMIT 10;
"""
EXAMPLE_2 = """
SELECT * FROM vector_search(table => 'lake.sqlt.embeddings', column => 'embedding',
                            query => embed('snapshot isolation'), k => 5, filter => 'chunk_index = 0');
"""


def _numpy_top(sql_tables, text: str, k: int, keep=lambda row: True):  # noqa: ANN001, ANN202
    rows = [r for r in sql_tables["embeddings"].to_arrow().to_pylist() if keep(r)]
    m = np.array([r["embedding"] for r in rows], dtype=np.float32)
    q = get_model("hash-16").embed([text])[0]
    s = (m @ q) / (np.linalg.norm(m, axis=1) * np.linalg.norm(q))
    order = np.argsort(-s, kind="stable")[:k]
    return [rows[i] for i in order], s[order]


def test_example_1_join_with_filter_takes_the_index_with_a_semijoin_prefilter(duck, sql_tables) -> None:  # noqa: ANN001
    result = duck.query(EXAMPLE_1)
    assert duck.last["path"] == "ann", duck.last["reason"]
    html = {r["key"] for r in sql_tables["documents"].to_arrow().to_pylist() if r["mime"] == "text/html"}
    expected, scores = _numpy_top(sql_tables, "how do I retry a failed commit", 10, lambda r: r["source_key"] in html)
    assert result.column_names == ["title", "chunk_start", "score"]
    assert result.num_rows == 10
    np.testing.assert_allclose(result.column("score").to_numpy(), scores, rtol=1e-5)
    exact = duck.executor.execute(_exact_plan(duck, EXAMPLE_1))[0]
    assert exact.to_pylist() == result.to_pylist()


def _exact_plan(duck, sql):  # noqa: ANN001, ANN202
    duck.use_index = False
    try:
        plan, _ = duck.plan(sql)
    finally:
        duck.use_index = True
    assert plan.path == "exact"
    return plan


def test_example_2_vector_search_with_filter(duck, sql_tables) -> None:  # noqa: ANN001
    result = duck.query(EXAMPLE_2)
    assert duck.last["path"] == "ann"
    expected, scores = _numpy_top(sql_tables, "snapshot isolation", 5, lambda r: r["chunk_index"] == 0)
    assert result.column("embedding_id").to_pylist() == [r["embedding_id"] for r in expected]
    np.testing.assert_allclose(result.column("score").to_numpy(), scores, rtol=1e-5)
    assert set(result.column("chunk_index").to_pylist()) == {0}
    assert "score" in result.column_names and "chunk_text" in result.column_names


@pytest.mark.parametrize(
    "metric_sql",
    [
        "cosine_similarity(embedding, embed('merge schema')) DESC",
        "cosine_distance(embedding, embed('merge schema')) ASC",
        "-cosine_distance(embedding, embed('merge schema')) DESC",
    ],
)
def test_ann_rewrite_equals_exact_for_each_direction_form(duck, metric_sql: str) -> None:  # noqa: ANN001
    sql = (
        "SELECT embedding_id, chunk_index FROM lake.sqlt.embeddings "
        f"WHERE chunk_index < 4 ORDER BY {metric_sql} LIMIT 7"
    )
    ann = duck.query(sql)
    assert duck.last["path"] == "ann", duck.last["reason"]
    assert duck.last["candidates"] == 7
    exact = duck.executor.execute(_exact_plan(duck, sql))[0]
    assert ann.to_pylist() == exact.to_pylist()


FALLBACKS = {
    "ASC on a similarity asks for the farthest rows": (
        "SELECT embedding_id FROM lake.sqlt.embeddings ORDER BY cosine_similarity(embedding, embed('x')) ASC LIMIT 3",
        "farthest rows first",
    ),
    "no LIMIT": (
        "SELECT embedding_id FROM lake.sqlt.embeddings ORDER BY cosine_similarity(embedding, embed('x')) DESC",
        "has no LIMIT",
    ),
    "metric differs from the index": (
        "SELECT embedding_id FROM lake.sqlt.embeddings ORDER BY l2_distance(embedding, embed('x')) LIMIT 3",
        "ranks by cosine",
    ),
    "l2 index, cosine query": (
        "SELECT embedding_id FROM lake.sqlt.l2t ORDER BY cosine_similarity(embedding, embed('x')) DESC LIMIT 3",
        "ranks by l2",
    ),
    "no index": (
        "SELECT embedding_id FROM lake.sqlt.plain ORDER BY cosine_similarity(embedding, embed('x')) DESC LIMIT 3",
        "no usable index",
    ),
    "filter on a column the index does not store": (
        "SELECT embedding_id FROM lake.sqlt.embeddings WHERE chunk_start > 100 "
        "ORDER BY cosine_similarity(embedding, embed('x')) DESC LIMIT 3",
        "does not store",
    ),
    "filter the index cannot evaluate": (
        "SELECT embedding_id FROM lake.sqlt.embeddings WHERE length(chunk_text) > 3 "
        "ORDER BY cosine_similarity(embedding, embed('x')) DESC LIMIT 3",
        "cannot prefilter",
    ),
    "aggregation": (
        "SELECT chunk_index, max(cosine_similarity(embedding, embed('x'))) AS m FROM lake.sqlt.embeddings "
        "GROUP BY chunk_index ORDER BY m DESC LIMIT 3",
        None,
    ),
    "group by on the top-k select": (
        "SELECT source_key FROM lake.sqlt.embeddings GROUP BY source_key, embedding "
        "ORDER BY cosine_similarity(embedding, embed('x')) DESC LIMIT 3",
        "GROUP",
    ),
    "two columns, no constant": (
        "SELECT a.embedding_id FROM lake.sqlt.embeddings a JOIN lake.sqlt.plain b ON a.embedding_id = b.embedding_id "
        "ORDER BY cosine_similarity(a.embedding, b.embedding) DESC LIMIT 3",
        "constant vector",
    ),
    "left join with a filter on the other table": (
        "SELECT e.embedding_id FROM lake.sqlt.embeddings e LEFT JOIN lake.sqlt.documents d ON d.key = e.source_key "
        "WHERE d.mime = 'text/html' ORDER BY cosine_similarity(e.embedding, embed('x')) DESC LIMIT 3",
        "drop rows",
    ),
    "join not on the other table's key": (
        "SELECT e.embedding_id FROM lake.sqlt.embeddings e JOIN lake.sqlt.documents d ON d.title = e.source_key "
        "ORDER BY cosine_similarity(e.embedding, embed('x')) DESC LIMIT 3",
        "not on its key column",
    ),
}


@pytest.mark.parametrize("name", list(FALLBACKS))
def test_fallbacks_run_exactly_and_say_why(duck, name: str) -> None:  # noqa: ANN001
    sql, why = FALLBACKS[name]
    duck.query(sql)
    assert duck.last["path"] == "exact"
    if why:
        assert why in duck.last["reason"], duck.last["reason"]


def test_explain_names_the_path_the_snapshot_and_why(duck, sql_tables) -> None:  # noqa: ANN001
    text = duck.explain(EXAMPLE_2)
    snap = sql_tables["embeddings"].snapshot_id
    assert f"path: ANN index on sqlt.embeddings.embedding at snapshot {snap}" in text
    assert "prefilter (chunk_index = 0)" in text and "embed('snapshot isolation') -> hash-16 (16-d)" in text
    exact = duck.explain(
        "EXPLAIN SELECT embedding_id FROM lake.sqlt.embeddings "
        "ORDER BY cosine_similarity(embedding, embed('x')) ASC LIMIT 3"
    )
    assert "path: exact scan" in exact and "farthest rows first" in exact
    table = duck.query("EXPLAIN " + EXAMPLE_2)
    assert table.column_names == ["plan"] and table.column("plan")[1].as_py().startswith("path: ANN index")


def test_vectors_are_fixed_size_floats_and_literal_vectors_work(duck) -> None:  # noqa: ANN001
    q = ", ".join(["0.25"] * 16)
    result = duck.query(
        f"SELECT embedding_id, embedding, inner_product(embedding, [{q}]) AS ip, "
        f"l2_distance(embedding, [{q}]) AS d FROM lake.sqlt.embeddings ORDER BY embedding_id LIMIT 2"
    )
    vtype = result.schema.field("embedding").type
    assert pa.types.is_fixed_size_list(vtype) and vtype.list_size == 16 and vtype.value_type == pa.float32()
    v = np.array(result.column("embedding")[0].as_py(), dtype=np.float32)
    assert result.column("ip")[0].as_py() == pytest.approx(float(v.sum() * 0.25), rel=1e-5)
    assert result.column("d")[0].as_py() == pytest.approx(float(np.linalg.norm(v - 0.25)), rel=1e-5)


def test_unknown_tables_columns_and_dimensions_are_named(duck) -> None:  # noqa: ANN001
    with pytest.raises(TableNotFoundError, match="sqlt.nope"):
        duck.query("SELECT * FROM lake.sqlt.nope")
    with pytest.raises(SqlPlanError, match="no column 'embeding'"):
        duck.query("SELECT cosine_similarity(e.embeding, [1, 2]) FROM lake.sqlt.embeddings e")
    with pytest.raises(SqlPlanError, match="3 values but sqlt.embeddings.embedding holds 16-d"):
        duck.query("SELECT cosine_similarity(embedding, [1, 2, 3]) FROM lake.sqlt.embeddings")
    with pytest.raises(SqlPlanError, match="is not a vector column"):
        duck.query("SELECT cosine_similarity(chunk_text, [1, 2, 3]) FROM lake.sqlt.embeddings")
    with pytest.raises(ModelError, match="makes 8-d vectors but sqlt.embeddings.embedding holds 16-d"):
        duck.query("SELECT cosine_similarity(embedding, embed('x', 'hash-8')) FROM lake.sqlt.embeddings")
    with pytest.raises(SqlError, match="(?i)not found|does not have a column"):
        duck.query("SELECT no_such_column FROM lake.sqlt.embeddings")


def test_a_new_snapshot_is_answered_like_the_table(duck, lake_settings) -> None:  # noqa: ANN001
    """Rows newer than the index are found (the index's exact tail), and the join-back reads that snapshot."""
    import pyarrow as pa

    from lakehouse.table import VectorTable

    t = VectorTable.load("sqlt.embeddings", settings=lake_settings)
    v = get_model("hash-16").embed(["brand new words entirely"])[0]
    t.append(
        pa.table(
            {
                "embedding_id": ["new0"],
                "source_key": ["d00"],
                "chunk_index": pa.array([0], pa.int32()),
                "chunk_start": pa.array([0], pa.int32()),
                "chunk_text": ["brand new words entirely"],
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(v), 16),
            }
        )
    )
    sql = (
        "SELECT embedding_id FROM lake.sqlt.embeddings "
        "ORDER BY cosine_similarity(embedding, embed('brand new words entirely')) DESC LIMIT 1"
    )
    assert duck.query(sql).column(0).to_pylist() == ["new0"]
    assert duck.last["path"] == "ann" and duck.last["snapshot_id"] == t.snapshot_id
