"""Semantic dedup benchmark: synthetic clustered vectors with planted exact and near duplicates, on a real table.

    python -m tests.benchmarks.bench_dedup --rows 200000 --output BENCHMARKS.md
    python -m tests.benchmarks.bench_dedup --rows 200000 --candidates ann --nprobes 5   # the per-row ANN path

Data: ``--clusters`` random centres, each vector a centre plus isotropic noise (0.35 a component), L2-normalised, so
rows of one cluster sit at cosine ~0.89 to each other: close, but below the threshold. Planted: ``--near`` of the rows
are near copies of another row (that row plus 0.01 noise a component: cosine ~0.98) and ``--exact`` of the rows are
exact copies (same vector, same ``content_sha256``). Times the whole find with :func:`lakehouse.dedup.find_duplicates`
(read, candidate pairs, exact rescoring, union-find; with ``--candidates ann`` also the index build and one k-NN
search of every row through it); the job's Spark write of the result table is not included. Reports precision/recall
of the planted pairs. Never part of the default test run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa


def synthetic(
    n: int, dim: int, clusters: int, near: float, exact: float, seed: int = 0
) -> tuple[np.ndarray, list[str], set[tuple[str, str]]]:
    """Vectors, content hashes and the planted duplicate pairs (keys ``r0000000``...)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    m = np.empty((n, dim), np.float32)
    for s in range(0, n, 100_000):
        block = centres[rng.integers(0, clusters, min(100_000, n - s))]
        block += 0.35 * rng.normal(size=block.shape).astype(np.float32)
        m[s : s + block.shape[0]] = block / np.linalg.norm(block, axis=1, keepdims=True)
    hashes = [hashlib.sha256(f"row {i}".encode()).hexdigest() for i in range(n)]
    n_near, n_exact = int(n * near), int(n * exact)
    copies = n - n_near - n_exact + rng.permutation(n_near + n_exact)  # the last rows become copies
    originals = rng.choice(n - n_near - n_exact, n_near + n_exact, replace=False)
    planted = set()
    for j, (c, o) in enumerate(zip(copies.tolist(), originals.tolist(), strict=True)):
        if j < n_near:
            v = m[o] + 0.01 * rng.normal(size=dim).astype(np.float32)
            m[c] = v / np.linalg.norm(v)
        else:
            m[c] = m[o]
            hashes[c] = hashes[o]
        planted.add((f"r{min(c, o):07d}", f"r{max(c, o):07d}"))
    return m, hashes, planted


