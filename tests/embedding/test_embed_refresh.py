"""The index follows every kind of incremental embed run (insert, update, delete) through `refresh`, and a dry run
on a first embed reports its plan without failing."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from pyiceberg.expressions import In

from lakehouse.config import Settings
from lakehouse.embedding import EmbedParams
from lakehouse.embedding import run as run_embed
from lakehouse.index import build, open_index, refresh
from lakehouse.table import VectorTable

pytestmark = [pytest.mark.spark, pytest.mark.integration]

DOCS = "erefresh.documents"
OUT = "erefresh.embeddings"
SCHEMA = pa.schema([("key", pa.string()), ("text", pa.string())])


def _params(**kw: object) -> EmbedParams:
    return EmbedParams(
        **{"source": DOCS, "output": OUT, "model": "hash-16", "chunk_size": 200, "chunk_overlap": 20, **kw}
    )


def _text(i: int, words: int = 30) -> str:
    return " ".join(f"doc{i} word{j}" for j in range(words))  # ~2 chunks of 200 characters each at 30 words


@pytest.fixture(scope="module")
def docs(lake_settings: Settings) -> VectorTable:
    table = VectorTable.create(DOCS, SCHEMA, vectors=[], key="key", settings=lake_settings)
    table.append(pa.table({"key": [f"d{i}" for i in range(8)], "text": [_text(i) for i in range(8)]}, schema=SCHEMA))
    return table


def _index_agrees_with_table(settings: Settings) -> None:
    table = VectorTable.load(OUT, settings=settings)
    rows = table.to_arrow(columns=["embedding_id", "source_key", "chunk_index", "embedding"])
    idx = open_index(OUT, "embedding", settings=settings)
    indexed = idx.store.open().to_table(columns=["embedding_id", "source_key", "chunk_index"])
    assert sorted(indexed.column("embedding_id").to_pylist()) == sorted(rows.column("embedding_id").to_pylist())
    # every stored chunk is found by its own vector, with the table's stored columns
    matrix = np.asarray(rows.column("embedding").to_pylist(), dtype=np.float32)
    for i in (0, len(rows) - 1):
        hit = idx.search(matrix[i], k=1).to_pylist()[0]
        assert hit["source_key"] == rows.column("source_key")[i].as_py()


def test_plan_on_a_first_run_reports_and_writes_nothing(spark, docs: VectorTable, lake_settings: Settings) -> None:  # noqa: ANN001
    from lakehouse.table.spark.iceberg_write import table_exists

    lines: list[str] = []
    dry = run_embed(spark, _params(plan_only=True), lake_settings, log=lines.append)
    assert dry.plan is not None and dry.plan.insert > 0 and dry.plan.update == dry.plan.delete == 0
    assert dry.output_snapshot_id is None and dry.chunks == 0
    assert any(line.startswith("plan for") for line in lines)
    assert not table_exists(spark, f"{lake_settings.catalog.name}.{OUT}"), "a dry run creates no table"


def test_refresh_after_insert_update_and_delete_runs(spark, docs: VectorTable, lake_settings: Settings) -> None:  # noqa: ANN001
    lines: list[str] = []
    first = run_embed(spark, _params(), lake_settings, log=lines.append)
    # progress counts chunks, reported by the executors as they embed them (not Spark tasks)
    assert first.plan is not None and first.plan.to_embed > 0
    done = [line for line in lines if f"embedding {first.plan.to_embed} chunks: done in" in line]
    assert len(done) == 1 and f", {first.plan.to_embed} chunks (" in done[0], lines
    build(OUT, "embedding", store=["source_key", "chunk_index"], settings=lake_settings)
    _index_agrees_with_table(lake_settings)

    # insert: a new document only
    docs.append(pa.table({"key": ["d8"], "text": [_text(8)]}, schema=SCHEMA))
    r = run_embed(spark, _params(), lake_settings, log=lambda _m: None)
    assert r.plan is not None and r.plan.insert > 0 and r.plan.update == r.plan.delete == 0
    assert refresh(OUT, "embedding", settings=lake_settings).action == "incremental"
    _index_agrees_with_table(lake_settings)

    # update: an edited document (its chunks change text)
    docs.refresh()
    with docs.iceberg.transaction() as tx:
        tx.delete(In("key", ["d1"]))
        tx.append(pa.table({"key": ["d1"], "text": [_text(9)]}, schema=SCHEMA))
    r = run_embed(spark, _params(), lake_settings, log=lambda _m: None)
    assert r.plan is not None and r.plan.update > 0 and r.plan.insert == r.plan.delete == 0
    assert refresh(OUT, "embedding", settings=lake_settings).action == "incremental"
    _index_agrees_with_table(lake_settings)

    # delete: a removed document loses its embeddings, and the index its rows
    docs.refresh()
    docs.iceberg.delete(In("key", ["d2"]))
    r = run_embed(spark, _params(), lake_settings, log=lambda _m: None)
    assert r.plan is not None and r.plan.delete > 0 and r.plan.insert == r.plan.update == 0
    assert refresh(OUT, "embedding", settings=lake_settings).action == "incremental"
    _index_agrees_with_table(lake_settings)
    idx = open_index(OUT, "embedding", settings=lake_settings)
    assert "d2" not in set(idx.store.open().to_table(columns=["source_key"]).column("source_key").to_pylist())
