"""Conditional table loads: the catalog answers 304 while a table is unchanged, and a warm session still sees every
commit at its next query. Loads are counted on the service (``/healthz``'s ``table_loads``), not timed."""

from __future__ import annotations

import httpx
import numpy as np
import pyarrow as pa
import pytest

from lakehouse.embed import get_model
from lakehouse.errors import ConfigError
from lakehouse.sql import SqlSession
from lakehouse.table import VectorTable, load_catalog
from lakehouse.vector import VectorSpec

pytestmark = pytest.mark.integration

TOP = "SELECT id, cosine_similarity(embedding, :q) AS s FROM lake.loads.{name} ORDER BY s DESC LIMIT 3"


def _loads(catalog_service) -> dict[str, int]:  # noqa: ANN001
    return httpx.get(f"{catalog_service.uri}/healthz").json()["table_loads"]


def _rows(texts: list[str], start: int) -> pa.Table:
    vectors = get_model("hash-16").embed(texts)
    return pa.table(
        {
            "id": [f"r{i:03d}" for i in range(start, start + len(texts))],
            "embedding": pa.array(list(vectors), pa.list_(pa.float32())),
        }
    )


def _table(name: str, settings) -> VectorTable:  # noqa: ANN001
    from lakehouse.index import build

    spec = VectorSpec("embedding", dim=16, model="hash-16")
    texts = [f"row {i} about {'commit retry' if i % 2 else 'snapshot isolation'}" for i in range(40)]
    t = VectorTable.create(f"loads.{name}", _rows(texts[:1], 0).schema, vectors=[spec], key="id", settings=settings)
    t.append(_rows(texts, 0))
    build(t, "embedding", index_type="flat", settings=settings)
    return t.refresh()


def test_load_table_answers_304_while_the_metadata_file_is_current(lake_settings, catalog_service) -> None:  # noqa: ANN001
    t = _table("raw", lake_settings)
    url = f"{catalog_service.uri}/v1/namespaces/loads/tables/raw"
    headers = catalog_service.headers(read_only=True)
    first = httpx.get(url, headers=headers)
    etag = first.headers["ETag"]
    assert first.status_code == 200 and first.json()["metadata-location"] == t.iceberg.metadata_location
    before = _loads(catalog_service)
    again = httpx.get(url, headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == etag
    assert httpx.get(url, headers={**headers, "If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert _loads(catalog_service) == {**before, "not_modified": before["not_modified"] + 2}
    t.append(_rows(["a new row"], 100))  # a commit: a new metadata file, so a new tag
    moved = httpx.get(url, headers={**headers, "If-None-Match": etag})
    assert moved.status_code == 200 and moved.headers["ETag"] != etag
    assert moved.json()["metadata-location"] == t.refresh().iceberg.metadata_location
    missing = httpx.get(
        f"{catalog_service.uri}/v1/namespaces/loads/tables/nope", headers={**headers, "If-None-Match": etag}
    )
    assert missing.status_code == 404


def test_a_warm_session_revalidates_each_query_and_sees_another_writers_commit(lake_settings, catalog_service) -> None:  # noqa: ANN001
    _table("seen", lake_settings)
    writer = VectorTable.load("loads.seen", catalog=load_catalog(lake_settings), settings=lake_settings)
    q = get_model("hash-16").embed(["a sentence nobody wrote before"])[0]
    sql = TOP.format(name="seen")
    with SqlSession(lake_settings) as s:
        s.query(sql, {"q": q})  # the first query loads the table in full
        before = _loads(catalog_service)
        answers = [s.query(sql, {"q": q}).to_pylist() for _ in range(3)]
        after = _loads(catalog_service)
        assert s.last["path"] == "ann"
        assert after["full"] == before["full"]  # unchanged table: no metadata sent or parsed again
        assert after["not_modified"] - before["not_modified"] >= 3  # but every query asked the service
        assert answers[0] == answers[1] == answers[2]
        writer.append(_rows(["a sentence nobody wrote before"], 200))  # another client commits a snapshot
        top = s.query(sql, {"q": q}).to_pylist()
        assert top[0]["id"] == "r200"  # the next query answers at the new snapshot, not the kept one
        assert np.isclose(top[0]["s"], 1.0, atol=1e-5)
        assert _loads(catalog_service)["full"] > after["full"]


def test_metadata_is_reused_without_asking_only_within_a_window_the_user_set(lake_settings, catalog_service) -> None:  # noqa: ANN001
    from dataclasses import replace

    t = _table("window", lake_settings)
    q = get_model("hash-16").embed(["a sentence nobody wrote before"])[0]
    sql = TOP.format(name="window")
    windowed = replace(lake_settings, catalog=replace(lake_settings.catalog, metadata_max_age_s=3600))
    with SqlSession(windowed) as s:
        s.query(sql, {"q": q})
        before = _loads(catalog_service)
        for _ in range(3):
            s.query(sql, {"q": q})
        assert _loads(catalog_service) == before  # inside the window: not even a 304
        assert s._catalog.loads["reused"] >= 3
        t.append(_rows(["a sentence nobody wrote before"], 300))  # another client's commit...
        assert s.query(sql, {"q": q}).to_pylist()[0]["id"] != "r300"  # ...is not seen inside the window (opt-in)
        s._catalog.forget_loads()
        assert s.query(sql, {"q": q}).to_pylist()[0]["id"] == "r300"
    with pytest.raises(ConfigError, match="metadata_max_age_s"):
        bad = replace(lake_settings, catalog=replace(lake_settings.catalog, metadata_max_age_s="soon"))
        load_catalog(bad).load_table(("loads", "window"))


def test_a_loopback_catalog_session_skips_the_environment_lookups(lake_settings) -> None:  # noqa: ANN001
    assert load_catalog(lake_settings)._session.trust_env is False  # no proxy/netrc re-read for 127.0.0.1
