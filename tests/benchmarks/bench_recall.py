"""Recall@10 and latency of the auto index parameters, unfiltered and under filters independent of the clusters.

    python -m tests.benchmarks.bench_recall --rows 200000 --data tight --types auto,ivf_pq,ivf_hnsw_sq
    python -m tests.benchmarks.bench_recall --rows 1000000 --data noisy --cache .lakehouse/bench-cache
    python -m tests.benchmarks.bench_recall --data pydoc --modules 0 --types ivf_pq,ivf_hnsw_sq

Data (:mod:`tests.benchmarks.datasets`): ``tight`` (1,000 clusters, noise 0.1), ``noisy`` (256 clusters, noise 0.35),
or ``pydoc`` (real all-MiniLM-L6-v2 embeddings of the demo corpus, as in ``bench_index --data pydoc``). Every row
has a ``bucket`` column, uniform in [0, 1000) and independent of the clusters, stored in the index: the filters
``bucket < 1``, ``< 10``, ``< 100`` keep 0.1%, 1% and 10% of the rows. Ground truth is exact numpy search over the
same rows (the same filter). For each index type the table goes through ``lakehouse.index.build`` and the planner
(``VectorIndex.search``) answers; search-time parameters are the ones ``choose_params`` picks *now* for the row count,
so an index kept in ``--cache`` (keyed by its build-time parameters) measures today's defaults. ``--sweep`` adds a
query-time grid (``nprobes=4,8;ef=128,256``). ``--sql`` also runs the 1% query as similarity SQL (DuckDB engine).

Prints a Markdown section (command, machine, date, load) and appends it to ``--output`` ('-' prints only).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import itertools
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

SELECTIVITIES = (0.001, 0.01, 0.1)
BUILD_KEYS = ("index_type", "num_partitions", "num_sub_vectors", "m", "ef_construction", "sample_rate", "max_iters")
SEARCH_KEYS = ("nprobes", "ef", "refine_factor")


def load_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(vectors, bucket, queries, description)."""
    from tests.benchmarks.datasets import BUCKETS, clustered

    if args.data == "pydoc":
        from lakehouse.ingest.demo import stdlib_modules
        from tests.benchmarks.bench_index import pydoc_vectors

        modules = args.modules or len(stdlib_modules())
        m, queries, about = pydoc_vectors(modules, args.queries)
        m = m / np.linalg.norm(m, axis=1, keepdims=True)
        bucket = np.random.default_rng(7919).integers(0, BUCKETS, len(m))
        return m.astype(np.float32), bucket, queries.astype(np.float32), about
    d = clustered(args.rows, args.dim, args.data, clusters=args.clusters)
    about = f"{len(d.centers):,} clusters, noise {d.noise} ({args.data})"
    return d.vectors, d.bucket, d.queries(args.queries), about


def recall_of(keys: list[Any], truth: np.ndarray, m: np.ndarray, q: np.ndarray) -> float:
    """Share of the true top k found, counting ties: a returned row scoring at least the k-th true score counts (the
    pydoc corpus holds identical chunks, whose vectors tie; a key-set comparison would mark exact search wrong)."""
    kth = float(m[truth[-1]] @ q)
    found = np.asarray(keys, dtype=np.int64)[: len(truth)]
    return float(np.count_nonzero(m[found] @ q >= kth - 1e-6)) / len(truth) if len(found) else 0.0


def measure(fn: Any, queries: np.ndarray, truth: np.ndarray, m: np.ndarray) -> dict[str, Any]:
    fn(queries[0])  # warm-up
    lat, rec, paths, probes = [], [], {}, set()
    for q, t in zip(queries, truth, strict=True):
        s = time.perf_counter()
        res = fn(q)
        lat.append(time.perf_counter() - s)
        rec.append(recall_of(res.keys, t, m, q))
        path = "exact over filter" if "exact search over them" in res.plan.reason else res.plan.path
        paths[path] = paths.get(path, 0) + 1
        if "nprobes" in res.plan.params and path != "exact over filter":
            probes.add(res.plan.params["nprobes"])
    ms = np.asarray(lat) * 1000
    return {
        "recall": float(np.mean(rec)),
        "p50": float(np.percentile(ms, 50)),
        "p95": float(np.percentile(ms, 95)),
        "paths": paths,
        "nprobes": sorted(probes),
    }


