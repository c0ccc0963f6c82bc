"""Concurrent appends: pyiceberg, DuckDB and Spark writers committing to one Iceberg table at once.

    python -m tests.benchmarks concurrency                 # or: make bench BENCH=concurrency

One catalog service and one SparkSession in a temporary home. Each case starts from a fresh table and a barrier, then
every writer thread makes its appends (``--rows`` rows of ``--dim`` unit vectors each, unique keys) as fast as it
can; afterwards the table is read back and every key counted. Cases:

- ``lakehouse``: the project's writers: :meth:`VectorTable.append` (pyiceberg), :func:`append_duckdb` (DuckDB's
  attached catalog) and :func:`write_vector_table` (Spark), on a table created by :meth:`VectorTable.create` (so with
  :data:`~lakehouse.table.retry.COMMIT_RETRY_PROPERTIES`);
- ``issue-11``: the shape of the trial that filed issue 11, eight pyiceberg writers x 13 appends through
  :meth:`VectorTable.append`;
- ``raw`` (the peer, measured in the same run): the same writers without lakehouse: pyiceberg's ``Table.append``,
  DuckDB's ``INSERT INTO``, Spark's ``writeTo(...).append()``, on a table created with pyiceberg's defaults (4 commit
  retries for pyiceberg and Iceberg's Java client; DuckDB retries none).

Reported per case: commits tried, landed (append snapshots), rows lost and duplicated, errors surfaced to the caller,
lost races the catalog answered 409 to (from its log), wall time, and the latency of one append call (retries
included). Prints a Markdown section (command, machine, date, load) and appends it to ``--output``.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

_LOCK = threading.Lock()  # the writers of a case share its counters


@dataclass
class Case:
    name: str
    writers: dict[str, tuple[int, int]]  # kind -> (threads, appends per thread)
    tried: int = 0
    landed: int = 0
    acknowledged: set[str] = field(default_factory=set)  # keys of appends that returned without an error
    rows_found: int = 0
    distinct: int = 0
    lost: int = 0  # acknowledged rows missing from the table
    phantom: int = 0  # rows of appends that raised, yet are in the table
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    conflicts: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    load: float = 0.0

    @property
    def duplicated(self) -> int:
        return self.rows_found - self.distinct


def _batch(tag: str, rows: int, dim: int) -> Any:
    import pyarrow as pa

    rng = np.random.default_rng([ord(c) for c in tag])
    m = rng.standard_normal((rows, dim), dtype=np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), dim)
    element = pa.list_(pa.field("element", pa.float32(), nullable=False))
    return pa.table(
        {
            "key": pa.array([f"{tag}-{j}" for j in range(rows)]),
            "writer": pa.array([tag.rsplit("-", 1)[0]] * rows),
            "embedding": vectors.cast(element),
        }
    )


@dataclass
class Lake:
    """What every writer needs: the throwaway lake's settings, catalog service, Spark session and batch shape."""

    root: Path
    settings: Any
    proc: Any
    spark: Any
    rows: int
    dim: int

    @property
    def log_file(self) -> Path:
        return self.root / "state" / "catalog.log"


