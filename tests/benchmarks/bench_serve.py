"""Serving benchmark: what a query costs in a warm process, and what ``lakehouse serve`` answers under concurrency.

    python -m tests.benchmarks serve --rows 200000 --cache /tmp/bench-serve

Two parts over one table (``bench.vectors``: key, lang, title, a 384-d embedding; noisy clustered data as in
``bench_sql``; the automatic index, ``lang`` stored):

1. **Per-query cost** (one client thread, warm, ``--queries`` top-10 queries after one warm-up, the peers' harness
   style): Lance directly (``ds.to_table(nearest=...)`` on the index's Lance version, the same parameters),
   :meth:`VectorIndex.search`, and similarity SQL through one :class:`~lakehouse.sql.SqlSession` on DuckDB with the
   query vector bound as a parameter (``cosine_similarity(embedding, :q)``), covering (``SELECT key, score``) and
   reading the payload column ``title``, plus the same SQL with the 384 numbers written into the text, and the
   covering query in a session that may reuse table metadata for 1 s (``catalog.metadata_max_age_s``, opt-in; the
   others revalidate with ``If-None-Match`` at every query). The SQL overhead is SQL p50 minus search p50; the split
   says where it goes (catalog round trip, parse + bind + resolve + plan, index search, candidate rows, render +
   engine). ``catalog loads`` counts the catalog service's loadTable answers during the part (full / 304).
   Each query goes through every path in turn (the first path rotating), so that the machine's drift (the shared
   cores ran the same search 1.5 or 2.5 ms within an hour) reaches every path alike; ``--blocks`` runs the paths one
   after the other instead (the search then runs in a tight loop, its data warmer in the caches). Reads by key keep
   the row groups they decode (``index.payload_cache_mb``), so the ``title`` path is warm after its first queries.
2. **Concurrent clients**: ``lakehouse serve`` in its own process; 1, 4 and 16 client threads in this process, each
   with its own kept-alive HTTP connection, send requests back to back (closed loop) for ``--seconds``: throughput
   (requests/s over the whole run) and latency p50/p99 for ``POST /v1/search`` by vector, ``POST /v1/sql`` with a
   bound vector, and ``POST /v1/search`` by text (the model embeds each query in the service).

``--loads-only`` measures just the table load a query starts with, in alternating blocks in one process: a full
load (nothing kept), a conditional one (``If-None-Match``, answered 304) and a reuse inside ``metadata_max_age_s``, on
the benchmark table and on a side table with ``--snapshots`` small commits (metadata grows with every snapshot).

Prints a Markdown section (command, machine, date, load) and appends it to ``--output``. Never part of the test run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

TABLE = "bench.vectors"
K = 10
COVER = f"SELECT key, cosine_similarity(embedding, :q) AS score FROM lake.{TABLE} ORDER BY score DESC LIMIT {K}"
PAYLOAD = (
    f"SELECT key, title, cosine_similarity(embedding, :q) AS score FROM lake.{TABLE} ORDER BY score DESC LIMIT {K}"
)
TEXTS = [
    "how do I retry a failed commit",
    "snapshot isolation between concurrent writers",
    "vacuum and reclaim storage",
    "partition pruning on a date column",
    "merge new rows into a table by key",
    "roll back to an earlier snapshot",
    "which files does this query read",
    "embedding model and its version",
]


def percentiles(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values) * 1e3
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def literal(q: np.ndarray) -> str:
    return "[" + ", ".join(np.format_float_positional(x, unique=True, trim="-") for x in q) + f"]::FLOAT[{len(q)}]"


# -- the lake --------------------------------------------------------------------------------------------------------
def make_lake(args: argparse.Namespace, log: Callable[[str], None]) -> tuple[Path, Any, Any, Any]:
    """The table and its index under a (cached) root; returns (root, catalog process, settings, the data)."""
    from lakehouse.catalog_client.process import stop
    from lakehouse.config import load_settings
    from lakehouse.index import build, open_index
    from lakehouse.table import VectorTable
    from lakehouse.vector import VectorSpec, vector_type
    from tests.benchmarks.datasets import clustered
    from tests.benchmarks.lake import start_catalog

    data = clustered(args.rows, args.dim, "noisy")
    if args.cache:
        root = Path(args.cache).resolve() / f"{args.rows}x{args.dim}-noisy-auto"
        if not (root / "built.json").exists():
            stop(root / "state")
            shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)
    else:
        root = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    proc = start_catalog(root)
    settings = load_settings(
        home=str(root),
        project_dir=root,
        catalog={"uri": proc.uri},
        warehouse=proc.warehouse,
        environ={},
        lineage={"transport": "none"},
    )
    built = root / "built.json"
    if built.exists():
        for line in json.loads(built.read_text())["log"]:
            log(line + " (cached, not rebuilt)")
        return root, proc, settings, data
    n, dim = args.rows, args.dim
    ids = np.arange(n)
    schema = pa.schema(
        [("key", pa.int64()), ("lang", pa.string()), ("title", pa.string()), ("embedding", pa.list_(pa.float32()))]
    )
    spec = VectorSpec("embedding", dim=dim, metric="cosine", model="all-MiniLM-L6-v2")
    vt = VectorTable.create(TABLE, schema, key="key", settings=settings, vectors=[spec])
    t0 = time.perf_counter()
    vt.append(
        {
            "key": ids,
            "lang": np.where(ids % 100 == 1, "yy", "en"),
            "title": [f"document {i}" for i in range(n)],
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(data.vectors.ravel()), type=vector_type(dim)),
        }
    )
    lines = [f"- table write ({n:,} x {dim}, noisy clusters): {time.perf_counter() - t0:.1f} s"]
    t0 = time.perf_counter()
    build(vt, "embedding", store=["lang"], settings=settings)
    meta = open_index(vt, "embedding", settings=settings).meta
    params = ", ".join(f"{k}={v}" for k, v in dict(meta.params).items() if k != "index_type")
    lines.append(f"- index build: {meta.index_type} ({params}): {time.perf_counter() - t0:.0f} s")
    for line in lines:
        log(line)
    built.write_text(json.dumps({"log": lines}))
    return root, proc, settings, data


# -- part 1: per-query cost ------------------------------------------------------------------------------------------
def per_query(
    settings: Any, queries: np.ndarray, truth: np.ndarray, log: Callable[[str], None], blocks: bool = False
) -> list[str]:
    from lakehouse.index import open_index
    from lakehouse.index.build import IndexParams
    from lakehouse.sql import SqlSession
    from lakehouse.table import VectorTable

    index = open_index(VectorTable.load(TABLE, settings=settings), "embedding", settings=settings)
    meta = index.meta
    version = index._tag(index.indexed_snapshot)
    ds = index._dataset(version)
    params = IndexParams.from_dict(dict(meta.params))
    nearest: dict[str, Any] = {"column": "embedding", "k": K, "metric": "cosine"}
    for name in ("nprobes", "refine_factor", "ef"):
        if getattr(params, name):
            nearest[name] = getattr(params, name)
    if "ef" in nearest:
        nearest["ef"] = max(nearest["ef"], K * (params.refine_factor or 1))

    def lance(q: np.ndarray) -> list[int]:
        t = ds.to_table(nearest={**nearest, "q": q}, columns=["key"], disable_scoring_autoprojection=True)
        return t.column("key").to_pylist()

    def search(q: np.ndarray) -> list[int]:
        return index.search(q, K).keys

    from dataclasses import replace

    session = SqlSession(settings)
    windowed = SqlSession(replace(settings, catalog=replace(settings.catalog, metadata_max_age_s=1.0)))
    sessions = [session]
    splits: dict[str, list[dict[str, float]]] = {}

    catalog_ms: list[float] = []

    def timed_catalog() -> None:
        """Count what the session's catalog client spends loading table metadata (a REST round trip a query)."""
        cat = sessions[0]._catalog
        if cat is None or "load_table" in cat.__dict__:
            return
        load = type(cat).load_table

        def timed(*a: Any, **kw: Any) -> Any:
            s = time.perf_counter()
            try:
                return load(cat, *a, **kw)
            finally:
                catalog_ms.append((time.perf_counter() - s) * 1e3)

        cat.load_table = timed

    def sql(text: str, bound: bool, name: str, session: Any = session) -> Callable[[np.ndarray], list[int]]:
        def run(q: np.ndarray) -> list[int]:
            sessions[0] = session
            timed_catalog()
            catalog_ms.clear()
            t0 = time.perf_counter()
            plan, _ = session.plan(text if bound else text.replace(":q", literal(q)), {"q": q} if bound else None)
            t1 = time.perf_counter()
            rows, info = session.executor.execute(plan)
            t2 = time.perf_counter()
            ms = info.get("ms", {})
            cat = sum(catalog_ms)
            split = {
                "catalog": cat,
                "plan": (t1 - t0) * 1e3 - cat,
                **ms,
                "engine": (t2 - t1) * 1e3 - sum(ms.values()),
            }
            splits.setdefault(name, []).append(split)
            return rows.column("key").to_pylist()

        return run

    paths: list[tuple[str, Callable[[np.ndarray], list[int]], str | None]] = [
        ("Lance directly (`ds.to_table(nearest=...)`)", lance, None),
        ("`VectorIndex.search`", search, None),
        ("SQL, vector bound (`:q`), covering", sql(COVER, True, "cover"), "cover"),
        ("SQL, vector bound (`:q`), `title` read by key", sql(PAYLOAD, True, "payload"), "payload"),
        ("SQL, vector written into the text, covering", sql(COVER, False, "literal"), "literal"),
        (
            "SQL, vector bound, covering, metadata reused up to 1 s (opt-in)",
            sql(COVER, True, "window", windowed),
            "window",
        ),
    ]
    # A warm process holds an often-searched index version in memory, loaded in the background from its 16th search
    # (lakehouse.index.resident): get it there before timing, or the first paths are timed against Lance's search
    # and the later ones against the resident one.
    from lakehouse.index.residency import wait_for_loads

    for q in queries[:20]:
        search(q)
    wait_for_loads()
    results: dict[str, tuple[float, float, float]] = {}
    loads_before = catalog_loads(settings)
    latency: dict[str, list[float]] = {name: [] for name, _, _ in paths}
    recall: dict[str, list[float]] = {name: [] for name, _, _ in paths}

    def timed(name: str, fn: Callable[[np.ndarray], list[int]], q: np.ndarray, t: np.ndarray) -> None:
        s = time.perf_counter()
        keys = fn(q)
        latency[name].append(time.perf_counter() - s)
        recall[name].append(len(set(keys) & set(t.tolist())) / K)

    try:
        for _, fn, _ in paths:
            fn(queries[0])  # warm-up
        splits.clear()
        pairs = list(zip(queries[1:], truth[1:], strict=True))
        if blocks:  # each path's queries one after the other, path after path
            for name, fn, _ in paths:
                for q, t in pairs:
                    timed(name, fn, q, t)
        else:  # each query through every path in turn, the first path rotating: drift reaches every path alike
            for i, (q, t) in enumerate(pairs):
                for name, fn, _ in paths[i % len(paths) :] + paths[: i % len(paths)]:
                    timed(name, fn, q, t)
        for name, _, key in paths:
            p50, p99 = percentiles(latency[name])
            split = ""
            if key is not None and splits.get(key):
                parts = splits[key]
                med = {k: float(np.median([p[k] for p in parts])) for k in parts[0]}
                split = " / ".join(f"{med.get(k, 0):.1f}" for k in ("catalog", "plan", "search", "rows", "engine"))
            rec = float(np.mean(recall[name]))
            log(f"  - {name}: p50 {p50:.2f} ms, p99 {p99:.2f} ms, recall@10 {rec:.3f} {split}")
            results[name] = (p50, p99, rec, split)  # type: ignore[assignment]
    finally:
        session.close()
        windowed.close()
    loads_after = catalog_loads(settings)
    log(
        "- catalog loads during part 1 (full / 304 Not Modified): "
        + " / ".join(str(loads_after.get(k, 0) - loads_before.get(k, 0)) for k in ("full", "not_modified"))
    )
    search_p50 = results["`VectorIndex.search`"][0]
    table = [
        "| path | p50 ms | p99 ms | recall@10 | over search | catalog / parse+plan / search / rows / engine, ms |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, (p50, p99, rec, split) in results.items():  # type: ignore[misc]
        over = f"{p50 - search_p50:+.2f} ms" if name.startswith("SQL") else "-"
        table.append(f"| {name} | {p50:.2f} | {p99:.2f} | {rec:.3f} | {over} | {split or '-'} |")
    return table


def catalog_loads(settings: Any) -> dict[str, int]:
    """The catalog service's loadTable answers so far (``/healthz``), in full and as 304."""
    import httpx

    return dict(httpx.get(f"{settings.catalog.uri}/healthz", timeout=30).json().get("table_loads") or {})


def table_loads(settings: Any, snapshots: int, n: int, log: Callable[[str], None]) -> list[str]:
    """p50 of a full, a conditional (304) and a windowed table load, interleaved, on two tables."""
    from dataclasses import replace

    from lakehouse.table import VectorTable, load_catalog
    from lakehouse.vector import VectorSpec

    side = "bench.many_snapshots"
    cat = load_catalog(settings)
    if not cat.table_exists(side):
        vt = VectorTable.create(
            side,
            pa.schema([("key", pa.int64()), ("embedding", pa.list_(pa.float32()))]),
            key="key",
            settings=settings,
            vectors=[VectorSpec("embedding", dim=4, metric="cosine")],
        )
        for i in range(snapshots):
            vt.append({"key": [i], "embedding": [[1.0, float(i), 0.0, 1.0]]})
    windowed = load_catalog(replace(settings, catalog=replace(settings.catalog, metadata_max_age_s=3600.0)))
    table = [
        "| table | metadata bytes | full load p50 ms | conditional (304) p50 ms | reused (window) p50 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in (TABLE, side):
        ident = tuple(name.split("."))
        size = len(cat._session.get(cat.url(f"namespaces/bench/tables/{ident[1]}")).content)
        windowed.load_table(ident)
        times: dict[str, list[float]] = {"full": [], "conditional": [], "reused": []}
        for _ in range(max(1, n // 10)):  # blocks of 10 of each kind, alternating, so the load drifts alike for all
            for kind, client in (("full", cat), ("conditional", cat), ("reused", windowed)):
                for _ in range(10):
                    if kind == "full":
                        cat.forget_loads()
                    t0 = time.perf_counter()
                    client.load_table(ident)
                    times[kind].append(time.perf_counter() - t0)
        p = {k: percentiles(v)[0] for k, v in times.items()}
        line = f"| {name} | {size:,} | {p['full']:.2f} | {p['conditional']:.2f} | {p['reused']:.3f} |"
        log(f"  - {line} load {os.getloadavg()[0]:.1f}")
        table.append(line)
    return table


# -- part 2: the service under concurrent clients --------------------------------------------------------------------
def start_serve(root: Path, proc: Any, settings: Any) -> tuple[subprocess.Popen[bytes], Any]:
    from lakehouse.serve import running

    env = {
        **os.environ,
        "LAKEHOUSE_HOME": str(root),
        "LAKEHOUSE__CATALOG__URI": proc.uri,
        "LAKEHOUSE__WAREHOUSE": proc.warehouse,
        "LAKEHOUSE__LINEAGE__TRANSPORT": "none",
    }
    log = open(root / "serve.log", "ab")  # noqa: SIM115 - closed with the process
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "lakehouse.cli.main", "serve", "--port", "0", "--sql-sessions", "2"],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        info = running(settings)
        if info is not None and info.pid == child.pid:
            return child, info
        if child.poll() is not None:
            raise RuntimeError(f"lakehouse serve exited with {child.returncode}; see {root / 'serve.log'}")
        time.sleep(0.2)
    child.terminate()
    raise RuntimeError("lakehouse serve did not start within 120 s")


def hammer(uri: str, token: str, path: str, bodies: list[bytes], clients: int, seconds: float) -> dict[str, float]:
    """``clients`` threads posting ``bodies`` round-robin back to back for ``seconds``; throughput and latency."""
    import httpx

    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client(i: int) -> None:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        with httpx.Client(base_url=uri, headers=headers, timeout=120) as c:
            c.post(path, content=bodies[i % len(bodies)])  # connect and warm this connection
            start.wait()
            j = i
            while time.perf_counter() < stop_at[0]:
                s = time.perf_counter()
                r = c.post(path, content=bodies[j % len(bodies)])
                latencies[i].append(time.perf_counter() - s)
                errors[i] += r.status_code != 200
                j += clients

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + 1e9
    start.wait()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    flat = [x for per in latencies for x in per]
    p50, p99 = percentiles(flat)
    return {"requests": len(flat), "rps": len(flat) / wall, "p50": p50, "p99": p99, "errors": sum(errors)}


def concurrent(root: Path, proc: Any, settings: Any, queries: np.ndarray, args: argparse.Namespace, log: Any) -> Any:
    from lakehouse.serve.auth import client_token

    child, info = start_serve(root, proc, settings)
    token = client_token(settings)
    vectors = [q.tolist() for q in queries[:64]]
    kinds = {
        "search, vector": (
            "/v1/search",
            [{"table": TABLE, "vector": v, "k": K, "columns": ["key", "title"]} for v in vectors],
        ),
        "sql, bound vector": ("/v1/sql", [{"sql": COVER, "params": {"q": v}} for v in vectors]),
        "search, text (embedded in the service)": (
            "/v1/search",
            [{"table": TABLE, "text": t, "k": K, "columns": ["key", "title"]} for t in TEXTS],
        ),
    }
    table = [
        "| request | clients | requests | throughput req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    try:
        for name, (path, bodies) in kinds.items():
            encoded = [json.dumps(b).encode() for b in bodies]
            hammer(info.uri, token, path, encoded, 1, 1.0)  # the first text query loads the model: not timed
            for clients in args.clients:
                r = hammer(info.uri, token, path, encoded, clients, args.seconds)
                line = (
                    f"| {name} | {clients} | {r['requests']} | {r['rps']:.1f} | {r['p50']:.1f} | {r['p99']:.1f} | "
                    f"{r['errors']} |"
                )
                log(f"  - {line} load {os.getloadavg()[0]:.1f}")
                table.append(line)
    finally:
        child.terminate()
        child.wait(timeout=30)
    return table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=1000, help="per path in part 1 (plus one warm-up)")
    ap.add_argument("--clients", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4, 16])
    ap.add_argument("--seconds", type=float, default=20.0, help="per request kind and client count in part 2")
    ap.add_argument("--skip-concurrency", action="store_true")
    ap.add_argument("--skip-per-query", action="store_true")
    ap.add_argument(
        "--blocks", action="store_true", help="part 1 path by path (default: each query through every path in turn)"
    )
    ap.add_argument("--loads-only", action="store_true", help="only the table-load comparison")
    ap.add_argument("--snapshots", type=int, default=200, help="commits of the side table in --loads-only")
    ap.add_argument("--cache", metavar="DIR", help="keep the table and index under DIR for the next run")
    ap.add_argument("--output", default="BENCHMARKS.md", help="appended to; '-' prints only")
    args = ap.parse_args(argv)
    from lakehouse.catalog_client.process import stop
    from tests.benchmarks.datasets import around, exact_top

    lines: list[str] = []

    def log(text: str) -> None:
        lines.append(text)
        print(text, flush=True)

    load_before = os.getloadavg()
    root, proc, settings, data = make_lake(args, log)
    try:
        queries = around(np.random.default_rng(1), data.centers, args.queries + 1, data.noise)
        truth = exact_top(data.vectors, queries, K)
        loads = table_loads(settings, args.snapshots, args.queries, log) if args.loads_only else []
        skip_per_query = args.skip_per_query or args.loads_only
        skip_concurrency = args.skip_concurrency or args.loads_only
        log(f"- per-query cost, {args.queries} queries a path (load {os.getloadavg()[0]:.1f}):")
        part1 = [] if skip_per_query else per_query(settings, queries, truth, log, args.blocks)
        load_mid = os.getloadavg()
        part2 = [] if skip_concurrency else concurrent(root, proc, settings, queries, args, log)
        load_after = os.getloadavg()
    finally:
        if not args.cache:
            stop(root / "state")
            shutil.rmtree(root, ignore_errors=True)
    section = [
        f"## Serving: per-query cost and `lakehouse serve` under concurrent clients ({args.rows:,} x {args.dim})",
        "",
        f"`python -m tests.benchmarks serve {' '.join(argv or [])}`".replace(" `", "`"),
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"date {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- load average (1 min) before / after part 1 / after part 2: {load_before[0]:.1f} / {load_mid[0]:.1f} / "
        f"{load_after[0]:.1f} (2 cores shared with other work: absolute figures move with it, ratios less)",
        *[line for line in lines if line.startswith("- ") and "per-query" not in line],
    ]
    if loads:
        section += ["", "Table loads, alternating blocks of 10 in one process (one client thread):", "", *loads]
    if part1:
        order = "path by path (--blocks)" if args.blocks else "each query through every path in turn"
        section += ["", f"Per-query cost (one client thread, warm, top-10, {order}):", "", *part1]
    if part2:
        section += [
            "",
            f"`lakehouse serve` (its own process, 2 DuckDB sessions) under closed-loop clients, {args.seconds:.0f} s "
            "each (clients and service share the 2 cores):",
            "",
            *part2,
        ]
    text = "\n".join(section) + "\n"
    print(text)
    if args.output != "-":
        with open(args.output, "a") as f:
            f.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
