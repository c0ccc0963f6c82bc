"""Incremental reads of the embed job's source: after a few changes only the data files changed since the snapshot
of the last run are read (the plan reports how many files and rows), the result equals a full read's, and an
expired or rolled-back history, a new chunking or ``--reembed`` fall back to a full read that says why."""

from __future__ import annotations

import pyarrow as pa
import pytest
from click.testing import CliRunner
from pyiceberg.expressions import EqualTo

from lakehouse.cli.jobs import embed
from lakehouse.config import Settings
from lakehouse.embedding import EmbedParams
from lakehouse.embedding import run as run_embed
from lakehouse.table import VectorTable

pytestmark = [pytest.mark.spark, pytest.mark.integration]

DOCS = "incread.documents"
INC = "incread.embeddings"  # kept up to date incrementally
FULL = "incread.embeddings_full"  # the same source, always read in full
SCHEMA = pa.schema([("key", pa.string()), ("text", pa.string())])


def quiet(_message: str) -> None:
    pass


def _params(output: str, **kw: object) -> EmbedParams:
    return EmbedParams(
        **{"source": DOCS, "output": output, "model": "hash-16", "chunk_size": 400, "chunk_overlap": 40, **kw}
    )


def _docs(keys: list[int], note: str = "") -> pa.Table:
    return pa.table(
        {"key": [f"d{i:02d}" for i in keys], "text": [f"document {i} about topic {i % 3}{note}" for i in keys]},
        schema=SCHEMA,
    )


def _rows(settings: Settings, table: str) -> list[dict]:
    """Every embedding row but its run id (which differs between any two runs), by embedding id."""
    data = VectorTable.load(table, settings=settings).to_arrow().drop_columns(["run_id"]).to_pylist()
    return sorted(data, key=lambda r: r["embedding_id"])


def _ops(result: object) -> tuple[int, int, int, int]:
    plan = result.plan  # type: ignore[attr-defined]
    return plan.insert, plan.update, plan.delete, plan.keep


@pytest.fixture(scope="module")
def docs(lake_settings: Settings) -> VectorTable:
    table = VectorTable.create(DOCS, SCHEMA, vectors=[], key="key", settings=lake_settings)
    for start in range(0, 20, 4):  # five data files of four one-chunk documents
        table.append(_docs(list(range(start, start + 4))))
    return table


def test_only_the_changed_files_are_read_and_the_result_equals_a_full_read(
    spark,  # noqa: ANN001
    docs: VectorTable,
    lake_settings: Settings,
) -> None:
    for out in (INC, FULL):
        first = run_embed(spark, _params(out), lake_settings, log=quiet)
        assert first.plan.read.mode == "full" and "first run" in first.plan.read.reason
    base = docs.refresh().snapshot_id

    docs.append(_docs([20, 21]))  # 2 new documents: a new file
    with docs.iceberg.transaction() as tx:  # d05 edited: its file rewritten without it, the new text in a new file
        tx.delete(EqualTo("key", "d05"))
        tx.append(_docs([5], " was edited"))
    docs.iceberg.delete(EqualTo("key", "d13"))  # d13 deleted: its file rewritten with the 3 other rows

    lines: list[str] = []
    dry = run_embed(spark, _params(INC, plan_only=True), lake_settings, log=lines.append)
    read = dry.plan.read
    assert (read.mode, read.base_snapshot_id, read.snapshot_id) == ("incremental", base, docs.refresh().snapshot_id)
    assert (read.files_read, read.files_total, read.files_removed) == (4, 7, 2), read
    assert (read.rows_read, read.rows_total, read.keys_deleted) == (9, 21, 1), read
    assert _ops(dry) == (2, 1, 1, 18)
    assert any(f"incremental from snapshot {base}" in line and "read 4 of 7 data files" in line for line in lines)

    incremental = run_embed(spark, _params(INC), lake_settings, log=quiet)
    assert incremental.plan == dry.plan
    full = run_embed(spark, _params(FULL, full=True), lake_settings, log=quiet)
    assert full.plan.read.mode == "full" and "--full" in full.plan.read.reason
    assert (full.plan.read.files_read, full.plan.read.rows_read) == (7, 21)
    assert _ops(full) == _ops(incremental)
    rows = _rows(lake_settings, INC)
    assert rows == _rows(lake_settings, FULL), "same rows, spans, hashes, vectors and source snapshots"
    assert {r["source_key"] for r in rows} == {f"d{i:02d}" for i in range(22)} - {"d13"}

    again = run_embed(spark, _params(INC), lake_settings, log=quiet)
    assert again.plan.read.mode == "unchanged" and again.plan.changes == 0 and again.plan.keep == 21