def main(argv: list[str] | None = None) -> int:  # noqa: C901 - one linear script
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--clusters", type=int, default=1000)
    p.add_argument("--near", type=float, default=0.05, help="fraction of rows that are near copies")
    p.add_argument("--exact", type=float, default=0.01, help="fraction of rows that are exact copies")
    p.add_argument("--threshold", type=float, default=0.95)
    p.add_argument("--candidates", choices=["exact", "ann"], default="exact", help="batch join, or the ANN index")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--nprobes", type=int, default=None)
    p.add_argument("--refine-factor", type=int, default=0, help="0: off (the default of dedup)")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument(
        "--ann-sample",
        type=int,
        default=0,
        help="with --candidates ann: build the index, time the search of this many random rows, extrapolate to all",
    )
    p.add_argument("--output", default=None, help="append the Markdown section to this file")
    args = p.parse_args(argv)

    from lakehouse.catalog_client.process import stop
    from lakehouse.config import load_settings
    from lakehouse.dedup import SearchOptions, cluster_pairs, find_duplicates, pair_quality
    from lakehouse.table import VectorTable
    from lakehouse.vector import VectorSpec
    from tests.benchmarks.lake import start_catalog

    load_before = os.getloadavg()
    lines: list[str] = []

    join_line: list[str] = []

    def log(text: str) -> None:
        print(text, flush=True)
        if text.strip().startswith("exact join"):
            join_line.append(text.strip().removeprefix("exact join "))

    root = Path(tempfile.mkdtemp(prefix="bench-dedup-"))
    proc = start_catalog(root)
    try:
        settings = load_settings(home=str(root), catalog={"uri": proc.uri}, warehouse=proc.warehouse, environ={})
        t = time.perf_counter()
        m, hashes, planted = synthetic(args.rows, args.dim, args.clusters, args.near, args.exact)
        log(f"generated {args.rows:,} x {args.dim} in {time.perf_counter() - t:.1f} s; {len(planted):,} planted pairs")
        fsl_type = pa.list_(pa.float32(), args.dim)
        schema = pa.schema([("key", pa.string()), ("content_sha256", pa.string()), ("embedding", fsl_type)])
        vt = VectorTable.create(
            "bench.vectors", schema, vectors=[VectorSpec("embedding", dim=args.dim)], key="key", settings=settings
        )
        t = time.perf_counter()
        keys = [f"r{i:07d}" for i in range(args.rows)]
        vt.append(
            pa.table(
                {
                    "key": keys,
                    "content_sha256": hashes,
                    "embedding": pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), args.dim),
                }
            )
        )
        write_s = time.perf_counter() - t
        log(f"table write {write_s:.1f} s")
        del m

        search = SearchOptions(
            method=args.candidates,
            k=args.k,
            nprobes=args.nprobes,
            refine_factor=args.refine_factor,
            workers=args.workers,
        )
        if args.candidates == "ann" and args.ann_sample:
            return _ann_estimate(vt, search, args.ann_sample, settings, log)
        t = time.perf_counter()
        found = find_duplicates(vt, "embedding", threshold=args.threshold, search=search, settings=settings, log=log)
        total = time.perf_counter() - t
        quality = pair_quality(cluster_pairs(found.clusters.to_pylist()), planted)
        s = found.summary()
        log(f"dedup {total:.1f} s: {s}; {quality}")
        from lakehouse.index import status

        st = status(vt, "embedding", settings=settings)
        load_after = os.getloadavg()
        cmd = "python -m tests.benchmarks.bench_dedup " + " ".join(argv if argv is not None else sys.argv[1:])
        secs = s["seconds"]
        assert isinstance(secs, dict)
        ann = args.candidates == "ann"
        parts = st.params.get("num_partitions")
        how = (
            f"k={args.k}, {args.workers} search threads"
            if ann
            else f"exact batch join (lakehouse.index.pairs_within), {min(args.workers, os.cpu_count() or 1)} threads"
        )
        lines += [
            f"## Semantic dedup benchmark ({dt.date.today().isoformat()}, candidates: {args.candidates})",
            "",
            f"Command: `{cmd.strip()}`",
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}; load average "
            f"{load_before[0]:.1f} at start, {load_after[0]:.1f} at end (other jobs share the machine).",
            f"Data: {args.rows:,} x {args.dim} clustered unit vectors ({args.clusters} clusters, in-cluster cosine "
            f"~0.89), {args.near:.0%} planted near copies (cosine ~0.98), {args.exact:.0%} exact copies (same "
            f"content hash); threshold {args.threshold}, {how}.",
            "",
            "| step | seconds |",
            "|---|---|",
            *([f"| index build ({st.index_type}, {parts} partitions) | {secs['index']:.1f} |"] if ann else []),
            f"| read keys + vectors + hashes (pyiceberg) | {secs['read']:.1f} |",
            (
                "| k-NN search of every row through the index + exact rescoring + union-find | "
                if ann
                else "| batch join of all pairs >= threshold + exact rescoring + union-find | "
            )
            + f"{secs['search+cluster']:.1f} |",
            f"| **total** | **{total:.1f}** ({args.rows / total:,.0f} rows/s) |",
            "",
            f"- found {s['clusters']:,} clusters ({s['exact_clusters']:,} exact, {s['near_clusters']:,} near), "
            f"{s['rows_removed']:,} rows to drop; planted pairs: {quality}",
            *(
                [
                    f"- index search parameters: nprobes {args.nprobes or st.params.get('nprobes')}, refine_factor "
                    f"{args.refine_factor if args.refine_factor is not None else st.params.get('refine_factor')}, "
                    f"ef {st.params.get('ef')}"
                ]
                if ann
                else [f"- batch join: {join_line[0]}" if join_line else "- batch join: (no statistics logged)"]
            ),
            f"- table write (pyiceberg append, for scale): {write_s:.1f} s",
            "",
        ]
    finally:
        stop(root / "state")
    text = "\n".join(lines)
    print(text)
    if args.output:
        with open(args.output, "a", encoding="utf-8") as fh:
            fh.write("\n" + text)
    return 0


def _ann_estimate(vt: object, search: object, sample: int, settings: object, log: object) -> int:
    """The per-row ANN path at sizes where running it for every row takes hours: the index build, then the search
    of ``sample`` random rows (the index's own search parameters unless given), extrapolated linearly to all rows."""
    from lakehouse.dedup.neighbours import ann_pairs, ensure_index
    from lakehouse.dedup.pairs import normalized
    from lakehouse.vector import to_numpy

    t = time.perf_counter()
    st = ensure_index(vt, "embedding", settings=settings, log=log)  # type: ignore[arg-type]
    build = time.perf_counter() - t
    t = time.perf_counter()
    rows = vt.to_arrow(columns=["key", "embedding"])  # type: ignore[attr-defined]
    unit = normalized(to_numpy(rows.column("embedding"), vt.spec("embedding").dim))  # type: ignore[attr-defined]
    read = time.perf_counter() - t
    pick = np.sort(np.random.default_rng(0).choice(unit.shape[0], min(sample, unit.shape[0]), replace=False))
    t = time.perf_counter()
    ann_pairs(st, "embedding", "key", rows.column("key").combine_chunks(), unit[pick], search)  # type: ignore[arg-type]
    per_row = (time.perf_counter() - t) / len(pick)
    total = build + read + per_row * unit.shape[0]
    print(
        f"old path estimate at {unit.shape[0]:,} rows: index build ({st.index_type}) {build:.1f} s, read {read:.1f} s, "
        f"search {per_row * 1000:.2f} ms/row over {len(pick):,} sampled rows -> {per_row * unit.shape[0]:.0f} s; "
        f"total ~{total:.0f} s (union-find not included); load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