def _writer(lake: Lake, case: Case, kind: str, ident: str, tags: list[str]) -> Callable[[], None]:
    """One writer thread's work: its appends, one after the other, each timed and its outcome recorded."""
    from lakehouse.sql.duckdb_write import append_duckdb, connect_writer
    from lakehouse.table import VectorTable, load_catalog
    from lakehouse.table.spark.iceberg_write import write_vector_table

    raw = case.name == "raw"
    lock = _LOCK

    def timed(tag: str, fn: Callable[[], object]) -> None:
        t = time.perf_counter()
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - counted: the point of the benchmark
            with lock:
                case.errors[f"{kind}: {type(exc).__name__}"] += 1
        else:
            with lock:
                case.acknowledged.update(f"{tag}-{j}" for j in range(lake.rows))
        finally:
            with lock:
                case.latencies.append(time.perf_counter() - t)

    def pyiceberg() -> None:
        table: Any = (
            load_catalog(lake.settings).load_table(ident) if raw else VectorTable.load(ident, settings=lake.settings)
        )
        for tag in tags:
            timed(tag, lambda tag=tag: table.append(_batch(tag, lake.rows, lake.dim)))

    def duckdb() -> None:
        con = connect_writer(lake.settings)
        mine = VectorTable.load(ident, settings=lake.settings)

        def insert(batch: Any) -> None:
            if not raw:
                append_duckdb(con, mine, batch)
                return
            con.register("batch", batch)
            try:
                con.execute(f"INSERT INTO lake.{ident} SELECT * FROM batch")
            finally:
                con.unregister("batch")

        for tag in tags:
            timed(tag, lambda tag=tag: insert(_batch(tag, lake.rows, lake.dim)))
        con.close()

    def spark() -> None:
        spec = VectorTable.load(ident, settings=lake.settings).specs.get("embedding")
        for tag in tags:
            df = lake.spark.createDataFrame(_batch(tag, lake.rows, lake.dim).to_pandas())
            if raw:
                timed(tag, lambda df=df: df.writeTo(f"lake.{ident}").append())
            else:
                timed(
                    tag,
                    lambda df=df: write_vector_table(
                        df, f"lake.{ident}", specs=[spec], key_column="key", mode="append"
                    ),
                )

    return {"pyiceberg": pyiceberg, "duckdb": duckdb, "spark": spark}[kind]


