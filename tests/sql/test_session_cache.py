"""What a warm session keeps from one query to the next, and that it lets go when the table or index moves."""

from __future__ import annotations

import pyarrow as pa
import pytest
from sqlglot import exp

from lakehouse.embed import get_model
from lakehouse.errors import SqlError, SqlPlanError, TableNotFoundError, UnsafeSqlError
from lakehouse.index.store import IndexStore
from lakehouse.sql import SqlSession
from lakehouse.sql.parse import parse_sql
from lakehouse.sql.resolve import resolve
from lakehouse.table import VectorTable
from lakehouse.vector import VectorSpec

pytestmark = pytest.mark.integration

SQL = "SELECT id, cosine_similarity(embedding, :q) AS s FROM lake.cache.t ORDER BY s DESC LIMIT 3"


def _rows(start: int, n: int) -> pa.Table:
    texts = [f"row {i} about {'commit retry' if i % 2 else 'snapshot isolation'}" for i in range(start, start + n)]
    vectors = get_model("hash-16").embed(texts)
    return pa.table(
        {
            "id": [f"r{i:03d}" for i in range(start, start + n)],
            "embedding": pa.array(list(vectors), pa.list_(pa.float32())),
        }
    )


def test_index_tags_are_reread_only_when_the_table_metadata_moved(lake_settings, monkeypatch) -> None:  # noqa: ANN001
    from lakehouse.index import build, refresh

    spec = VectorSpec("embedding", dim=16, model="hash-16")
    t = VectorTable.create("cache.t", _rows(0, 1).schema, vectors=[spec], key="id", settings=lake_settings)
    t.append(_rows(0, 40))
    build(t, "embedding", index_type="flat", settings=lake_settings)
    opened: list[object] = []
    original = IndexStore.open
    monkeypatch.setattr(
        IndexStore, "open", lambda self, version=None: opened.append(version) or original(self, version)
    )
    q = get_model("hash-16").embed(["commit retry"])[0]
    with SqlSession(lake_settings) as s:
        first = s.query(SQL, {"q": q})
        assert s.last["index"]["path"] == "index"
        opened.clear()
        for _ in range(3):
            assert s.query(SQL, {"q": q}).to_pylist() == first.to_pylist()
        assert None not in opened  # the newest Lance version (to list its tags) was not opened again
        t.append(_rows(40, 4))  # the table moves on; the index lags
        lagging = s.query(SQL, {"q": q})
        assert s.last["index"]["path"] == "index+tail"
        opened.clear()
        assert s.query(SQL, {"q": q}).to_pylist() == lagging.to_pylist()
        assert None not in opened  # the untagged newest snapshot is a final miss, not a reason to re-read
        refresh(t.refresh(), "embedding", settings=lake_settings)
        s.query(SQL, {"q": q})
        assert s.last["index"]["path"] == "index"  # the refresh's new tag was seen at once


def test_tree_copies_share_the_table_binding(lake_settings, sql_tables) -> None:  # noqa: ANN001
    resolved = resolve(parse_sql("SELECT * FROM lake.sqlt.documents").tree, lake_settings)
    (node,) = [n for n in resolved.tree.find_all(exp.Table) if n.meta_get("lake")]
    (copied,) = [n for n in resolved.tree.copy().find_all(exp.Table) if n.meta_get("lake")]
    assert copied.meta["lake"] is node.meta["lake"]  # not a deep copy of the table handle and its metadata


def test_a_kept_parse_sees_a_commit_made_between_two_queries(lake_settings) -> None:  # noqa: ANN001
    spec = VectorSpec("embedding", dim=16, model="hash-16")
    t = VectorTable.create("cache.parsed", _rows(0, 1).schema, vectors=[spec], key="id", settings=lake_settings)
    t.append(_rows(0, 6))
    count = "SELECT count(*) AS n, max(id) AS last FROM lake.cache.parsed"
    with SqlSession(lake_settings) as s:
        assert s.query(count).to_pylist() == [{"n": 6, "last": "r005"}]
        t.append(_rows(6, 3))  # committed between two runs of the same text: the second must see it
        assert s.query(count).to_pylist() == [{"n": 9, "last": "r008"}]
        assert count in s._parsed  # the text was parsed once and kept


