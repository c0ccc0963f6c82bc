"""``embed(<column>, 'model')``: one vector per row, on DuckDB and Spark, equal to the model's own vectors."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.embed import get_model
from lakehouse.errors import ModelError, SqlPlanError, TranspileError
from lakehouse.sql import SqlSession, transpile

pytestmark = pytest.mark.integration

MODEL = "hash-16"


@pytest.fixture(scope="module", params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def session(request: pytest.FixtureRequest, lake_settings, sql_tables):  # noqa: ANN001, ANN201
    spark = request.getfixturevalue("spark") if request.param == "spark" else None
    with SqlSession(lake_settings, engine=request.param, spark=spark) as s:
        yield s


def _matrix(column: pa.ChunkedArray) -> np.ndarray:
    return np.array(column.to_pylist(), dtype=np.float32)


def test_embed_over_a_column_gives_each_row_its_models_vector(session: SqlSession) -> None:
    rows = session.query(
        f"SELECT key, title, embed(title, '{MODEL}') AS v FROM lake.sqlt.documents ORDER BY key LIMIT 7"
    )
    titles = rows.column("title").to_pylist()
    np.testing.assert_allclose(_matrix(rows.column("v")), get_model(MODEL).embed(titles), rtol=1e-6, atol=1e-7)
    # an expression, with a NULL row: NULL in, NULL out
    rows = session.query(
        f"SELECT key, embed(CASE WHEN key = 'd00' THEN NULL ELSE upper(title) END, '{MODEL}') AS v "
        "FROM lake.sqlt.documents ORDER BY key LIMIT 3"
    )
    got = rows.column("v").to_pylist()
    assert got[0] is None
    np.testing.assert_allclose(
        np.array(got[1:], np.float32), get_model(MODEL).embed(["DOCUMENT 1", "DOCUMENT 2"]), rtol=1e-6, atol=1e-7
    )


def test_similarity_against_a_per_row_embedding_runs_exactly(session: SqlSession, sql_tables) -> None:  # noqa: ANN001
    sql = (
        f"SELECT e.embedding_id, cosine_similarity(e.embedding, embed(d.title, '{MODEL}')) AS s "
        "FROM lake.sqlt.embeddings e JOIN lake.sqlt.documents d ON d.key = e.source_key "
        "ORDER BY s DESC, e.embedding_id LIMIT 5"
    )
    got = session.query(sql)
    assert session.last["path"] == "exact" and "constant vector" in session.last["reason"]
    emb = sql_tables["embeddings"].to_arrow()
    docs = dict(zip(*(sql_tables["documents"].to_arrow().column(c).to_pylist() for c in ("key", "title")), strict=True))
    m = np.array(emb.column("embedding").to_pylist(), np.float32)
    t = get_model(MODEL).embed([docs[k] for k in emb.column("source_key").to_pylist()])
    scores = np.einsum("ij,ij->i", m, t) / (np.linalg.norm(m, axis=1) * np.linalg.norm(t, axis=1))
    ids = emb.column("embedding_id").to_pylist()
    want = sorted(range(len(ids)), key=lambda i: (-scores[i], ids[i]))[:5]
    assert got.column("embedding_id").to_pylist() == [ids[i] for i in want]
    np.testing.assert_allclose(got.column("s").to_pylist(), scores[want], rtol=1e-5)
    # no model named: the compared column's model (hash-16, from its vector spec)
    same = session.query(
        "SELECT embedding_id, cosine_similarity(embedding, embed(chunk_text)) AS s FROM lake.sqlt.embeddings "
        "ORDER BY embedding_id LIMIT 4"
    )
    np.testing.assert_allclose(same.column("s").to_pylist(), [1.0] * 4, rtol=1e-5)  # the rows were made so


def test_a_constant_embed_with_a_model_is_one_vector(session: SqlSession) -> None:
    rows = session.query(f"SELECT embed('snapshot isolation', '{MODEL}') AS v")
    np.testing.assert_allclose(_matrix(rows.column("v"))[0], get_model(MODEL).embed(["snapshot isolation"])[0])


def test_refusals(session: SqlSession) -> None:
    with pytest.raises(ModelError, match="8-d vectors but sqlt.embeddings.embedding holds 16-d"):
        session.query("SELECT cosine_similarity(embedding, embed(chunk_text, 'hash-8')) FROM lake.sqlt.embeddings")
    with pytest.raises(SqlPlanError, match="model is unknown"):
        session.query("SELECT embed(title) FROM lake.sqlt.documents")


def test_transpile_keeps_per_row_embedding_where_the_function_exists() -> None:
    sql = f"SELECT embed(title, '{MODEL}') AS v FROM t"
    assert f"LAKEHOUSE_EMBED(title, '{MODEL}')" in transpile(sql, to="spark").sql
    for target in ("duckdb", "postgres", "snowflake"):
        with pytest.raises(TranspileError, match="embed\\(<column>, model\\)"):
            transpile(sql, to=target)


@pytest.mark.model
def test_embed_a_column_with_minilm(duck) -> None:  # noqa: ANN001
    """The issue's case: embed(title, 'all-MiniLM-L6-v2') over a column."""
    rows = duck.query("SELECT title, embed(title, 'all-MiniLM-L6-v2') AS v FROM lake.sqlt.documents ORDER BY key")
    assert rows.schema.field("v").type == pa.list_(pa.float32(), 384)
    want = get_model("all-MiniLM-L6-v2").embed(rows.column("title").to_pylist())
    np.testing.assert_allclose(_matrix(rows.column("v")), want, rtol=1e-5, atol=1e-6)
