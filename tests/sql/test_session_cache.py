"""What a warm session keeps from one query to the next, and that it lets go when the table or index moves."""

from __future__ import annotations

import pyarrow as pa
import pytest
from sqlglot import exp

from lakehouse.embed import get_model
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
