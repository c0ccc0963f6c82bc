"""Query parameters: vectors and texts bound as values (``:q``), on DuckDB and Spark, never pasted into SQL."""

from __future__ import annotations

import numpy as np
import pytest

from lakehouse.embed import get_model
from lakehouse.errors import SqlError
from lakehouse.sql import SqlSession
from lakehouse.sql.dialect import ConstVector, Embed, float32_texts
from lakehouse.sql.params import bind
from lakehouse.sql.parse import parse_sql

TOP = (
    "SELECT embedding_id, chunk_index, cosine_similarity(embedding, :q) AS score FROM lake.sqlt.embeddings "
    "WHERE chunk_index < :n ORDER BY score DESC LIMIT :k"
)
SEARCH = (
    "SELECT embedding_id, score FROM vector_search(table => 'lake.sqlt.embeddings', column => 'embedding', "
    "query => :q, k => 5, filter => :f)"
)


def _written(vector: np.ndarray) -> str:
    return "[" + ", ".join(np.format_float_positional(x, unique=True, trim="-") for x in vector) + "]"


# -- binding (no catalog) -------------------------------------------------------------------------------------------
def test_a_vector_becomes_one_constant_vector_node_and_a_text_in_a_vector_slot_is_embedded() -> None:
    tree = bind(parse_sql(TOP).tree, {"q": np.arange(16, dtype=np.float32) / 7, "n": 4, "k": 3})
    consts = list(tree.find_all(ConstVector))
    assert len(consts) == 1 and len(consts[0].texts) == 16
    assert float(consts[0].texts[1]) == pytest.approx(1 / 7, rel=1e-6)
    assert "LIMIT 3" in tree.sql("lakehouse") and "< 4" in tree.sql("lakehouse")
    texted = bind(parse_sql(SEARCH).tree, {"q": "snapshot isolation", "f": "chunk_index = 0"})
    (embed,) = texted.find_all(Embed)
    assert embed.this.this == "snapshot isolation"
    assert "filter => 'chunk_index = 0'" in texted.sql("lakehouse")


def test_a_text_outside_a_vector_slot_is_a_quoted_string_not_sql() -> None:
    hostile = "x' OR 1=1; DROP TABLE t; --"
    tree = bind(parse_sql("SELECT * FROM t WHERE title = :t").tree, {"t": hostile})
    literal = tree.find(type(tree.args["where"].this.expression))
    assert literal.this == hostile and literal.is_string
    assert parse_sql(tree.sql("lakehouse")).tree.sql("lakehouse") == tree.sql("lakehouse")


def test_positional_placeholders_take_a_sequence() -> None:
    tree = bind(parse_sql("SELECT * FROM t WHERE a = ? AND b = ? LIMIT $1").tree, [2, "y"])
    assert tree.sql("lakehouse") == "SELECT * FROM t WHERE a = 2 AND b = 'y' LIMIT 2"


def test_question_marks_take_the_values_in_the_order_they_are_written() -> None:
    # the tree's walk is breadth first: LIMIT ? came before WHERE b = ? and the query vector, which swapped values
    sql = "SELECT key FROM t WHERE b = ? ORDER BY cosine_similarity(e, ?) DESC LIMIT ? OFFSET ?"
    tree = bind(parse_sql(sql).tree, [3, [1.0, 2.0], 5, 7])
    assert (
        tree.sql("lakehouse")
        == "SELECT key FROM t WHERE b = 3 ORDER BY COSINE_SIMILARITY(e, [1, 2]) DESC LIMIT 5 OFFSET 7"
    )
    nested = (
        "WITH c AS (SELECT * FROM t WHERE x = ?) SELECT y FROM (SELECT y FROM c WHERE y > ?) AS s WHERE y < ? LIMIT ?"
    )
    out = bind(parse_sql(nested).tree, [1, 2, 3, 4]).sql("lakehouse")
    assert out.endswith("x = 1) SELECT y FROM (SELECT y FROM c WHERE y > 2) AS s WHERE y < 3 LIMIT 4"), out


@pytest.mark.parametrize(
    ("sql", "params", "message"),
    [
        ("SELECT * FROM t WHERE a = :a", {}, "placeholder :a has no value"),
        ("SELECT * FROM t WHERE a = :a", None, "no parameters were given"),
        ("SELECT * FROM t WHERE a = :a", {"a": 1, "b": 2}, "b are not used"),
        ("SELECT * FROM t", {"a": 1}, "has no placeholder"),
        ("SELECT * FROM t WHERE a = :a", {"a": {"x": 1}}, "a dict, which cannot be bound"),
        ("SELECT * FROM t WHERE a = :a", {"a": [[1.0, 2.0]]}, "shape (1, 2)"),
        ("SELECT * FROM t WHERE a = :a", {"a": [1.0, float("nan")]}, "NaN or Inf"),
        ("SELECT * FROM t WHERE a = :a", {"a": ["x", "y"]}, "not of numbers"),
        ("SELECT * FROM t WHERE a = :a", ["x"], "named but params is a sequence"),
        ("SELECT * FROM t WHERE a = ?", {"a": 1}, "positional but params is a mapping"),
    ],
)
def test_bad_parameters_are_refused_with_what_and_how(sql: str, params: object, message: str) -> None:
    with pytest.raises(SqlError, match="hint") as info:
        bind(parse_sql(sql).tree, params)  # type: ignore[arg-type]
    assert message in info.value.message


