"""``lakehouse serve``: a real service on 127.0.0.1 over a small embeddings table with lineage columns."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from lakehouse.config import Settings
from lakehouse.embed import get_model
from lakehouse.table import VectorTable
from lakehouse.vector import VectorSpec

pytestmark = pytest.mark.integration

MODEL, DIM, DOCS, CHUNKS = "hash-16", 16, 6, 5
WORDS = "commit retry snapshot isolation index vector query spark catalog merge schema partition".split()


@pytest.fixture(scope="module")
def served_tables(lake_settings: Settings) -> dict[str, Any]:
    """srv.documents (key, path, title) and srv.embeddings (lineage columns, flat index at the first snapshot,
    then a second append the index has not seen)."""
    from lakehouse.index import build

    rng = np.random.default_rng(3)
    docs = pa.table(
        {
            "key": [f"doc{i}" for i in range(DOCS)],
            "path": [f"/corpus/doc{i}.md" for i in range(DOCS)],
            "title": [f"Doc {i}" for i in range(DOCS)],
        }
    )
    documents = VectorTable.create("srv.documents", docs.schema, vectors=[], key="key", settings=lake_settings)
    documents.append(docs)

    def chunks(start: int, n: int) -> pa.Table:
        texts = [" ".join(rng.choice(WORDS, size=5)) for _ in range(n)]
        ids = range(start, start + n)
        return pa.table(
            {
                "embedding_id": [f"e{i:03d}" for i in ids],
                "source_table": ["srv.documents"] * n,
                "source_key": [f"doc{i % DOCS}" for i in ids],
                "chunk_index": pa.array([i // DOCS for i in ids], pa.int32()),
                "chunk_start": pa.array([100 * (i // DOCS) for i in ids], pa.int32()),
                "chunk_end": pa.array([100 * (i // DOCS) + 99 for i in ids], pa.int32()),
                "chunk_text": texts,
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(get_model(MODEL).embed(texts).ravel()), DIM),
            }
        )

    first = chunks(0, DOCS * CHUNKS)
    schema = first.schema.set(7, pa.field("embedding", pa.list_(pa.float32())))
    spec = VectorSpec("embedding", dim=DIM, metric="cosine", model=MODEL, source_column="srv.documents.text")
    emb = VectorTable.create("srv.embeddings", schema, vectors=[spec], key="embedding_id", settings=lake_settings)
    emb.append(first)
    build(emb, "embedding", index_type="flat", store=["chunk_index"], text="chunk_text", settings=lake_settings)
    indexed = emb.refresh().snapshot_id
    emb.append(chunks(DOCS * CHUNKS, DOCS))
    return {"table": emb.refresh(), "indexed": indexed, "rows": first}


@pytest.fixture(scope="module")
def service(lake_settings: Settings, served_tables: dict[str, Any]) -> Iterator[Any]:
    """The service in a thread of this process, on a free port of 127.0.0.1."""
    from lakehouse.serve import run

    started: dict[str, Any] = {}
    thread = threading.Thread(
        target=run,
        args=(lake_settings,),
        kwargs={"port": 0, "ready": lambda server, info: started.update(server=server, info=info)},
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + 60
    while not (started and started["server"].started) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started and started["server"].started, "the service did not start"
    try:
        yield started["info"]
    finally:
        started["server"].should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def client(lake_settings: Settings, service: Any) -> Iterator[httpx.Client]:
    from lakehouse.serve.auth import client_token

    headers = {"Authorization": f"Bearer {client_token(lake_settings)}"}
    with httpx.Client(base_url=service.uri, headers=headers, timeout=60) as c:
        yield c


def _exact(served: dict[str, Any], q: np.ndarray, k: int) -> list[str]:
    rows = served["table"].to_arrow().to_pylist()
    m = np.array([r["embedding"] for r in rows], dtype=np.float32)
    s = (m @ q) / (np.linalg.norm(m, axis=1) * np.linalg.norm(q))
    return [rows[i]["embedding_id"] for i in np.argsort(-s, kind="stable")[:k]]


def test_it_binds_127_0_0_1_and_health_is_open(service: Any) -> None:
    assert service.uri.startswith("http://127.0.0.1:") and service.host == "127.0.0.1"
    health = httpx.get(f"{service.uri}/v1/health").json()
    assert health["status"] == "ok" and "warm" not in health  # no token: nothing about the tables


def test_search_by_text_returns_chunk_text_source_path_span_and_plan(client: httpx.Client, served_tables) -> None:  # noqa: ANN001
    r = client.post("/v1/search", json={"table": "srv.embeddings", "text": "snapshot isolation", "k": 4})
    assert r.status_code == 200, r.text
    body = r.json()
    q = get_model(MODEL).embed(["snapshot isolation"])[0]
    assert [h["key"] for h in body["results"]] == _exact(served_tables, q, 4)
    hit = body["results"][0]
    row = hit["row"]
    assert hit["text"] == row["chunk_text"] and hit["text"]
    doc = int(row["source_key"].removeprefix("doc"))
    assert hit["source"] == {
        "table": "srv.documents",
        "key": row["source_key"],
        "span": [row["chunk_start"], row["chunk_end"]],
        "path": f"/corpus/doc{doc}.md",
        "title": f"Doc {doc}",
    }
    plan = body["plan"]
    assert plan["path"] == "index+tail" and plan["index_used"] and plan["tail_rows"] == DOCS
    assert plan["snapshot_id"] == served_tables["table"].snapshot_id


def test_search_by_vector_with_filter_and_as_of(client: httpx.Client, served_tables) -> None:  # noqa: ANN001
    q = get_model(MODEL).embed(["merge schema partition"])[0]
    body = {"table": "srv.embeddings", "vector": q.tolist(), "k": 3, "filter": "chunk_index = 1"}
    now = client.post("/v1/search", json=body).json()
    assert {h["row"]["chunk_index"] for h in now["results"]} == {1} and len(now["results"]) == 3
    before = client.post("/v1/search", json={**body, "filter": None, "as_of": served_tables["indexed"], "k": 40})
    assert before.status_code == 200, before.text
    old = before.json()
    assert old["plan"]["snapshot_id"] == served_tables["indexed"] and old["plan"]["path"] == "index"
    assert len(old["results"]) == DOCS * CHUNKS  # the later append is not in that snapshot
    assert {h["key"] for h in old["results"]} == set(served_tables["rows"].column("embedding_id").to_pylist())


def test_hybrid_search_fuses_bm25_with_the_vector_leg(client: httpx.Client) -> None:
    body = {"table": "srv.embeddings", "text": "snapshot isolation", "k": 5, "hybrid": True}
    r = client.post("/v1/search", json=body)
    assert r.status_code == 200, r.text
    hits = r.json()["results"]
    assert len(hits) == 5 and all("text_rank" in h and "vector_rank" in h for h in hits)
    assert any(h["text_rank"] is not None for h in hits) and all(h["source"]["path"] for h in hits)
    assert any(n.startswith("hybrid:") for n in r.json()["plan"]["notes"])
    weighted = client.post("/v1/search", json={**body, "hybrid": {"text_weight": 0.0}}).json()["results"]
    vector_only = client.post("/v1/search", json={**body, "hybrid": None}).json()["results"]
    assert [h["key"] for h in weighted] == [h["key"] for h in vector_only]  # a zero text weight is the vector leg
    bad = client.post("/v1/search", json={"table": "srv.embeddings", "vector": [0.0] * DIM, "hybrid": True})
    assert bad.status_code == 400 and "needs 'text'" in bad.json()["error"]["message"]
    unknown = client.post("/v1/search", json={**body, "hybrid": {"weight": 1}})
    assert unknown.status_code == 400 and unknown.json()["error"]["where"] == "hybrid.weight"


def test_sql_with_bound_params(client: httpx.Client, served_tables) -> None:  # noqa: ANN001
    sql = (
        "SELECT embedding_id, cosine_similarity(embedding, :q) AS score FROM lake.srv.embeddings "
        "WHERE chunk_index < :n ORDER BY score DESC LIMIT :k"
    )
    by_text = client.post("/v1/sql", json={"sql": sql, "params": {"q": "retry commit", "n": 9, "k": 3}})
    assert by_text.status_code == 200, by_text.text
    q = get_model(MODEL).embed(["retry commit"])[0]
    by_vector = client.post("/v1/sql", json={"sql": sql, "params": {"q": q.tolist(), "n": 9, "k": 3}}).json()
    assert by_text.json()["rows"] == by_vector["rows"]
    assert [r["embedding_id"] for r in by_vector["rows"]] == _exact(served_tables, q, 3)
    assert by_vector["plan"]["path"] == "ann" and by_vector["columns"] == ["embedding_id", "score"]


def test_sql_is_analyst_mode(client: httpx.Client) -> None:
    r = client.post("/v1/sql", json={"sql": "DROP TABLE lake.srv.embeddings"})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "UnsafeSqlError" and "read-only" in r.json()["error"]["message"]


def test_no_or_bad_token_is_401(service: Any) -> None:
    body = {"table": "srv.embeddings", "text": "x"}
    missing = httpx.post(f"{service.uri}/v1/search", json=body)
    assert missing.status_code == 401 and "Bearer" in missing.json()["error"]["message"]
    forged = httpx.post(f"{service.uri}/v1/sql", json={"sql": "SELECT 1"}, headers={"Authorization": "Bearer lh1.x"})
    assert forged.status_code == 401 and "invalid or expired" in forged.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "body", "where", "message"),
    [
        ("/v1/search", {"table": "srv.embeddings", "k": 3}, "body", "exactly one of 'text' or 'vector'"),
        ("/v1/search", {"table": "srv.embeddings", "text": "x", "k": 0}, "k", "greater than or equal to 1"),
        ("/v1/search", {"table": "srv.embeddings", "text": "x", "kk": 1}, "kk", "Extra inputs"),
        ("/v1/search", {"table": "srv.embeddings", "vector": [1.0, 2.0]}, None, "shape (2,)"),
        ("/v1/search", {"table": "srv.embeddings", "text": "x", "filter": "nope ==="}, None, "filter"),
        ("/v1/search", {"table": "srv.embeddings", "column": "chunk_text", "text": "x"}, None, "not a vector column"),
        ("/v1/sql", {"sql": "SELEC 1"}, "sql line 1", "syntax error"),
        ("/v1/sql", {"sql": "SELECT 1 WHERE 1 = :a", "params": {}}, None, "placeholder :a has no value"),
    ],
)
def test_bad_input_is_400_with_what_where_and_how(client: httpx.Client, path, body, where, message) -> None:  # noqa: ANN001
    r = client.post(path, json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert message in error["message"] and error["hint"]
    if where is not None:
        assert error["where"].startswith(where)


def test_unknown_table_is_404(client: httpx.Client) -> None:
    r = client.post("/v1/search", json={"table": "srv.nope", "text": "x"})
    assert r.status_code == 404 and r.json()["error"]["type"] == "TableNotFoundError"
    s = client.post("/v1/sql", json={"sql": "SELECT * FROM lake.srv.nope"})
    assert s.status_code == 404


def test_health_with_a_token_shows_what_is_warm(client: httpx.Client) -> None:
    client.post("/v1/search", json={"table": "srv.embeddings", "text": "index", "k": 1})
    warm = client.get("/v1/health").json()["warm"]
    assert MODEL in warm["models"] and "srv.embeddings.embedding" in warm["indexes"]


def test_the_cli_uses_the_running_service(lake_settings: Settings, service: Any, monkeypatch) -> None:  # noqa: ANN001
    import lakehouse.serve.warm as warm
    from lakehouse.cli.main import cli

    seen: list[str] = []
    original = warm.Warm.search
    monkeypatch.setattr(warm.Warm, "search", lambda self, q: seen.append(q.table) or original(self, q))

    def invoke(*args: str) -> Any:
        return CliRunner().invoke(cli, list(args), obj={"settings_factory": lambda **kw: lake_settings})

    import lakehouse.cli.main as main

    monkeypatch.setattr(main, "load_settings", lambda **kw: lake_settings)
    served = invoke("index", "search", "srv.embeddings", "--text", "vector query", "-k", "2", "-o", "json")
    assert served.exit_code == 0, served.output
    assert seen == ["srv.embeddings"] and '"path": "/corpus/doc' in served.output
    local = invoke("index", "search", "srv.embeddings", "--text", "vector query", "-k", "2", "-o", "json", "--no-serve")
    assert local.exit_code == 0 and seen == ["srv.embeddings"]
    sql = invoke("sql", "SELECT count(*) AS n FROM lake.srv.documents WHERE key <> :k", "-p", "k=doc0", "-o", "json")
    assert sql.exit_code == 0, sql.output
    assert '"n": 5' in sql.output
    missing = invoke("sql", "SELECT * FROM lake.srv.nope")
    assert missing.exit_code == 4 and "does not exist" in missing.output