def test_a_rolled_back_or_expired_history_falls_back_to_a_full_read(
    spark,  # noqa: ANN001
    docs: VectorTable,
    lake_settings: Settings,
) -> None:
    before = docs.refresh().snapshot_id  # what INC and FULL reflect
    docs.append(_docs([22]))
    assert run_embed(spark, _params(INC), lake_settings, log=quiet).plan.read.mode == "incremental"

    docs.iceberg.manage_snapshots().rollback_to_snapshot(before).commit()
    rolled = run_embed(spark, _params(INC), lake_settings, log=quiet)
    assert rolled.plan.read.mode == "full" and "not an ancestor" in rolled.plan.read.reason, rolled.plan.read
    assert _ops(rolled) == (0, 0, 1, 21), "d22's embedding goes with the rollback"
    assert _rows(lake_settings, INC) == _rows(lake_settings, FULL)

    docs.refresh().append(_docs([23]))
    docs.iceberg.maintenance.expire_snapshots().by_id(before).commit()
    expired = run_embed(spark, _params(INC), lake_settings, log=quiet)
    assert expired.plan.read.mode == "full" and "expired" in expired.plan.read.reason, expired.plan.read
    assert _ops(expired) == (1, 0, 0, 21)
    run_embed(spark, _params(FULL, full=True), lake_settings, log=quiet)
    assert _rows(lake_settings, INC) == _rows(lake_settings, FULL)


def test_a_new_chunking_or_model_reads_everything_and_says_why(
    spark,  # noqa: ANN001
    docs: VectorTable,
    lake_settings: Settings,
) -> None:
    docs.refresh().append(_docs([24]))
    rechunked = run_embed(spark, _params(INC, chunk_size=300, plan_only=True), lake_settings, log=quiet)
    assert rechunked.plan.read.mode == "full" and "chunking changed (400/40 -> 300/40)" in rechunked.plan.read.reason
    reembed = run_embed(spark, _params(INC, model="hash-32", reembed=True, plan_only=True), lake_settings, log=quiet)
    assert reembed.plan.read.mode == "full" and "--reembed" in reembed.plan.read.reason


def test_the_cli_plan_reports_the_read(spark, docs: VectorTable, lake_settings: Settings) -> None:  # noqa: ANN001
    base = VectorTable.load(INC, settings=lake_settings).properties[f"lakehouse.embeddings.{DOCS}.snapshot-id"]
    args = [DOCS, "--output", INC, "--model", "hash-16", "--chunk-size", "400", "--chunk-overlap", "40", "--plan"]
    out = CliRunner().invoke(embed, args, obj={"settings_factory": lambda **_kw: lake_settings})
    assert out.exit_code == 0, out.output
    assert f"incremental from snapshot {base}" in out.output and "read 1 of" in out.output
    assert "1 to insert" in out.output and "dry run (--plan): nothing was written" in out.output

    full = CliRunner().invoke(embed, [*args, "--full"], obj={"settings_factory": lambda **_kw: lake_settings})
    assert full.exit_code == 0, full.output
    assert "full read of" in full.output and "--full" in full.output


def test_a_pure_delete_reads_no_rows(spark, docs: VectorTable, lake_settings: Settings) -> None:  # noqa: ANN001
    for out in (INC, FULL):  # both take in d24, appended by the tests above
        run_embed(spark, _params(out), lake_settings, log=quiet)
    docs.refresh().iceberg.delete(EqualTo("key", "d24"))  # d24 is alone in its file: the file is dropped
    result = run_embed(spark, _params(INC), lake_settings, log=quiet)
    read = result.plan.read
    assert (read.mode, read.files_read, read.rows_read, read.files_removed, read.keys_deleted) == (
        "incremental",
        0,
        0,
        1,
        1,
    ), read
    assert _ops(result) == (0, 0, 1, 22)
    run_embed(spark, _params(FULL, full=True), lake_settings, log=quiet)
    assert _rows(lake_settings, INC) == _rows(lake_settings, FULL)


def test_a_delta_source_is_read_incrementally_from_its_log(spark, lake_settings: Settings) -> None:  # noqa: ANN001
    source = "incread_delta.documents"
    table = VectorTable.create(source, SCHEMA, vectors=[], key="key", settings=lake_settings, format="delta")
    for start in range(0, 12, 4):  # three data files
        table.append(_docs(list(range(start, start + 4))))
    params = {"source": source, "output": "incread_delta.embeddings"}
    first = run_embed(spark, _params(**params), lake_settings, log=quiet)
    assert first.plan.read.mode == "full"
    base = table.refresh().version

    table.delta.delete("key = 'd05'")  # copy-on-write: the file of d04-d07 rewritten without d05
    table.append(_docs([12]))
    dry = run_embed(spark, _params(**params, plan_only=True), lake_settings, log=quiet)
    read = dry.plan.read
    assert (read.mode, read.base_snapshot_id) == ("incremental", base), read
    assert (read.files_read, read.files_total, read.files_removed) == (2, 4, 1), read
    assert (read.rows_read, read.rows_total, read.keys_deleted) == (4, 12, 1), read
    assert _ops(dry) == (1, 0, 1, 11)
    done = run_embed(spark, _params(**params), lake_settings, log=quiet)
    assert done.plan == dry.plan
    keys = VectorTable.load("incread_delta.embeddings", settings=lake_settings).to_arrow(columns=["source_key"])
    assert sorted(keys.column("source_key").to_pylist()) == [f"d{i:02d}" for i in range(13) if i != 5]
