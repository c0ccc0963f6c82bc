"""Incremental embedding: only new or changed rows are embedded, deleted rows lose their embeddings, unchanged rows
are left alone, a dry run writes nothing, and a column never mixes models."""

from __future__ import annotations

import pyarrow as pa
import pytest
from pyiceberg.expressions import EqualTo, In

from lakehouse.config import Settings
from lakehouse.embedding import EmbedParams
from lakehouse.embedding import run as run_embed
from lakehouse.errors import ModelError
from lakehouse.table import VectorTable

pytestmark = [pytest.mark.spark, pytest.mark.integration]

DOCS = "incr.documents"
OUT = "incr.embeddings"
SCHEMA = pa.schema([("key", pa.string()), ("text", pa.string())])


def _params(**kw: object) -> EmbedParams:
    return EmbedParams(
        **{"source": DOCS, "output": OUT, "model": "hash-16", "chunk_size": 400, "chunk_overlap": 40, **kw}
    )


def _rows(settings: Settings) -> dict[str, dict]:
    return {r["source_key"]: r for r in VectorTable.load(OUT, settings=settings).to_arrow().to_pylist()}


@pytest.fixture(scope="module")
def docs(lake_settings: Settings) -> VectorTable:
    table = VectorTable.create(DOCS, SCHEMA, vectors=[], key="key", settings=lake_settings)
    # short texts: one chunk per document, so document counts are chunk counts
    table.append(
        pa.table(
            {"key": [f"d{i}" for i in range(10)], "text": [f"document {i} about topic {i % 3}" for i in range(10)]}
        )
    )
    return table


def test_first_run_embeds_everything(spark, docs: VectorTable, lake_settings: Settings) -> None:  # noqa: ANN001
    result = run_embed(spark, _params(), lake_settings, log=lambda _m: None)
    assert result.plan is not None and (result.plan.insert, result.plan.keep) == (10, 0)
    assert result.chunks == 10 and set(_rows(lake_settings)) == {f"d{i}" for i in range(10)}


def test_only_changed_rows_are_embedded_and_deleted_rows_removed(
    spark, docs: VectorTable, lake_settings: Settings
) -> None:  # noqa: ANN001
    before = _rows(lake_settings)
    docs.refresh()
    edited = ["d1", "d2", "d3"]
    with docs.iceberg.transaction() as tx:
        tx.delete(In("key", [*edited, "d9"]))
        tx.append(
            pa.table(
                {"key": [*edited, "d10"], "text": [f"{k} was edited" for k in edited] + ["a new document"]},
                schema=SCHEMA,
            )
        )

    snapshot = VectorTable.load(OUT, settings=lake_settings).snapshot_id
    dry = run_embed(spark, _params(plan_only=True), lake_settings, log=lambda _m: None)
    assert dry.plan is not None
    assert (dry.plan.insert, dry.plan.update, dry.plan.delete, dry.plan.keep) == (1, 3, 1, 6)
    assert VectorTable.load(OUT, settings=lake_settings).snapshot_id == snapshot, "a dry run writes nothing"

    params = _params()
    result = run_embed(spark, params, lake_settings, log=lambda _m: None)
    assert result.plan == dry.plan
    after = _rows(lake_settings)
    assert set(after) == {f"d{i}" for i in range(9)} | {"d10"}, "d9's embedding is gone, d10's is new"
    for key in [*edited, "d10"]:
        assert after[key]["run_id"] == params.run_id and after[key]["chunk_text"].endswith(("edited", "document"))
    for key in ["d0", "d4", "d5", "d6", "d7", "d8"]:
        assert after[key] == before[key], "unchanged rows keep their vector, run id and source snapshot"
    ids = [r["embedding_id"] for r in after.values()]
    assert len(ids) == len(set(ids)) == 10


def test_second_run_is_a_no_op(spark, docs: VectorTable, lake_settings: Settings) -> None:  # noqa: ANN001
    snapshot = VectorTable.load(OUT, settings=lake_settings).snapshot_id
    result = run_embed(spark, _params(), lake_settings, log=lambda _m: None)
    assert result.plan is not None and result.plan.changes == 0 and result.plan.keep == 10
    assert VectorTable.load(OUT, settings=lake_settings).snapshot_id == snapshot


def test_a_model_change_is_refused_unless_deliberate(spark, docs: VectorTable, lake_settings: Settings) -> None:  # noqa: ANN001
    snapshot = VectorTable.load(OUT, settings=lake_settings).snapshot_id
    with pytest.raises(ModelError, match="refusing to mix"):
        run_embed(spark, _params(model="hash-32"), lake_settings, log=lambda _m: None)
    assert VectorTable.load(OUT, settings=lake_settings).snapshot_id == snapshot

    result = run_embed(spark, _params(model="hash-32", reembed=True), lake_settings, log=lambda _m: None)
    assert result.plan is not None and (result.plan.insert, result.plan.delete) == (10, 10)
    table = VectorTable.load(OUT, settings=lake_settings)
    assert table.spec("embedding").dim == 32 and table.spec("embedding").model == "hash-32"
    rows = table.to_arrow().to_pylist()
    assert len(rows) == 10 and {r["model"] for r in rows} == {"hash-32"} and {len(r["embedding"]) for r in rows} == {32}
    assert table.count() == len(table.to_arrow(row_filter=EqualTo("model", "hash-32")))
