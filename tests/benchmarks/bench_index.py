"""ANN index benchmark on a real table (catalog service + pyiceberg + Lance), against exact numpy and DuckDB search.

    python -m tests.benchmarks.bench_index --rows 1000000 --dim 384 --types ivf_pq,ivf_hnsw_sq
    python -m tests.benchmarks.bench_index --data pydoc --modules 120 --types ivf_flat,ivf_pq,ivf_hnsw_sq

Data (``--data synthetic``, the default): ``clusters`` random centres, each vector a centre plus isotropic noise,
L2-normalised. Queries are drawn the same way from the *same* centres (a query about something the table holds).
``--data pydoc``: real embeddings, the default model (all-MiniLM-L6-v2) over the demo corpus's pydoc pages of
``--modules`` standard-library modules, chunked as the embed job chunks them; queries are the embedded first lines of
randomly chosen chunks (short questions about something the table holds). The vectors are cached under the system
temp folder, keyed by the module count, so a re-run does not re-embed. Drawing queries around fresh random
centres, as an earlier version did, makes every query equidistant from everything (top-1 cosine 0.19, top-100
0.15): the "nearest" ten are noise and no ANN index can find them, which is what made recall look broken.

Prints a Markdown section (command, machine, date, load) and appends it to ``--output``; writes a recall-vs-latency
PNG next to it when matplotlib is installed. Never part of the default test run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa


def clustered(rng: np.random.Generator, centers: np.ndarray, n: int, noise: float = 0.35) -> np.ndarray:
    m = centers[rng.integers(0, len(centers), n)]
    m += noise * rng.normal(size=m.shape).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    return m


def truth_of(m: np.ndarray, queries: np.ndarray, k: int = 10, chunk: int = 32) -> np.ndarray:
    out = []
    for i in range(0, len(queries), chunk):
        s = queries[i : i + chunk] @ m.T
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(s, part, 1), axis=1)
        out.append(np.take_along_axis(part, order, 1))
    return np.concatenate(out)


def pydoc_vectors(modules: int, queries: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(chunk vectors in corpus order, query vectors, description) from the pydoc corpus."""
    from lakehouse.config import EmbedSettings
    from lakehouse.embed import chunk_text, get_model
    from lakehouse.ingest.demo import build_pydoc_corpus, stdlib_modules
    from lakehouse.ingest.files import Document, list_files, read_document

    model = get_model(EmbedSettings().model)
    cache = Path(tempfile.gettempdir()) / f"bench-index-pydoc-{modules}-{model.name}-{model.version}.npz"
    if cache.exists():
        data = np.load(cache)
        chunks, asked = data["chunks"], data["queries"]
    else:
        corpus = Path(tempfile.gettempdir()) / f"bench-index-pydoc-corpus-{modules}"
        build_pydoc_corpus(corpus, modules=stdlib_modules()[:modules])
        files, _ = list_files(corpus)
        texts = [
            c.text
            for doc in (read_document(rel, full) for rel, full in files)
            if isinstance(doc, Document)
            for c in chunk_text(doc.text, EmbedSettings().chunk_size, EmbedSettings().chunk_overlap)
        ]
        rng = np.random.default_rng(3)
        firsts = [
            next((ln.strip() for ln in texts[i].splitlines() if len(ln.strip()) > 20), texts[i][:80])
            for i in rng.integers(0, len(texts), queries)
        ]
        t0 = time.perf_counter()
        chunks = model.embed(texts)
        print(f"embedded {len(texts):,} chunks in {time.perf_counter() - t0:.0f} s", flush=True)
        asked = model.embed(firsts)
        np.savez(cache, chunks=chunks, queries=asked)
    about = f"{len(chunks):,} chunk embeddings ({model.name}) of the pydoc pages of {modules} stdlib modules"
    return chunks, asked[:queries], about


def pct(values: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, p))


def recall(truth: np.ndarray, keys: list[Any]) -> float:
    return len(set(truth.tolist()) & set(keys)) / len(truth)


def timed(fn: Any, queries: np.ndarray, truth: np.ndarray) -> tuple[float, float, float, list[Any]]:
    lat, rec, results = [], [], []
    for q, t in zip(queries, truth, strict=True):
        s = time.perf_counter()
        res = fn(q)
        lat.append(time.perf_counter() - s)
        rec.append(recall(t, res.keys))
        results.append(res)
    return float(np.mean(rec)), pct(lat, 50), pct(lat, 95), results


