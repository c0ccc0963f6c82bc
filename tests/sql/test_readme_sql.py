"""Every ``lakehouse sql "..."`` example in README.md, run on DuckDB and on Spark over README-shaped tables
(docs.documents, docs.embeddings with all-MiniLM-L6-v2 vectors and the README's index): the same answers on both.

The queries are read from the README's ```bash blocks, so the test follows the README as it changes.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.table import VectorTable
from lakehouse.vector import VectorSpec

pytestmark = [pytest.mark.spark, pytest.mark.integration, pytest.mark.model]

README = Path(__file__).resolve().parents[2] / "README.md"
MODEL = "all-MiniLM-L6-v2"

PASSAGES = [
    ("argparse", "text/html", "The argparse module makes it easy to write user-friendly command-line interfaces."),
    ("argparse", "text/html", "ArgumentParser parses command line options and arguments into a namespace."),
    ("getopt", "text/plain", "getopt is a C-style parser for command line options, for users of getopt()."),
    ("sqlite3", "text/html", "sqlite3 provides a DB-API 2.0 interface; isolation_level controls transactions."),
    ("sqlite3", "text/html", "Snapshot isolation lets readers see one consistent version of the database."),
    ("json", "text/plain", "json encodes and decodes JavaScript Object Notation, a lightweight interchange format."),
    ("os", "text/html", "os.path joins, splits and normalizes file system paths on every platform."),
    ("shutil", "text/plain", "shutil copies and removes whole directory trees and archives."),
    ("threading", "text/html", "Lock objects let one thread at a time enter a critical section."),
    ("asyncio", "text/html", "asyncio runs coroutines in an event loop and waits for many sockets at once."),
    ("logging", "text/plain", "logging sends records from loggers through handlers to files and streams."),
    ("optparse", "text/html", "optparse is the deprecated predecessor of argparse for parsing options."),
]


def readme_sql_examples(text: str) -> list[str]:
    """The quoted query of each ``lakehouse sql "..."`` line in the README's bash blocks (placeholders skipped)."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for m in re.finditer(r'lakehouse sql "((?:[^"\\]|\\.)*)"', block, re.S):
            sql = m.group(1)
            if sql.strip(". ") and sql != "...":
                found.append(" ".join(sql.split()))
    return found


EXAMPLES = readme_sql_examples(README.read_text())


def test_the_readme_has_sql_examples() -> None:
    assert len(EXAMPLES) >= 2, EXAMPLES
    assert any("JOIN lake.docs.documents" in s for s in EXAMPLES)
    assert any("vector_search(" in s for s in EXAMPLES)


@pytest.fixture(scope="module")
def readme_tables(lake_settings: Settings) -> dict[str, VectorTable]:
    """docs.documents and docs.embeddings as `make demo` makes them (smaller), indexed as the README shows."""
    from lakehouse.embed import get_model
    from lakehouse.index import build

    keys = sorted({p[0] for p in PASSAGES})
    mime = {p[0]: p[1] for p in PASSAGES}
    docs = pa.table({"key": keys, "title": [f"{k} module" for k in keys], "mime": [mime[k] for k in keys]})
    documents = VectorTable.create(
        "docs.documents", docs.schema, vectors=[], key="key", settings=lake_settings, exist_ok=True
    )
    if documents.snapshot_id is None:
        documents.append(docs)
    texts = [p[2] for p in PASSAGES]
    vectors = get_model(MODEL).embed(texts)
    chunk_index = [sum(1 for q in PASSAGES[:i] if q[0] == p[0]) for i, p in enumerate(PASSAGES)]
    rows = pa.table(
        {
            "embedding_id": [f"e{i:03d}" for i in range(len(texts))],
            "source_key": [p[0] for p in PASSAGES],
            "chunk_index": pa.array(chunk_index, pa.int32()),
            "chunk_start": pa.array([c * 80 for c in chunk_index], pa.int32()),
            "chunk_text": texts,
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), 384),
        }
    )
    schema = rows.schema.set(5, pa.field("embedding", pa.list_(pa.float32())))
    spec = VectorSpec("embedding", dim=384, metric="cosine", model=MODEL, source_column="docs.documents.text")
    embeddings = VectorTable.create(
        "docs.embeddings", schema, vectors=[spec], key="embedding_id", settings=lake_settings, exist_ok=True
    )
    if embeddings.snapshot_id is None:
        embeddings.append(rows)
        # the README's build with a full-text index too, so its hybrid_search example has its BM25 leg
        build(embeddings, "embedding", store=["source_key", "chunk_index"], text="chunk_text", settings=lake_settings)
    return {"documents": documents.refresh(), "embeddings": embeddings.refresh()}


def _same(a: pa.Table, b: pa.Table) -> None:
    assert a.column_names == b.column_names
    assert a.num_rows == b.num_rows
    for name in a.column_names:
        x, y = a.column(name).to_pylist(), b.column(name).to_pylist()
        if x and isinstance(x[0], float):
            np.testing.assert_allclose(np.array(x, np.float64), np.array(y, np.float64), rtol=1e-5, atol=1e-6)
        elif x and isinstance(x[0], list):
            np.testing.assert_allclose(np.array(x, np.float64), np.array(y, np.float64), rtol=1e-6)
        else:
            assert x == y, name


@pytest.mark.parametrize("sql", EXAMPLES, ids=[f"example{i}" for i in range(len(EXAMPLES))])
def test_readme_sql_example_gives_the_same_answer_on_duckdb_and_spark(
    sql: str,
    readme_tables: dict[str, VectorTable],
    lake_settings: Settings,
    spark,  # noqa: ANN001
) -> None:
    from lakehouse.sql import SqlSession

    with SqlSession(lake_settings) as duck, SqlSession(lake_settings, engine="spark", spark=spark) as on_spark:
        expected = duck.query(sql)
        got = on_spark.query(sql)
        assert duck.last["path"] == on_spark.last["path"]
        exact = duck.executor.run(duck.executor.sql_for(duck.plan(sql)[0].tree))  # the table scanned, no index
    assert expected.num_rows > 0, expected  # the fixture has rows for every README example
    _same(expected, got)
    _same(expected, exact)


def test_engine_errors_get_a_hint_for_their_kind(lake_settings: Settings, sql_tables, spark) -> None:  # noqa: ANN001
    from lakehouse.errors import SqlError
    from lakehouse.sql.duckdb import DuckDBExecutor
    from lakehouse.sql.spark import SparkExecutor

    on_spark = SparkExecutor(spark, lake_settings)
    with pytest.raises(SqlError, match="DECIMAL_PRECISION_EXCEEDS_MAX_PRECISION") as info:
        on_spark.run("SELECT 0.5 + 0.00000000000000000000000000000000000000001 AS a")  # 41 digits after the point
    assert "38 decimal digits" in info.value.hint and "table and column names" not in info.value.hint
    with pytest.raises(SqlError, match="UNRESOLVED_COLUMN") as info:
        on_spark.run("SELECT no_such_column FROM lake.sqlt.documents")
    assert "table and column names" in info.value.hint
    duck = DuckDBExecutor(lake_settings)
    try:
        with pytest.raises(SqlError) as info:
            duck.run("SELECT no_such_column FROM lake.sqlt.documents")
        assert "table and column names" in info.value.hint
        with pytest.raises(SqlError) as info:
            duck.run("SELECT CAST('x' AS INTEGER)")
        assert "value or type" in info.value.hint
    finally:
        duck.close()