def run_case(lake: Lake, case: Case) -> None:
    """Create the case's table, run all its writers from one barrier, then count what landed."""
    import pyarrow as pa

    from lakehouse.table import VectorTable, load_catalog
    from lakehouse.vector import VectorSpec

    ident = f"bench.appends_{case.name.replace('-', '_')}"
    element = pa.list_(pa.field("element", pa.float32(), nullable=False))
    if case.name == "raw":  # pyiceberg's defaults, no lakehouse properties
        catalog = load_catalog(lake.settings)
        catalog.create_namespace_if_not_exists("bench")
        catalog.create_table(ident, pa.schema([("key", pa.string()), ("writer", pa.string()), ("embedding", element)]))
    else:
        schema = pa.schema([("key", pa.string()), ("writer", pa.string()), ("embedding", pa.list_(pa.float32()))])
        spec = VectorSpec("embedding", dim=lake.dim)
        VectorTable.create(ident, schema, vectors=[spec], key="key", settings=lake.settings)
    jobs = []
    for kind, (threads, appends) in case.writers.items():
        for w in range(threads):
            jobs.append(_writer(lake, case, kind, ident, [f"{kind}{w}-{i}" for i in range(appends)]))
            case.tried += appends
    barrier = threading.Barrier(len(jobs))

    def run(job: Callable[[], None]) -> None:
        barrier.wait(timeout=120)
        job()

    conflicts_before = lake.log_file.read_text().count("409 CommitFailedException")
    print(f"{case.name}: {len(jobs)} writers, {case.tried} commits ...", flush=True)
    t0 = time.perf_counter()
    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    case.seconds = time.perf_counter() - t0
    case.load = os.getloadavg()[0]
    case.conflicts = lake.log_file.read_text().count("409 CommitFailedException") - conflicts_before
    table = load_catalog(lake.settings).load_table(ident)
    keys = table.scan(selected_fields=("key",)).to_arrow().column("key").to_pylist()
    found = set(keys)
    case.rows_found, case.distinct = len(keys), len(found)
    case.lost, case.phantom = len(case.acknowledged - found), len(found - case.acknowledged)
    case.landed = sum(1 for s in table.snapshots() if s.summary and s.summary.operation.value == "append")
    print(
        f"  {case.seconds:.1f} s, landed {case.landed}/{case.tried}, lost rows {case.lost}, phantom {case.phantom}, "
        f"duplicated {case.duplicated}, errors {dict(case.errors)}, 409s {case.conflicts}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--pyiceberg", type=int, default=4, help="pyiceberg writer threads")
    ap.add_argument("--duckdb", type=int, default=3, help="DuckDB writer threads (one connection each)")
    ap.add_argument("--spark", type=int, default=1, help="Spark writer threads (one shared session)")
    ap.add_argument("--appends", type=int, default=13, help="appends per pyiceberg thread")
    ap.add_argument("--duckdb-appends", type=int, default=12)
    ap.add_argument("--spark-appends", type=int, default=12)
    ap.add_argument("--rows", type=int, default=10, help="rows per append")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--cases", default="lakehouse,issue-11,raw")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--output", default="BENCHMARKS.md", help="appended to; '-' prints only")
    args = ap.parse_args(argv)

    from lakehouse.catalog_client.process import stop
    from lakehouse.config import load_settings
    from lakehouse.spark import build_spark
    from tests.benchmarks.lake import start_catalog

    load_start = os.getloadavg()
    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="bench-concurrency-"))
    proc = start_catalog(root)
    settings = load_settings(
        home=str(root),
        project_dir=root,
        catalog={"uri": proc.uri},
        warehouse=proc.warehouse,
        environ={},
        spark={"master": args.master, "driver_memory": "2g"},
        lineage={"transport": "none"},
    )
    mixed = {
        "pyiceberg": (args.pyiceberg, args.appends),
        "duckdb": (args.duckdb, args.duckdb_appends),
        "spark": (args.spark, args.spark_appends),
    }
    shapes = {"lakehouse": mixed, "raw": mixed, "issue-11": {"pyiceberg": (8, 13)}}
    cases = [Case(name, {k: v for k, v in shapes[name].items() if v[0] and v[1]}) for name in args.cases.split(",")]
    spark = None
    try:
        if any("spark" in c.writers for c in cases):
            spark = build_spark(settings, app_name="bench_concurrency")
        lake = Lake(root, settings, proc, spark, args.rows, args.dim)
        for case in cases:
            run_case(lake, case)
    finally:
        if spark is not None:
            spark.stop()
        stop(root / "state")
        shutil.rmtree(root, ignore_errors=True)
    load_end = os.getloadavg()

    given = list(argv if argv is not None else sys.argv[1:])
    if "--output" in given:
        del given[given.index("--output") : given.index("--output") + 2]
    cmd = ("python -m tests.benchmarks concurrency " + " ".join(given)).strip()
    lines = [
        f"## Concurrent appends: pyiceberg, DuckDB and Spark writers on one table ({dt.date.today().isoformat()})",
        "",
        f"Command: `{cmd}` (`make bench BENCH=concurrency`)",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}; Spark "
        f"{args.master}; one catalog service (SQLite); load average {load_start[0]:.1f} at start, {load_end[0]:.1f} "
        f"at end (other jobs share the machine: times are noisy). Total run {time.perf_counter() - started:.0f} s.",
        f"Each append: {args.rows} rows x {args.dim} unit float32 vectors, unique keys; all writers start at a barrier "
        "and append back to back. Rows lost: acknowledged appends missing from the table (rows of failed appends "
        "that landed anyway would show as phantom, none here unless noted). 409s: lost races the catalog answered "
        "(each then retried by a client, or surfaced). Writers per case: "
        + "; ".join(f"{c.name}: " + ", ".join(f"{k} {t} x {a}" for k, (t, a) in c.writers.items()) for c in cases)
        + ".",
        "",
        "| case | commits tried | landed | rows lost | rows duplicated | errors surfaced to the caller | 409s "
        "| wall s | commits/s | append p50 s | append p95 s | load after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        lat = sorted(c.latencies)
        p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else float("nan")
        errors = ", ".join(f"{k} {n}" for k, n in sorted(c.errors.items())) or "0"
        lines.append(
            f"| {c.name} | {c.tried} | {c.landed} | {c.lost} | {c.duplicated} | {errors} | {c.conflicts} | "
            f"{c.seconds:.1f} | {c.landed / c.seconds:.1f} | {statistics.median(lat):.2f} | {p95:.2f} | "
            f"{c.load:.1f} |"
        )
    lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.output != "-":
        with open(args.output, "a", encoding="utf-8") as fh:
            fh.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
