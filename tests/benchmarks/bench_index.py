"""ANN index benchmark on a real table (catalog service + pyiceberg + Lance), against exact numpy search.

    python -m tests.benchmarks.bench_index --rows 1000000 --dim 384 --types ivf_pq,ivf_hnsw_sq

Appends its results (command, machine, date) to BENCHMARKS.md. Never part of the default test run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa


def clustered(rng: np.random.Generator, n: int, dim: int, clusters: int = 256) -> np.ndarray:
    centers = rng.normal(size=(clusters, dim)).astype(np.float32)
    m = centers[rng.integers(0, clusters, n)] + 0.35 * rng.normal(size=(n, dim)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def pct(values: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, p))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--types", default="ivf_pq,ivf_hnsw_sq")
    ap.add_argument("--output", default="BENCHMARKS.md")
    args = ap.parse_args(argv)

    from catalog.manager import ensure_running, stop
    from lakehouse.config import load_settings
    from lakehouse.index import build, open_index, refresh
    from lakehouse.table import VectorTable
    from lakehouse.vector import VectorSpec, top_k, vector_type

    rng = np.random.default_rng(0)
    root = Path(tempfile.mkdtemp(prefix="bench-index-"))
    (root / "warehouse").mkdir()
    proc = ensure_running(root / "state", database_url=f"sqlite:///{root / 'catalog.db'}",
                          warehouse=(root / "warehouse").as_uri(), timeout=60)
    lines: list[str] = []
    try:
        settings = load_settings(home=str(root), catalog={"uri": proc.uri}, warehouse=proc.warehouse, environ={})
        n, dim = args.rows, args.dim
        m = clustered(rng, n, dim)
        lang = np.where(np.arange(n) % 1000 == 0, "xx", np.where(np.arange(n) % 100 == 1, "yy",
                        np.where(np.arange(n) % 10 == 2, "zz", "en")))
        schema = pa.schema([("key", pa.int64()), ("lang", pa.string()), ("embedding", pa.list_(pa.float32()))])
        vt = VectorTable.create("bench.vectors", schema, key="key", settings=settings,
                                vectors=[VectorSpec("embedding", dim=dim, metric="cosine")])
        t0 = time.perf_counter()
        vt.append({"key": np.arange(n), "lang": lang,
                   "embedding": pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), type=vector_type(dim))})
        lines.append(f"- table write ({n:,} x {dim}): {time.perf_counter() - t0:.1f} s")
        queries = clustered(np.random.default_rng(1), args.queries, dim)
        t0 = time.perf_counter()
        truth = [set(top_k(m, q, 10, "cosine")[0].tolist()) for q in queries]
        exact_ms = (time.perf_counter() - t0) / len(queries) * 1000
        lines.append(f"- exact numpy top-10: {exact_ms:.1f} ms/query (baseline)")
        lines.append("")
        lines.append("| index | build s | size MB | recall@10 | p50 ms | p95 ms | p50 vs exact numpy |")
        lines.append("|---|---|---|---|---|---|---|")
        for index_type in args.types.split(","):
            t0 = time.perf_counter()
            built = build(vt, "embedding", index_type=index_type, store=["lang"], settings=settings)
            build_s = time.perf_counter() - t0
            index = open_index(vt, "embedding", settings=settings)
            index.search(queries[0], 10)
            lat, rec = [], []
            for q, t in zip(queries, truth, strict=True):
                s = time.perf_counter()
                res = index.search(q, 10)
                lat.append(time.perf_counter() - s)
                rec.append(len(t & set(res.keys)) / 10)
            size = (index.store.size_bytes() or 0) / 1e6
            lines.append(f"| {index_type} | {build_s:.1f} | {size:.0f} | {np.mean(rec):.3f} | {pct(lat, 50):.1f} | "
                         f"{pct(lat, 95):.1f} | {exact_ms / pct(lat, 50):.1f}x faster |")
            assert built.action == "build"
        lines.append("")
        lines.append("Filtered (last index above; answers must never be short):")
        lines.append("")
        lines.append("| selectivity | path | recall@10 | short answers | p50 ms |")
        lines.append("|---|---|---|---|---|")
        for value, share in (("xx", 0.001), ("yy", 0.01), ("zz", 0.1)):
            mask = lang == value
            sub, ids = m[mask], np.flatnonzero(mask)
            lat, rec, short, paths = [], [], 0, set()
            for q in queries[:100]:
                t = set(ids[top_k(sub, q, 10, "cosine")[0]].tolist())
                s = time.perf_counter()
                res = index.search(q, 10, where=f"lang = '{value}'")
                lat.append(time.perf_counter() - s)
                rec.append(len(t & set(res.keys)) / 10)
                short += len(res) < 10
                paths.add(res.plan.path + (" exact-over-filter" if "exact search over them" in res.plan.reason else ""))
            lines.append(f"| {share:.1%} | {', '.join(sorted(paths))} | {np.mean(rec):.3f} | {short} | {pct(lat, 50):.1f} |")
        lines.append("")
        extra = max(1, n // 100)
        vt.append({"key": np.arange(n, n + extra), "lang": np.full(extra, "en"),
                   "embedding": pa.FixedSizeListArray.from_arrays(pa.array(clustered(rng, extra, dim).ravel()),
                                                                  type=vector_type(dim))})
        r = refresh(vt, "embedding", settings=settings)
        lines.append(f"- refresh after +1% rows: {r.seconds:.2f} s ({r.action}, folded={r.folded}) vs full build "
                     f"{build_s:.1f} s = {r.seconds / build_s:.1%} of a build")
        vt.iceberg.delete(f"key < {n // 100}")
        r = refresh(vt, "embedding", settings=settings)
        lines.append(f"- refresh after deleting 1% (copy-on-write): {r.seconds:.2f} s = {r.seconds / build_s:.1%} of a build")
    finally:
        stop(root / "state")
    header = [
        "", f"## ANN index benchmark ({dt.date.today().isoformat()})", "",
        f"Command: `python -m tests.benchmarks.bench_index {' '.join(argv if argv is not None else sys.argv[1:])}`",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}; one client thread, warm, {args.queries} queries, clustered unit vectors.", "",
    ]
    text = "\n".join(header + lines) + "\n"
    print(text)
    with open(args.output, "a") as fh:
        fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
