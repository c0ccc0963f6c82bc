"""Concurrent appends all land, once each: pyiceberg and DuckDB writers in threads and a Spark writer at the same
time, on a table whose own commit retries are switched off (as on a table created elsewhere), so every lost race has
to be retried by lakehouse. Delta appends from threads likewise. The 100-commit figure is a benchmark
(tests/benchmarks/bench_concurrency.py), not a test."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.config import Settings
from lakehouse.sql.duckdb_write import append_duckdb, connect_writer
from lakehouse.table import VectorTable
from lakehouse.table.retry import COMMIT_RETRY_PROPERTIES
from lakehouse.table.spark.iceberg_write import table_properties, write_vector_table
from lakehouse.vector import VectorSpec

pytestmark = [pytest.mark.spark, pytest.mark.integration]

SPEC = VectorSpec("embedding", dim=8)
SCHEMA = pa.schema([("key", pa.string()), ("writer", pa.string()), ("embedding", pa.list_(pa.float32()))])
THREADS, APPENDS, ROWS = 4, 5, 3
SPARK_APPENDS = 3
DUCKDB_THREADS = 2


def _batch(writer: str, i: int) -> dict[str, list]:
    m = np.random.default_rng([ord(c) for c in writer] + [i]).normal(size=(ROWS, SPEC.dim)).astype(np.float32)
    return {"key": [f"{writer}-{i}-{j}" for j in range(ROWS)], "writer": [writer] * ROWS, "embedding": list(m)}


def _run_all(jobs: list[Callable[[], None]]) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(jobs))

    def run(job: Callable[[], None]) -> None:
        try:
            barrier.wait(timeout=60)
            job()
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return errors


def test_tables_are_created_with_generous_commit_retries(spark, lake_settings: Settings) -> None:  # noqa: ANN001
    table = VectorTable.create("conc.props", SCHEMA, vectors=[SPEC], key="key", settings=lake_settings)
    assert COMMIT_RETRY_PROPERTIES.items() <= table.properties.items()
    df = spark.createDataFrame([("a", "s", [1.0] * 8)], "key string, writer string, embedding array<float>")
    write_vector_table(df, "lake.conc.props_spark", specs=[SPEC], key_column="key", mode="create")
    assert COMMIT_RETRY_PROPERTIES.items() <= table_properties(df, "lake.conc.props_spark").items()


def test_concurrent_pyiceberg_duckdb_and_spark_appends_all_land_once(
    spark,  # noqa: ANN001
    lake_settings: Settings,
) -> None:
    # No client-side retries of its own: without lakehouse's retry loop, every lost race reaches the caller.
    table = VectorTable.create(
        "conc.appends",
        SCHEMA,
        vectors=[SPEC],
        key="key",
        settings=lake_settings,
        properties={"commit.retry.num-retries": "0"},
    )

    def pyiceberg_writer(w: int) -> Callable[[], None]:
        def job() -> None:
            mine = VectorTable.load("conc.appends", settings=lake_settings)
            for i in range(APPENDS):
                mine.append(_batch(f"py{w}", i))

        return job

    def spark_writer() -> None:
        for i in range(SPARK_APPENDS):
            b = _batch("spark", i)
            rows = list(zip(b["key"], b["writer"], [v.tolist() for v in b["embedding"]], strict=True))
            df = spark.createDataFrame(rows, "key string, writer string, embedding array<float>")
            write_vector_table(df, "lake.conc.appends", specs=[SPEC], key_column="key", mode="append")

    connections = [connect_writer(lake_settings) for _ in range(DUCKDB_THREADS)]

    def duckdb_writer(w: int) -> Callable[[], None]:
        def job() -> None:
            mine = VectorTable.load("conc.appends", settings=lake_settings)
            for i in range(APPENDS):
                append_duckdb(connections[w], mine, _batch(f"duck{w}", i))

        return job

    jobs = [*(pyiceberg_writer(w) for w in range(THREADS)), *(duckdb_writer(w) for w in range(DUCKDB_THREADS))]
    errors = _run_all([*jobs, spark_writer])
    for con in connections:
        con.close()
    assert errors == [], errors

    table.refresh()
    keys = table.to_arrow(columns=["key"]).column("key").to_pylist()
    commits = (THREADS + DUCKDB_THREADS) * APPENDS + SPARK_APPENDS
    assert len(keys) == commits * ROWS, "no append lost"
    assert len(set(keys)) == len(keys), "no append committed twice"
    per_writer = Counter(table.to_arrow(columns=["writer"]).column("writer").to_pylist())
    expected = {
        f"{kind}{w}": APPENDS * ROWS for kind, n in (("py", THREADS), ("duck", DUCKDB_THREADS)) for w in range(n)
    }
    assert per_writer == {**expected, "spark": SPARK_APPENDS * ROWS}
    appends = [s for s in table.iceberg.snapshots() if s.summary and s.summary.operation.value == "append"]
    assert len(appends) == commits
    assert table.properties["commit.retry.num-retries"] == "0", "a table's own retry setting is left alone"


def test_concurrent_delta_appends_all_land_once(lake_settings: Settings) -> None:
    table = VectorTable.create(
        "conc.delta_appends", SCHEMA, vectors=[SPEC], key="key", settings=lake_settings, format="delta"
    )
    start = table.snapshot_id

    def writer(w: int) -> Callable[[], None]:
        def job() -> None:
            mine = VectorTable.load("conc.delta_appends", settings=lake_settings, format="delta")
            for i in range(APPENDS):
                mine.append(_batch(f"d{w}", i))

        return job

    assert _run_all([writer(w) for w in range(THREADS)]) == []
    table.refresh()
    keys = table.to_arrow(columns=["key"]).column("key").to_pylist()
    assert len(keys) == len(set(keys)) == THREADS * APPENDS * ROWS
    assert table.snapshot_id == start + THREADS * APPENDS