# -- on the engines --------------------------------------------------------------------------------------------------
@pytest.mark.integration
def test_a_bound_vector_answers_as_the_vector_written_out_would(duck) -> None:  # noqa: ANN001
    q = get_model("hash-16").embed(["merge schema partition"])[0]
    bound = duck.query(TOP, {"q": q, "n": 4, "k": 6})
    assert duck.last["path"] == "ann", duck.last["reason"]
    assert _written(q) not in TOP  # nobody wrote the numbers
    written = duck.query(TOP.replace(":q", _written(q)).replace(":n", "4").replace(":k", "6"))
    assert bound.to_pylist() == written.to_pylist() and bound.num_rows == 6


@pytest.mark.integration
def test_a_bound_text_is_embedded_with_the_columns_model(duck) -> None:  # noqa: ANN001
    by_text = duck.query(SEARCH, {"q": "snapshot isolation", "f": "chunk_index = 0"})
    assert duck.last["path"] == "ann"
    assert any("hash-16" in note for note in duck.plan(SEARCH, {"q": "snapshot isolation", "f": "x = 1"})[0].notes)
    by_embed = duck.query(SEARCH.replace(":q", "embed('snapshot isolation')").replace(":f", "'chunk_index = 0'"))
    assert by_text.to_pylist() == by_embed.to_pylist() and by_text.num_rows == 5


@pytest.mark.integration
def test_module_level_query_and_explain_take_params(lake_settings, sql_tables) -> None:  # noqa: ANN001
    import lakehouse.sql

    q = get_model("hash-16").embed(["commit retry"])[0].tolist()
    rows = lakehouse.sql.query(TOP, {"q": q, "n": 8, "k": 2}, settings=lake_settings)
    assert rows.num_rows == 2
    assert "path: ANN index" in lakehouse.sql.explain(TOP, {"q": q, "n": 8, "k": 2}, settings=lake_settings)


@pytest.mark.integration
def test_a_dimension_mismatch_in_a_bound_vector_is_named(duck) -> None:  # noqa: ANN001
    with pytest.raises(SqlError, match="3 values but sqlt.embeddings.embedding holds 16-d"):
        duck.query(TOP, {"q": [1.0, 0.0, 0.0], "n": 1, "k": 1})


@pytest.mark.spark
@pytest.mark.integration
def test_spark_binds_the_same_values_as_duckdb(spark, lake_settings, duck) -> None:  # noqa: ANN001
    q = get_model("hash-16").embed(["index vector query"])[0]
    s = SqlSession(lake_settings, engine="spark", spark=spark)
    on_spark = s.query(TOP, {"q": q, "n": 8, "k": 5})
    on_duckdb = duck.query(TOP, {"q": q, "n": 8, "k": 5})
    assert s.last["path"] == duck.last["path"] == "ann"
    assert on_spark.column("embedding_id").to_pylist() == on_duckdb.column("embedding_id").to_pylist()
    np.testing.assert_allclose(on_spark.column("score").to_numpy(), on_duckdb.column("score").to_numpy(), rtol=1e-5)
    texted = s.query(SEARCH, {"q": "snapshot isolation", "f": "chunk_index = 0"})
    expected = duck.query(SEARCH, {"q": "snapshot isolation", "f": "chunk_index = 0"})
    assert texted.column("embedding_id").to_pylist() == expected.column("embedding_id").to_pylist()
    np.testing.assert_allclose(texted.column("score").to_numpy(), expected.column("score").to_numpy(), rtol=1e-5)


def test_vector_texts_read_back_to_the_same_float32_values() -> None:
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 2**32, 50_000, dtype=np.uint32)
    values = bits.view(np.float32)
    values = np.concatenate(
        [
            values[np.isfinite(values)],
            np.array([0.0, -0.0, 1.0, -1.5, 1e-45, 1e-5, 1e-4, 0.1, 3.4028235e38, 1e9, 123456789.0], np.float32),
            (rng.standard_normal(4096) / 20).astype(np.float32),
        ]
    )
    texts = float32_texts(values)
    assert not [t for t in texts if "e" in t or "E" in t]  # positional, as written out by hand
    for read in (np.array(texts).astype(np.float32), np.array([float(t) for t in texts]).astype(np.float32)):
        assert np.array_equal(read.view(np.uint32), values.view(np.uint32))  # bit for bit, -0.0 included
