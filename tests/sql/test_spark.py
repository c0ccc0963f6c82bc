"""The same queries on Spark and DuckDB give the same answers; the session builder registers the functions."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.sql import SqlSession, transpile

pytestmark = [pytest.mark.spark, pytest.mark.integration]

QUERIES = [
    # the first example: join, filter on the joined table, top-k (ANN on both engines)
    "SELECT d.title, e.chunk_start, cosine_similarity(e.embedding, embed('how do I retry a failed commit')) AS score "
    "FROM lake.sqlt.embeddings e JOIN lake.sqlt.documents d ON d.key = e.source_key WHERE d.mime = 'text/html' "
    "ORDER BY score DESC, e.chunk_start LIMIT 10",
    # the second: vector_search with a filter
    "SELECT embedding_id, chunk_index, score FROM vector_search("
    "table => 'lake.sqlt.embeddings', column => 'embedding', "
    "query => embed('snapshot isolation'), k => 5, filter => 'chunk_index = 0')",
    # exact paths: each function, ascending distances, no index
    "SELECT embedding_id, l2_distance(embedding, embed('merge schema')) AS d FROM lake.sqlt.plain "
    "ORDER BY d, embedding_id LIMIT 6",
    "SELECT embedding_id, inner_product(embedding, embed('merge schema')) AS ip, "
    "cosine_distance(embedding, embed('merge schema')) AS cd FROM lake.sqlt.embeddings "
    "WHERE chunk_index = 3 ORDER BY embedding_id LIMIT 8",
    "SELECT source_key, max(cosine_similarity(embedding, embed('spark catalog'))) AS best FROM lake.sqlt.embeddings "
    "GROUP BY source_key ORDER BY best DESC, source_key LIMIT 5",
]


def _same(a: pa.Table, b: pa.Table) -> None:
    assert a.column_names == b.column_names
    assert a.num_rows == b.num_rows
    for name in a.column_names:
        x, y = a.column(name).to_pylist(), b.column(name).to_pylist()
        if x and isinstance(x[0], float):
            np.testing.assert_allclose(
                np.array(x, dtype=np.float64), np.array(y, dtype=np.float64), rtol=1e-5, atol=1e-6
            )
        else:
            assert x == y, name


@pytest.mark.parametrize("sql", QUERIES)
def test_duckdb_and_spark_agree(spark, lake_settings, duck, sql: str) -> None:  # noqa: ANN001
    s = SqlSession(lake_settings, engine="spark", spark=spark)
    spark_result = s.query(sql)
    duck_result = duck.query(sql)
    assert s.last["path"] == duck.last["path"]
    if s.last["path"] == "ann":  # both engines got the candidates from the index, not from a table scan
        assert "from the index" in s.last["rows"] and "from the index" in duck.last["rows"]
    _same(duck_result, spark_result)


def test_transpiled_sql_runs_on_both_engines_with_the_same_answer(spark, duck) -> None:  # noqa: ANN001
    q = ", ".join(["0.25", "-0.5"] * 8)
    sql = (
        f"SELECT embedding_id, cosine_similarity(embedding, [{q}]) AS s, l2_distance(embedding, [{q}]) AS d "
        f"FROM lake.sqlt.plain ORDER BY s DESC, embedding_id LIMIT 5"
    )
    on_duckdb = duck.executor.con.sql(transpile(sql, to="duckdb").sql).to_arrow_table()
    on_spark = pa.Table.from_pandas(spark.sql(transpile(sql, to="spark").sql).toPandas(), preserve_index=False)
    _same(on_duckdb, on_spark)
    on_databricks_form = pa.Table.from_pandas(
        spark.sql(transpile(sql, to="databricks").sql).toPandas(), preserve_index=False
    )
    assert on_databricks_form.column("embedding_id").to_pylist() == on_duckdb.column("embedding_id").to_pylist()
    np.testing.assert_allclose(on_databricks_form.column("s").to_numpy(), on_duckdb.column("s").to_numpy(), rtol=1e-5)


def test_the_registered_functions_answer_raw_spark_sql(spark) -> None:  # noqa: ANN001
    row = spark.sql(
        "SELECT cosine_similarity(array(1.0F, 0.0F), array(1.0F, 1.0F)) AS c, "
        "l2_distance(array(0.0F, 0.0F), array(3.0F, 4.0F)) AS d, "
        "inner_product(array(1.0F, 2.0F), array(3.0F, 4.0F)) AS ip, "
        "cosine_distance(array(1.0F, 0.0F), array(0.0F, 1.0F)) AS cd"
    ).collect()[0]
    assert row.c == pytest.approx(2**-0.5, rel=1e-6) and row.d == pytest.approx(5.0)
    assert row.ip == pytest.approx(11.0) and row.cd == pytest.approx(1.0)