def lake_root(args: argparse.Namespace, build_params: dict[str, Any], rows: int) -> tuple[Path, bool]:
    """The lake folder for this data and index build: cached (reused when complete) or a fresh temporary one."""
    from lakehouse.catalog_client.process import stop

    if not args.cache:
        return Path(tempfile.mkdtemp(prefix="bench-recall-")), False
    tag = json.dumps({"data": args.data, "rows": rows, "dim": args.dim, "clusters": args.clusters, **build_params})
    root = Path(args.cache).resolve() / f"{args.data}-{rows}-{hashlib.sha1(tag.encode()).hexdigest()[:10]}"
    if not (root / "built.json").exists():
        stop(root / "state")
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        (root / "tag.json").write_text(tag)
        return root, False
    return root, True


def run_type(
    args: argparse.Namespace, index_type: str, m: np.ndarray, bucket: np.ndarray, queries: np.ndarray, log: Any
) -> None:
    from lakehouse.catalog_client.process import stop
    from lakehouse.config import load_settings
    from lakehouse.index import build, choose_params, open_index
    from lakehouse.table import VectorTable
    from lakehouse.vector import VectorSpec, vector_type
    from tests.benchmarks.datasets import exact_top
    from tests.benchmarks.lake import start_catalog

    n, dim = m.shape
    overrides = dict(kv.split("=") for kv in args.param) if args.param else {}
    overrides = {k: int(v) for k, v in overrides.items()}
    chosen = choose_params(n, dim, index_type, **overrides)
    build_params = {k: v for k, v in chosen.to_dict().items() if k in BUILD_KEYS}
    search_params = {k: v for k, v in chosen.to_dict().items() if k in SEARCH_KEYS}
    root, cached = lake_root(args, build_params, n)
    proc = start_catalog(root)
    try:
        settings = load_settings(
            home=str(root),
            catalog={"uri": proc.uri},
            warehouse=proc.warehouse,
            environ={},
            lineage={"transport": "none"},
        )
        if cached:
            vt = VectorTable.load("bench.recall", settings=settings)
            build_s = json.loads((root / "built.json").read_text())["build_s"]
        else:
            schema = pa.schema([("key", pa.int64()), ("bucket", pa.int64()), ("embedding", pa.list_(pa.float32()))])
            vt = VectorTable.create(
                "bench.recall", schema, key="key", settings=settings, vectors=[VectorSpec("embedding", dim, "cosine")]
            )
            vectors = pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), type=vector_type(dim))
            vt.append({"key": np.arange(n), "bucket": bucket, "embedding": vectors})
            t0 = time.perf_counter()
            build(vt, "embedding", index_type=index_type, store=["bucket"], settings=settings, **overrides)
            build_s = time.perf_counter() - t0
            if args.cache:
                (root / "built.json").write_text(json.dumps({"build_s": build_s}))
        index = open_index(vt, "embedding", settings=settings)
        meta = index.meta
        params = ", ".join(f"{k}={v}" for k, v in {**build_params, **search_params}.items() if k != "index_type")
        load = os.getloadavg()[0]
        log(
            f"- {index_type} -> {meta.index_type} ({params}): build {build_s:.0f} s"
            + (" (cached, not rebuilt)" if cached else "")
            + f"; load {load:.1f}"
        )
        cases: list[tuple[str, str | None, np.ndarray]] = [("unfiltered", None, exact_top(m, queries))]
        for share in SELECTIVITIES:
            rows = np.flatnonzero(bucket < round(share * 1000))
            cases.append(
                (
                    f"{share:.1%} ({len(rows):,} rows)",
                    f"bucket < {round(share * 1000)}",
                    exact_top(m, queries, rows=rows),
                )
            )
        for label, where, truth in cases:
            r = measure(lambda q: index.search(q, 10, where=where, **search_params), queries, truth, m)  # noqa: B023
            log(
                f"| {meta.index_type} | {label} | {r['recall']:.3f} | {r['p50']:.1f} | {r['p95']:.1f} | "
                f"{', '.join(f'{k} {v}' for k, v in r['paths'].items())} | {','.join(map(str, r['nprobes'])) or '-'} "
                f"| {os.getloadavg()[0]:.1f} |",
                row=True,
            )
        if args.sql:
            sql_check(settings, queries, cases[2], log, meta.index_type, m)
        if args.sweep:
            grid = [dict(zip([k for k, _ in g], [v for _, v in g], strict=True)) for g in _grid(args.sweep)]
            for opts in grid:
                r = measure(lambda q: index.search(q, 10, **{**search_params, **opts}), queries, cases[0][2], m)  # noqa: B023
                log(f"  - sweep {opts}: recall {r['recall']:.3f}, p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms")
    finally:
        stop(root / "state")
        if not args.cache:
            shutil.rmtree(root, ignore_errors=True)