def test_a_kept_parse_binds_each_query_its_own_values(lake_settings) -> None:  # noqa: ANN001
    spec = VectorSpec("embedding", dim=16, model="hash-16")
    t = VectorTable.create("cache.bound", _rows(0, 1).schema, vectors=[spec], key="id", settings=lake_settings)
    t.append(_rows(0, 12))
    model = get_model("hash-16")
    first, second = model.embed(["commit retry"])[0], model.embed(["snapshot isolation"])[0]
    by_id = "SELECT id FROM lake.cache.bound WHERE id = :id"
    nearest = "SELECT id, cosine_similarity(embedding, :q) AS s FROM lake.cache.bound ORDER BY s DESC LIMIT 3"
    with SqlSession(lake_settings) as fresh:
        expected = {i: fresh.query(nearest, {"q": q}).to_pylist() for i, q in enumerate((first, second))}
    with SqlSession(lake_settings) as s:
        assert s.query(by_id, {"id": "r003"}).to_pylist() == [{"id": "r003"}]
        assert s.query(by_id, {"id": "r007"}).to_pylist() == [{"id": "r007"}]  # not the first query's value
        for _ in range(2):
            assert s.query(nearest, {"q": first}).to_pylist() == expected[0]
            assert s.query(nearest, {"q": second}).to_pylist() == expected[1]
        # the kept tree still holds its placeholders: a query without values is refused, not answered with old ones
        with pytest.raises(SqlError, match="no parameters were given"):
            s.query(nearest)
        # another text is parsed as its own statement, not answered from a kept one
        other = nearest.replace("LIMIT 3", "LIMIT 1")
        assert s.query(other, {"q": first}).to_pylist() == expected[0][:1]
        assert {by_id, nearest, other} <= set(s._parsed)


def test_a_refused_text_is_refused_every_time(lake_settings) -> None:  # noqa: ANN001
    with SqlSession(lake_settings) as s:
        for _ in range(2):
            with pytest.raises(UnsafeSqlError):
                s.query("SELECT * FROM read_csv('/etc/passwd')")
        assert not s._parsed


def test_candidate_rows_of_one_query_are_not_read_by_the_next(lake_settings, sql_tables) -> None:  # noqa: ANN001
    model = get_model("hash-16")
    vectors = [model.embed([text])[0] for text in ("commit retry", "snapshot isolation", "vacuum")]
    covering = (
        "SELECT embedding_id, cosine_similarity(embedding, :q) AS s FROM lake.sqlt.embeddings ORDER BY s DESC LIMIT 4"
    )
    payload = covering.replace("SELECT embedding_id,", "SELECT embedding_id, chunk_text,")
    expected = {}
    for sql in (covering, payload):
        for i, q in enumerate(vectors):
            with SqlSession(lake_settings) as fresh:
                expected[sql, i] = fresh.query(sql, {"q": q}).to_pylist()
    with SqlSession(lake_settings) as s:
        for _ in range(2):  # two shapes of candidate rows, alternating, each query with its own vector
            for sql in (covering, payload):
                for i, q in enumerate(vectors):
                    assert s.query(sql, {"q": q}).to_pylist() == expected[sql, i]
                    assert s.last["path"] == "ann"
        (name,) = {n for n in s.last["sql"].split('"') if n.startswith("lakehouse_candidates_")}
        # the name DuckDB reads the candidates by is not one analyst SQL can reach: a bare name is a catalog table
        with pytest.raises(TableNotFoundError):
            s.query(f"SELECT * FROM {name}")
        with pytest.raises(SqlPlanError):
            s.query(f"SELECT * FROM memory.main.{name}")
