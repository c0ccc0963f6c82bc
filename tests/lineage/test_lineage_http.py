"""The OpenLineage client's own HTTP transport posting to ``make_router`` served by uvicorn (as the catalog will)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from lakehouse.config import load_settings
from lakehouse.lineage import LineageEmitter, LineageStore, make_router

pytestmark = pytest.mark.integration


@pytest.fixture
def collector() -> Iterator[tuple[str, LineageStore]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = LineageStore()
    app = FastAPI()
    app.include_router(make_router(store))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}", store
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


def test_events_reach_a_marquez_compatible_endpoint(collector: tuple[str, LineageStore], tmp_path: Path) -> None:
    url, store = collector
    settings = load_settings(project_dir=tmp_path, environ={}, home=str(tmp_path), lineage={"url": url})
    emitter = LineageEmitter.from_settings(settings, environ={"HOME": str(tmp_path)}, strict=True, cwd=tmp_path)
    with pytest.raises(ValueError), emitter.run("embed_table", params={"model": "hash-16"}) as run:
        raise ValueError("bad batch")
    emitter.close()
    record = store.run(run.run_id)
    assert record is not None
    assert [e["eventType"] for e in record.events] == ["START", "FAIL"]
    assert record.parameters == {"model": "hash-16"}
    assert settings.lineage_path.read_text().count("\n") == 2  # the JSONL file got them too


def test_openlineage_url_variable_targets_the_endpoint(collector: tuple[str, LineageStore], tmp_path: Path) -> None:
    url, store = collector
    settings = load_settings(project_dir=tmp_path, environ={}, home=str(tmp_path))
    environ = {"HOME": str(tmp_path), "OPENLINEAGE_URL": url}
    emitter = LineageEmitter.from_settings(settings, environ=environ, strict=True, cwd=tmp_path)
    with emitter.run("ingest_documents") as run:
        pass
    emitter.close()
    assert store.run(run.run_id) is not None and store.run(run.run_id).state == "COMPLETE"
    assert not settings.lineage_path.exists()  # OpenLineage's configuration replaced the embedded default