def _grid(spec: str) -> list[list[tuple[str, int]]]:
    axes = []
    for part in spec.split(";"):
        name, values = part.split("=")
        axes.append([(name, int(v)) for v in values.split(",")])
    return [list(c) for c in itertools.product(*axes)]


def sql_check(
    settings: Any, queries: np.ndarray, case: tuple[str, str | None, np.ndarray], log: Any, kind: str, m: np.ndarray
) -> None:
    from lakehouse.sql import SqlSession

    label, where, truth = case
    lat, rec = [], []
    with SqlSession(settings) as session:
        for i, (q, t) in enumerate(zip(queries, truth, strict=True)):
            literal = "[" + ", ".join(np.format_float_positional(x, unique=True, trim="-") for x in q) + "]"
            sql = (
                f"SELECT key, cosine_similarity(embedding, {literal}::FLOAT[{len(q)}]) AS score "
                f"FROM lake.bench.recall WHERE {where} ORDER BY score DESC LIMIT 10"
            )
            s = time.perf_counter()
            keys = session.query(sql).column("key").to_pylist()
            if i:
                lat.append(time.perf_counter() - s)
                rec.append(recall_of(keys, t, m, q))
    log(
        f"| {kind} | {label}, similarity SQL (DuckDB, end to end) | {np.mean(rec):.3f} | "
        f"{np.percentile(np.asarray(lat) * 1000, 50):.1f} | {np.percentile(np.asarray(lat) * 1000, 95):.1f} | "
        f"SQL ANN path | - | {os.getloadavg()[0]:.1f} |",
        row=True,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--data", choices=("tight", "noisy", "pydoc"), default="tight")
    ap.add_argument("--clusters", type=int, default=None, help="replaces the data set's cluster count")
    ap.add_argument("--modules", type=int, default=0, help="--data pydoc: stdlib modules (0 = all)")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--types", default="auto", help="comma-separated: auto, ivf_pq, ivf_hnsw_sq, ivf_flat")
    ap.add_argument("--param", action="append", help="build override, e.g. --param num_partitions=64")
    ap.add_argument("--sweep", help="query-time grid, e.g. 'nprobes=4,8;ef=128,256'")
    ap.add_argument("--sql", action="store_true", help="also run the 1%% filter as similarity SQL")
    ap.add_argument("--cache", metavar="DIR", help="keep tables and indexes under DIR (gitignored .lakehouse/...)")
    ap.add_argument("--output", default="BENCHMARKS.md", help="appended to; '-' prints only")
    args = ap.parse_args(argv)

    started, load_before = time.perf_counter(), os.getloadavg()
    m, bucket, queries, about = load_data(args)
    lines: list[str] = []
    rows_out: list[str] = []

    def log(text: str, row: bool = False) -> None:
        (rows_out if row else lines).append(text)
        print(text, flush=True)

    for index_type in args.types.split(","):
        run_type(args, index_type, m, bucket, queries, log)
    load_after = os.getloadavg()
    header = [
        "",
        f"## Recall at the auto parameters, {len(m):,} x {m.shape[1]}, {about} ({dt.date.today().isoformat()})",
        "",
        f"Command: `python -m tests.benchmarks.bench_recall {' '.join(argv if argv is not None else sys.argv[1:])}` "
        f"({(time.perf_counter() - started) / 60:.0f} min)",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}; load average {load_before[0]:.1f} at start, {load_after[0]:.1f} at end "
        "(other engineers' runs share the cores: latencies are pessimistic, recall is not affected). "
        f"{len(queries)} queries (plus a warm-up), k=10, one client thread; filters on `bucket`, independent of the "
        "clusters; ground truth exact numpy over the same filter.",
        "",
    ]
    table = [
        "",
        "| index | filter (matching rows) | recall@10 | p50 ms | p95 ms | planner path (queries) | nprobes | load |",
        "|---|---|---|---|---|---|---|---|",
        *rows_out,
    ]
    text = "\n".join(header + lines + table) + "\n"
    if args.output != "-":
        with open(args.output, "a") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