def main(argv: list[str] | None = None) -> int:  # noqa: C901 - one linear script
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--clusters", type=int, default=256)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--types", default="ivf_pq,ivf_hnsw_sq", help="built in order; the last one is kept for the rest")
    ap.add_argument("--output", default="BENCHMARKS.md")
    ap.add_argument("--png", default="tests/benchmarks/results/index_recall_latency.png")
    ap.add_argument("--data", choices=("synthetic", "pydoc"), default="synthetic")
    ap.add_argument("--modules", type=int, default=120, help="--data pydoc: how many stdlib modules' pages")
    args = ap.parse_args(argv)

    import duckdb

    from lakehouse.catalog_client.process import stop
    from lakehouse.config import load_settings
    from lakehouse.index import build, open_index, refresh
    from lakehouse.table import VectorTable
    from lakehouse.vector import VectorSpec, top_k, vector_type
    from tests.benchmarks.lake import start_catalog

    load_before = os.getloadavg()
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    n, dim = args.rows, args.dim
    centers = rng.normal(size=(args.clusters, dim)).astype(np.float32)
    if args.data == "pydoc":
        real, real_queries, about = pydoc_vectors(args.modules, max(args.queries, args.batch))
        # the last modules' chunks are held out and arrive as the +1% refresh (new documents)
        extra_real = max(1, len(real) // 101)
        real, held_out = real[:-extra_real], real[-extra_real:]
        n, dim = len(real), real.shape[1]
    root = Path(tempfile.mkdtemp(prefix="bench-index-"))
    proc = start_catalog(root)
    lines: list[str] = []
    curves: dict[str, list[tuple[float, float, str]]] = {}

    def log(text: str) -> None:
        lines.append(text)
        print(text, flush=True)

    try:
        settings = load_settings(home=str(root), catalog={"uri": proc.uri}, warehouse=proc.warehouse, environ={})
        if args.data == "pydoc":
            m = real
        else:
            m = clustered(rng, centers, n)
            about = f"{args.clusters} clusters, noise 0.35"
        ids = np.arange(n)
        lang = np.where(ids % 1000 == 0, "xx", np.where(ids % 100 == 1, "yy", np.where(ids % 10 == 2, "zz", "en")))
        schema = pa.schema([("key", pa.int64()), ("lang", pa.string()), ("embedding", pa.list_(pa.float32()))])
        vt = VectorTable.create(
            "bench.vectors",
            schema,
            key="key",
            settings=settings,
            vectors=[VectorSpec("embedding", dim=dim, metric="cosine")],
        )
        t0 = time.perf_counter()
        vt.append(
            {
                "key": ids,
                "lang": lang,
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), type=vector_type(dim)),
            }
        )
        log(f"- table write ({n:,} x {dim}, {about}): {time.perf_counter() - t0:.1f} s")
        if args.data == "pydoc":
            queries = real_queries[: args.queries]
        else:
            queries = clustered(np.random.default_rng(1), centers, args.queries)
        truth = truth_of(m, queries)

        # -- baselines ------------------------------------------------------------------------------------------
        lat = []
        for q in queries[:50]:
            s = time.perf_counter()
            top_k(m, q, 10, "cosine")
            lat.append(time.perf_counter() - s)
        exact_ms = pct(lat, 50)
        lat = []
        for q in queries[:50]:
            s = time.perf_counter()
            sc = m @ q
            np.argpartition(-sc, 9)[:10]
            lat.append(time.perf_counter() - s)
        dot_ms = pct(lat, 50)
        s = time.perf_counter()
        truth_of(m, queries[:100])
        numpy_batch_qps = 100 / (time.perf_counter() - s)
        con = duckdb.connect()
        con.execute("SET threads = 2")
        con.register(
            "src",
            pa.table(
                {
                    "key": ids,
                    "embedding": pa.FixedSizeListArray.from_arrays(
                        pa.array(m.ravel()), type=pa.list_(pa.float32(), dim)
                    ),
                }
            ),
        )
        con.execute(f"CREATE TABLE v AS SELECT key, embedding::FLOAT[{dim}] AS embedding FROM src")
        con.unregister("src")
        lat, rec = [], []
        for q, t in zip(queries[:10], truth[:10], strict=True):
            literal = "[" + ",".join(f"{x:.7g}" for x in q) + f"]::FLOAT[{dim}]"
            s = time.perf_counter()
            keys = [
                r[0]
                for r in con.execute(
                    f"SELECT key FROM v ORDER BY array_cosine_distance(embedding, {literal}) LIMIT 10"
                ).fetchall()
            ]
            lat.append(time.perf_counter() - s)
            rec.append(recall(t, keys))
        duck_ms = pct(lat, 50)
        con.close()
        log(
            f"- exact numpy, lakehouse `top_k` (norms per query): {exact_ms:.1f} ms/query; "
            f"normalised `m @ q` + argpartition: {dot_ms:.1f} ms/query; "
            f"batched matmul: {numpy_batch_qps:.0f} queries/s"
        )
        log(
            f"- DuckDB brute force (`array_cosine_distance` over FLOAT[{dim}], 2 threads, array literal): "
            f"{duck_ms:.0f} ms/query, recall {np.mean(rec):.3f}"
        )
        curves["exact numpy"] = [(dot_ms, 1.0, "")]
        curves["DuckDB brute force"] = [(duck_ms, float(np.mean(rec)), "")]
        log("")
        log("| index (auto params) | build s | size MB | recall@10 | p50 ms | p95 ms | p50 vs numpy | p50 vs DuckDB |")
        log("|---|---|---|---|---|---|---|---|")

        # -- indexes ----------------------------------------------------------------------------------------------
        build_s = 0.0
        sweeps: list[str] = []
        index: Any = None
        for index_type in args.types.split(","):
            t0 = time.perf_counter()
            built = build(vt, "embedding", index_type=index_type, store=["lang"], settings=settings)
            build_s = time.perf_counter() - t0
            assert built.action == "build"
            index = open_index(vt, "embedding", settings=settings)
            params = dict(index.meta.params)
            index.search(queries[0], 10)
            r, p50, p95, _ = timed(lambda q: index.search(q, 10), queries, truth)  # noqa: B023
            size = (index.store.size_bytes() or 0) / 1e6
            log(
                f"| {index_type} ({', '.join(f'{k}={v}' for k, v in params.items() if k != 'index_type')}) | "
                f"{build_s:.0f} | {size:.0f} | {r:.3f} | {p50:.1f} | {p95:.1f} | {dot_ms / p50:.1f}x faster | "
                f"{duck_ms / p50:.0f}x faster |"
            )
            grid: list[dict[str, int]]
            if index_type == "ivf_pq":
                grid = [{"nprobes": p, "refine_factor": r_} for p in (10, 20, 40) for r_ in (5, 10, 30, 60)]
            elif index_type == "ivf_hnsw_sq":
                parts = int(params.get("num_partitions", 1))
                grid = [
                    {"nprobes": p, "ef": e, "refine_factor": r_}
                    for p in sorted({1, 2, min(4, parts)})
                    for e in (32, 64, 128)
                    for r_ in (1, 2, 4)
                ]
            else:
                grid = [{"nprobes": p} for p in (5, 10, 20, 40)]
            points = []
            for opts in grid:
                r, p50, _, _ = timed(lambda q: index.search(q, 10, **opts), queries[:100], truth[:100])  # noqa: B023
                points.append((p50, r, ",".join(f"{k[0]}{v}" for k, v in opts.items())))
                sweeps.append(
                    f"| {index_type} | {', '.join(f'{k}={v}' for k, v in opts.items())} | {r:.3f} | {p50:.1f} |"
                )
            curves[index_type] = points
        log("")
        log("Query-time sweep (100 queries each; recall@10, p50 ms):")
        log("")
        log("| index | query params | recall@10 | p50 ms |")
        log("|---|---|---|---|")
        for row in sweeps:
            log(row)

        # -- filtered ---------------------------------------------------------------------------------------------
        log("")
        log(
            f"Filtered search ({args.types.split(',')[-1]}, 100 queries, k=10; "
            "short = answers with fewer than min(10, matching rows) rows):"
        )
        log("")
        log(
            "| selectivity (rows) | planner path | recall@10 | short | p50 ms | forced ANN: recall / short / p50 | "
            "forced exact (20 queries): p50 |"
        )
        log("|---|---|---|---|---|---|---|")
        for value, share in (("xx", 0.001), ("yy", 0.01), ("zz", 0.1)):
            mask = lang == value
            sub, sub_ids = m[mask], np.flatnonzero(mask)
            ftruth = np.stack([sub_ids[top_k(sub, q, 10, "cosine")[0]] for q in queries[:100]])
            where = f"lang = '{value}'"
            r, p50, _, res = timed(lambda q: index.search(q, 10, where=where), queries[:100], ftruth)  # noqa: B023
            short = sum(len(x) < min(10, int(mask.sum())) for x in res)
            paths = sorted(
                {
                    x.plan.path + (" (exact over filter)" if "exact search over them" in x.plan.reason else "")
                    for x in res
                }
            )
            ra, pa50, _, resa = timed(
                lambda q: index.search(q, 10, where=where, exact_filter_rows=0),  # noqa: B023
                queries[:100],
                ftruth,
            )
            shorta = sum(len(x) < min(10, int(mask.sum())) for x in resa)
            _, pe50, _, _ = timed(
                lambda q: index.search(q, 10, where=where, exact_filter_rows=n),  # noqa: B023
                queries[:20],
                ftruth[:20],
            )
            log(
                f"| {share:.1%} ({int(mask.sum()):,}) | {', '.join(paths)} | {r:.3f} | {short} | {p50:.1f} | "
                f"{ra:.3f} / {shorta} / {pa50:.1f} | {pe50:.1f} |"
            )

        # -- batch ------------------------------------------------------------------------------------------------
        log("")
        if args.data == "pydoc":
            batch = real_queries[: args.batch]
        else:
            batch = clustered(np.random.default_rng(2), centers, args.batch)
        for threads in (1, 2, 4):
            s = time.perf_counter()
            if threads == 1:
                for q in batch:
                    index.search(q, 10)
            else:
                with ThreadPoolExecutor(threads) as pool:
                    list(pool.map(lambda q: index.search(q, 10), batch))
            qps = len(batch) / (time.perf_counter() - s)
            log(
                f"- batch of {len(batch):,} queries, {threads} client thread(s): {qps:.0f} queries/s "
                f"({qps / numpy_batch_qps:.1f}x batched exact numpy)"
            )

        # -- refresh ----------------------------------------------------------------------------------------------
        log("")
        new = held_out if args.data == "pydoc" else clustered(rng, centers, max(1, n // 100))
        extra = len(new)
        vt.append(
            {
                "key": np.arange(n, n + extra),
                "lang": np.full(extra, "en"),
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(new.ravel()), type=vector_type(dim)),
            }
        )
        r_ = refresh(vt, "embedding", settings=settings)
        log(
            f"- refresh after +1% rows ({extra:,}, one new data file): {r_.seconds:.2f} s ({r_.action}, "
            f"folded={r_.folded}) vs full build {build_s:.0f} s = {r_.seconds / build_s:.1%} of a build"
        )
        vt.iceberg.delete(f"key < {n // 100}")
        vt.refresh()
        r_ = refresh(vt, "embedding", settings=settings)
        log(
            f"- refresh after deleting 1% ({n // 100:,} rows; copy-on-write rewrote the data file(s)): "
            f"{r_.seconds:.2f} s ({r_.action}, {'; '.join(r_.notes)}) = {r_.seconds / build_s:.1%} of a build"
        )
        index = open_index(vt, "embedding", settings=settings)
        t2 = truth_of(m[n // 100 :], queries[:50]) + n // 100
        r, p50, _, res = timed(lambda q: index.search(q, 10), queries[:50], t2)
        log(
            f"- after both refreshes: path {res[0].plan.path}, recall@10 {r:.3f} (truth over the live original rows), "
            f"p50 {p50:.1f} ms, deleted keys returned: {sum(min(x.keys) < n // 100 for x in res)}"
        )
    finally:
        stop(root / "state")
    load_after = os.getloadavg()
    header = [
        "",
        f"## ANN index benchmark, {n:,} x {dim} ({dt.date.today().isoformat()})",
        "",
        f"Command: `python -m tests.benchmarks.bench_index {' '.join(argv if argv is not None else sys.argv[1:])}` "
        f"({(time.perf_counter() - started) / 60:.0f} min)",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}; load average {load_before[0]:.1f} at start, {load_after[0]:.1f} at end "
        "(other engineers' test runs share the 2 cores: absolute latencies are pessimistic). One client thread, warm, "
        + (
            f"{args.queries} queries drawn around the table's own cluster centres."
            if args.data == "synthetic"
            else f"{args.queries} queries: embedded first lines of chunks ({about})."
        ),
        "",
    ]
    text = "\n".join(header + lines) + "\n"
    with open(args.output, "a") as fh:
        fh.write(text)
    _plot(curves, args.png, n, dim)
    return 0


def _plot(curves: dict[str, list[tuple[float, float, str]]], path: str, n: int, dim: int) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no PNG (pip install matplotlib)")
        return
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, (name, points) in enumerate(curves.items()):
        colour = f"C{i}"
        if len(points) == 1:
            ax.plot([points[0][0]], [points[0][1]], "s", color=colour, label=name)
            continue
        # every setting as a dot, the settings no other one beats on both axes as a line
        front, best = [], -1.0
        for p in sorted(points):
            if p[1] > best:
                front.append(p)
                best = p[1]
        ax.scatter([p[0] for p in points], [p[1] for p in points], s=14, alpha=0.5, color=colour)
        ax.plot([p[0] for p in front], [p[1] for p in front], "-", color=colour, label=f"{name} (query-time sweep)")
    ax.set_xscale("log")
    ax.set_xlabel("p50 latency per query, ms (log)")
    ax.set_ylabel("recall@10")
    ax.axhline(0.95, color="grey", lw=0.5, ls="--")
    ax.axvline(10, color="grey", lw=0.5, ls="--")
    ax.set_title(f"Recall vs latency, {n:,} x {dim} clustered, 2 cores")
    ax.legend()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
