"""Similarity SQL benchmark: one top-10 query, end to end from SQL text to rows, on every path the SQL layer has.

    python -m tests.benchmarks.bench_sql --rows 1000000

The same query text (``SELECT key, title, cosine_similarity(embedding, [..]::FLOAT[384]) AS score FROM
lake.bench.vectors [WHERE lang = 'yy'] ORDER BY score DESC LIMIT 10``) goes through :class:`lakehouse.sql.SqlSession`
(parse, resolve, plan, index search, the candidate rows handed to the engine, engine execution) on:

- the ANN path (DuckDB engine, the index on): key, vector and ``lang`` of each candidate come from the index, ``title``
  (not stored in the index) is read by key from the table's data files; and the same query without ``title``
  (``SELECT key, score``), which the index covers alone,
- DuckDB exact (``use_index=False``: ``array_cosine_similarity`` over the attached Iceberg table),
- Spark exact (``engine="spark", use_index=False``: the vectorized pandas UDFs the session builder registers),
- Spark with the index (the ANN path, the candidates a local DataFrame) and Spark's best exact form outside SQL
  (``mapInArrow``: numpy top-10 per Arrow batch, merged on the driver), for reference,

each with and without a selective WHERE (~1% of rows). Recall@10 of every path is measured against exact numpy over
the same rows (the filtered rows for the filtered query); a *short answer* is a result with fewer than 10 rows.
One ``SqlSession`` per path is reused (the DuckDB attach and the Spark start are paid once, as in a notebook or the
interactive shell), the first query of each path is a warm-up and not timed.

``--cache DIR`` keeps the written table and its index (the index build is most of a 1M run) for the next run with
the same data parameters; the split column attributes each query's time to the catalog round trip (table metadata),
parsing and planning, the index search, assembling the candidate rows, rendering and the engine.

Data as in ``bench_index``: vectors around ``clusters`` random centres (noise ``--noise`` per dimension), queries
drawn around the same centres; ``--data tight`` is 1,000 clusters with noise 0.1 (:mod:`tests.benchmarks.datasets`),
where a 1% filter leaves fewer matching rows per cluster than k, so the true filtered neighbours spread over the
partitions. The filter (``key % 100 == 1``) is independent of the clusters either way.
Prints a Markdown section (command, machine, date, load) and appends it to ``--output``. Never part of the test run
(pytest collects ``test_*.py`` only).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

TABLE = "bench.vectors"
FILTER = "lang = 'yy'"  # key % 100 == 1: 1% of the rows
K = 10


def clustered(rng: np.random.Generator, centers: np.ndarray, n: int, noise: float = 0.35) -> np.ndarray:
    m = centers[rng.integers(0, len(centers), n)]
    m += noise * rng.normal(size=m.shape).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    return m


def exact_top(m: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int = K, chunk: int = 32) -> list[list[int]]:
    """Keys of the ``k`` most cosine-similar rows (``m`` is L2-normalised), best first."""
    out: list[list[int]] = []
    for i in range(0, len(queries), chunk):
        s = queries[i : i + chunk] @ m.T
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(s, part, 1), axis=1)
        out += ids[np.take_along_axis(part, order, 1)].tolist()
    return out


def sql_for(q: np.ndarray, where: str | None, select: str = "key, title") -> str:
    literal = "[" + ", ".join(np.format_float_positional(x, unique=True, trim="-") for x in q) + f"]::FLOAT[{len(q)}]"
    return (
        f"SELECT {select}, cosine_similarity(embedding, {literal}) AS score FROM lake.{TABLE}"
        + (f" WHERE {where}" if where else "")
        + f" ORDER BY score DESC LIMIT {K}"
    )


@dataclass
class Measured:
    path: str
    queries: int = 0
    latency: list[float] = field(default_factory=list)
    plan: list[float] = field(default_factory=list)  # parse + resolve + plan (SqlSession.plan), catalog included
    catalog: list[float] = field(default_factory=list)  # of plan: loading table metadata from the REST catalog
    search: list[float] = field(default_factory=list)  # the index search (ANN path)
    rows: list[float] = field(default_factory=list)  # assembling the candidate rows (ANN path: payload join back)
    engine: list[float] = field(default_factory=list)  # the engine running the final SQL (candidates / exact scan)
    recall: list[float] = field(default_factory=list)
    short: int = 0
    routes: set[str] = field(default_factory=set)

    def p(self, q: float, values: list[float] | None = None) -> float:
        v = self.latency if values is None else values
        return float(np.percentile(np.asarray(v) * 1000, q)) if v else float("nan")

    @property
    def mean_recall(self) -> float:
        return float(np.mean(self.recall)) if self.recall else float("nan")


NAMES = {
    "ann": "ANN path, DuckDB engine",
    "ann_cover": "ANN path, DuckDB engine, covering query (`SELECT key, score`)",
    "duckdb": "DuckDB exact (`use_index=False`)",
    "spark": 'Spark exact (`engine="spark"`, pandas UDF)',
    "spark_ann": "ANN path, Spark engine",
    "spark_best": "Spark best exact form (`mapInArrow` + numpy, not SQL)",
}


SPLIT = "catalog / parse+plan / index search / candidate rows / render / engine, p50 ms"


def row(path: str, filtered: bool, r: Measured) -> str:
    split = "-"
    if r.plan and r.engine:
        search = r.search or [0.0] * len(r.latency)
        rows = r.rows or [0.0] * len(r.latency)
        catalog = r.catalog or [0.0] * len(r.latency)
        plan = [p - c for p, c in zip(r.plan, catalog, strict=True)]
        render = [
            t - p - a - b - e for t, p, a, b, e in zip(r.latency, r.plan, search, rows, r.engine, strict=True)
        ]  # the rest: rendering the SQL, registering the candidates
        parts = [
            r.p(50, catalog),
            r.p(50, plan),
            r.p(50, r.search),
            r.p(50, r.rows),
            r.p(50, render),
            r.p(50, r.engine),
        ]
        split = " / ".join("-" if np.isnan(x) else f"{x:.1f}" for x in parts)
    return (
        f"| {NAMES[path]} | {FILTER if filtered else '-'} | {r.queries} | {r.p(50):.1f} | {r.p(95):.1f} | "
        f"{split} | {r.mean_recall:.3f} | {r.short} | {', '.join(sorted(r.routes))} |"
    )


def run_session(
    name: str,
    session: Any,
    queries: np.ndarray,
    truth: list[list[int]],
    where: str | None,
    log: Callable[[str], None],
    select: str = "key, title",
) -> Measured:
    """Time ``session`` end to end (plan + execute, as ``SqlSession.query`` does) over ``queries``; the first
    query is a warm-up."""
    out = Measured(name)
    executor = session.executor
    run = type(executor).run
    spent: list[float] = []

    def timed_run(sql: str) -> pa.Table:
        s = time.perf_counter()
        try:
            return run(executor, sql)
        finally:
            spent.append(time.perf_counter() - s)

    executor.run = timed_run  # the semi-join key lookup during planning also runs SQL: only execute()'s is kept
    try:
        _loop(out, session, executor, queries, truth, where, spent, name, log, select)
    finally:
        del executor.run
        if session._catalog is not None:
            session._catalog.__dict__.pop("load_table", None)
    return out


def _time_catalog(session: Any, spent: list[float]) -> None:
    """Count the time ``session``'s catalog spends loading table metadata (one REST call per table and query)."""
    catalog = session._catalog
    if catalog is None or "load_table" in catalog.__dict__:
        return
    load = type(catalog).load_table

    def timed_load(*args: Any, **kwargs: Any) -> Any:
        s = time.perf_counter()
        try:
            return load(catalog, *args, **kwargs)
        finally:
            spent.append(time.perf_counter() - s)

    catalog.load_table = timed_load


def measured(results: dict[tuple[str, bool], Measured], path: str, filtered: bool, r: Measured) -> None:
    results[(path, filtered)] = r
    print("  " + row(path, filtered, r), flush=True)  # a crash later must not lose what was measured


def _loop(
    out: Measured,
    session: Any,
    executor: Any,
    queries: np.ndarray,
    truth: list[list[int]],
    where: str | None,
    spent: list[float],
    name: str,
    log: Callable[[str], None],
    select: str,
) -> None:
    loads: list[float] = []
    for i, (q, t) in enumerate(zip(queries, truth, strict=True)):
        sql = sql_for(q, where, select)
        _time_catalog(session, loads)  # the catalog client exists after the first query
        loads.clear()
        s = time.perf_counter()
        plan, _ = session.plan(sql)
        p = time.perf_counter()
        spent.clear()
        rows, info = executor.execute(plan)
        e = time.perf_counter()
        keys = rows.column("key").to_pylist()
        if i == 0:
            log(f"  - {name}: warm-up {e - s:.2f} s, path {info['path']} ({info['reason']})")
            continue
        out.queries += 1
        out.latency.append(e - s)
        out.plan.append(p - s)
        out.catalog.append(sum(loads))
        out.engine.append(sum(spent))
        if "ms" in info:
            out.search.append(info["ms"]["search"] / 1e3)
            out.rows.append(info["ms"]["rows"] / 1e3)
        out.recall.append(len(set(keys) & set(t)) / len(t))
        out.short += rows.num_rows < K
        route = info["path"]
        if "index" in info:
            route += f" ({info['index'].get('path')}"
            rows_from = info.get("rows", "")
            route += ", covering" if "covers" in rows_from else ", payload by key" if "by key" in rows_from else ""
            route += ")"
        out.routes.add(route)


def spark_mapinarrow(spark: Any, q: np.ndarray, where: str | None) -> list[int]:
    """Spark's best exact form: numpy top-k per Arrow batch on the executors, the survivors merged on the driver."""
    import pyarrow.compute as pc

    dim = len(q)

    def top(batches: Any) -> Any:
        for b in batches:
            if b.num_rows == 0:
                continue
            vec = b.column(1)
            flat = pc.list_flatten(vec).to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
            m = flat.reshape(-1, dim)
            s = m @ q / np.maximum(np.linalg.norm(m, axis=1) * np.linalg.norm(q), 1e-30)
            keep = np.argpartition(-s, min(K, len(s)) - 1)[:K] if len(s) > K else np.arange(len(s))
            yield pa.record_batch(
                [b.column(0).take(pa.array(keep)), pa.array(s[keep], pa.float32())], names=["key", "score"]
            )

    df = spark.table(f"lake.{TABLE}")
    if where:
        df = df.where(where)
    rows = (
        df.select("key", "embedding")
        .mapInArrow(top, "key long, score float")
        .orderBy("score", ascending=False)
        .limit(K)
        .collect()
    )
    return [r["key"] for r in rows]


def main(argv: list[str] | None = None) -> int:  # noqa: C901, PLR0915 - one linear script
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--clusters", type=int, default=None, help="default: 256 (noisy), 1,000 (tight)")
    ap.add_argument("--noise", type=float, default=None, help="default: 0.35 (noisy), 0.1 (tight)")
    ap.add_argument("--data", choices=("noisy", "tight"), default="noisy")
    ap.add_argument("--queries", type=int, default=100, help="ANN path (plus one warm-up)")
    ap.add_argument("--exact-queries", type=int, default=10, help="DuckDB exact (plus one warm-up)")
    ap.add_argument("--spark-queries", type=int, default=3, help="each Spark path (plus one warm-up)")
    ap.add_argument("--index-type", default="auto")
    ap.add_argument("--no-spark", action="store_true")
    ap.add_argument("--no-spark-ann", action="store_true", help="skip the ANN path on the Spark engine")
    ap.add_argument("--output", default="BENCHMARKS.md", help="appended to; '-' prints only")
    ap.add_argument(
        "--cache",
        metavar="DIR",
        help="keep the written table and its index under DIR and reuse them on the next run with the same --rows, "
        "--dim, --clusters and --index-type (delete the folder to rebuild, e.g. after a table layout change)",
    )
    args = ap.parse_args(argv)
    from tests.benchmarks.datasets import SHAPES

    args.clusters = args.clusters or SHAPES[args.data][0]
    args.noise = SHAPES[args.data][1] if args.noise is None else args.noise

    from lakehouse.catalog_client.process import stop
    from lakehouse.config import load_settings
    from lakehouse.index import build, open_index
    from lakehouse.sql import SqlSession
    from lakehouse.table import VectorTable
    from lakehouse.vector import VectorSpec, vector_type
    from tests.benchmarks.lake import start_catalog

    load_before = os.getloadavg()
    loads = [load_before[0]]
    started = time.perf_counter()
    n, dim = args.rows, args.dim
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(args.clusters, dim)).astype(np.float32)
    if args.cache:
        root = Path(args.cache).resolve() / f"{n}x{dim}-c{args.clusters}-n{args.noise}-{args.index_type}"
        if not (root / "built.json").exists():  # nothing cached, or a build that did not finish: start clean
            stop(root / "state")
            shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)
    else:
        root = Path(tempfile.mkdtemp(prefix="bench-sql-"))
    built = root / "built.json"  # written once the table and index are complete: what the build measured
    proc = start_catalog(root)
    lines: list[str] = []
    results: dict[tuple[str, bool], Measured] = {}

    def log(text: str) -> None:
        lines.append(text)
        print(text, flush=True)

    spark = None
    try:
        settings = load_settings(
            home=str(root),
            project_dir=root,
            catalog={"uri": proc.uri},
            warehouse=proc.warehouse,
            environ={},
            spark={"master": "local[2]", "driver_memory": "3g"},
            lineage={"transport": "none"},
        )
        m = clustered(rng, centers, n, args.noise)
        ids = np.arange(n)
        lang = np.where(ids % 100 == 1, "yy", "en")
        schema = pa.schema(
            [("key", pa.int64()), ("lang", pa.string()), ("title", pa.string()), ("embedding", pa.list_(pa.float32()))]
        )
        if args.cache and built.exists():
            vt = VectorTable.load(TABLE, settings=settings)
            for line in json.loads(built.read_text())["log"]:
                log(line + f" (cached in {root}, not rebuilt)")
        else:
            build_log: list[str] = []
            vt = VectorTable.create(
                TABLE, schema, key="key", settings=settings, vectors=[VectorSpec("embedding", dim=dim, metric="cosine")]
            )
            t0 = time.perf_counter()
            vt.append(
                {
                    "key": ids,
                    "lang": lang,
                    "title": [f"document {i}" for i in range(n)],
                    "embedding": pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), type=vector_type(dim)),
                }
            )
            build_log.append(
                f"- table write ({n:,} x {dim}, {args.clusters} clusters, noise {args.noise}): "
                f"{time.perf_counter() - t0:.1f} s"
            )
            log(build_log[-1])
            t0 = time.perf_counter()
            build(vt, "embedding", index_type=args.index_type, store=["lang"], settings=settings)
            meta = open_index(vt, "embedding", settings=settings).meta
            params = ", ".join(f"{k}={v}" for k, v in dict(meta.params).items() if k not in ("index_type",))
            build_log.append(
                f"- index build: {meta.index_type} ({params}), stored column `lang`: {time.perf_counter() - t0:.0f} s"
            )
            log(build_log[-1])
            if args.cache:
                built.write_text(json.dumps({"log": build_log}))
        loads.append(os.getloadavg()[0])

        count = max(args.queries, args.exact_queries, args.spark_queries) + 1
        queries = clustered(np.random.default_rng(1), centers, count, args.noise)
        mask = lang == "yy"
        truth = {False: exact_top(m, ids, queries), True: exact_top(m[mask], ids[mask], queries)}
        log(f"- filter `{FILTER}` keeps {int(mask.sum()):,} rows ({mask.mean():.1%})")

        plans: dict[str, str] = {}
        with SqlSession(settings) as ann, SqlSession(settings, use_index=False) as duck:
            for filtered in (False, True):
                where = FILTER if filtered else None
                nq = args.queries + 1
                r = run_session("ANN path (DuckDB)", ann, queries[:nq], truth[filtered][:nq], where, log)
                measured(results, "ann", filtered, r)
                r = run_session(
                    "ANN path (DuckDB), covering", ann, queries[:nq], truth[filtered][:nq], where, log, select="key"
                )
                measured(results, "ann_cover", filtered, r)
                plans[f"ann{filtered}"] = ann.explain(sql_for(queries[0], where))
                r = run_session(
                    "DuckDB exact",
                    duck,
                    queries[: args.exact_queries + 1],
                    truth[filtered][: args.exact_queries + 1],
                    where,
                    log,
                )
                measured(results, "duckdb", filtered, r)
                loads.append(os.getloadavg()[0])

        if not args.no_spark:
            from lakehouse.spark import build_spark

            t0 = time.perf_counter()
            spark = build_spark(settings, app_name="bench-sql")
            log(f"- Spark session start (local[2]): {time.perf_counter() - t0:.1f} s")
            sq = args.spark_queries + 1
            with (
                SqlSession(settings, engine="spark", spark=spark, use_index=False) as sx,
                SqlSession(settings, engine="spark", spark=spark) as sa,
            ):
                for filtered in (False, True):
                    where = FILTER if filtered else None
                    measured(
                        results,
                        "spark",
                        filtered,
                        run_session("Spark exact", sx, queries[:sq], truth[filtered][:sq], where, log),
                    )
                    if not args.no_spark_ann:
                        measured(
                            results,
                            "spark_ann",
                            filtered,
                            run_session("ANN path (Spark)", sa, queries[:sq], truth[filtered][:sq], where, log),
                        )
                    best = Measured("Spark mapInArrow")
                    for i in range(sq):
                        s = time.perf_counter()
                        keys = spark_mapinarrow(spark, queries[i], where)
                        if i == 0:
                            continue
                        best.queries += 1
                        best.latency.append(time.perf_counter() - s)
                        best.recall.append(len(set(keys) & set(truth[filtered][i])) / K)
                        best.short += len(keys) < K
                        best.routes.add("exact (DataFrame, not SQL)")
                    measured(results, "spark_best", filtered, best)
                    loads.append(os.getloadavg()[0])
    finally:
        if spark is not None:
            spark.stop()
        stop(root / "state")
        if not args.cache:
            shutil.rmtree(root, ignore_errors=True)  # ~3 GB at 1M rows
    loads.append(os.getloadavg()[0])

    log("")
    log(f"| path | WHERE | queries | p50 ms | p95 ms | of which {SPLIT} | recall@10 | short answers | route |")
    log("|---|---|---|---|---|---|---|---|---|")
    for (path, filtered), r in results.items():
        log(row(path, filtered, r))

    # -- targets -----------------------------------------------------------------------------------------------------
    log("")
    log("Targets (issue 4):")
    log("")
    ann_all, ann_f = results[("ann", False)], results[("ann", True)]
    rec = min(ann_all.mean_recall, ann_f.mean_recall)
    shorts = sum(r.short for r in results.values())
    total = sum(r.queries for (p, f), r in results.items() if f)
    checks = [
        (f"recall@10 >= 0.95: {ann_all.mean_recall:.3f} unfiltered, {ann_f.mean_recall:.3f} filtered", rec >= 0.95),
        (
            f"end-to-end p50 <= 50 ms at 1M: {ann_all.p(50):.1f} ms unfiltered, {ann_f.p(50):.1f} ms filtered"
            + ("" if n >= 1_000_000 else f" (measured at {n:,} rows)"),
            max(ann_all.p(50), ann_f.p(50)) <= 50,
        ),
    ]
    if ("ann_cover", False) in results:
        c_all, c_f = results[("ann_cover", False)], results[("ann_cover", True)]
        checks.append(
            (
                f"the same for the covering query (`SELECT key, score`, the table not read): {c_all.p(50):.1f} ms "
                f"unfiltered, {c_f.p(50):.1f} ms filtered",
                max(c_all.p(50), c_f.p(50)) <= 50,
            )
        )
    for filtered in (False, True):
        tag = "filtered" if filtered else "unfiltered"
        a = results[("ann", filtered)].p(50)
        d = results[("duckdb", filtered)].p(50)
        checks.append((f">= 5x faster than DuckDB exact ({tag}): {d / a:.1f}x ({d:.0f} ms vs {a:.1f} ms)", d / a >= 5))
        if ("spark", filtered) in results:
            sp = results[("spark", filtered)].p(50)
            b = results[("spark_best", filtered)].p(50)
            checks.append(
                (
                    f">= 50x faster than Spark exact ({tag}): {sp / a:.0f}x ({sp:.0f} ms vs {a:.1f} ms); "
                    f"vs Spark's best exact form {b / a:.0f}x ({b:.0f} ms)",
                    min(sp, b) / a >= 50,
                )
            )
    share = sum(results[(p, True)].short for p in ("ann",) if (p, True) in results) / max(1, ann_f.queries)
    checks.append(
        (
            f"no short answers under the filter: ANN path {share:.0%} ({ann_f.short} of {ann_f.queries}), "
            f"all paths {shorts} of {total} filtered queries",
            shorts == 0,
        )
    )
    for text, ok in checks:
        log(f"- {'met' if ok else '**not met**'}: {text}")
    log("")
    log("EXPLAIN of the two queries (ANN path; vector literal cut):")
    log("")
    log("```")
    for key in ("annFalse", "annTrue"):
        for line in plans[key].splitlines():
            log(line if not line.startswith("sql: ") else line[:160] + " ...")
        log("")
    lines.pop()
    log("```")

    header = [
        "",
        f"## Similarity SQL, top-10 over {n:,} x {dim} ({dt.date.today().isoformat()})",
        "",
        f"Command: `python -m tests.benchmarks.bench_sql {' '.join(argv if argv is not None else sys.argv[1:])}` "
        f"({(time.perf_counter() - started) / 60:.0f} min)",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
        f"{platform.python_implementation()} {platform.python_version()}. Load average (1 min) "
        f"{', '.join(f'{x:.1f}' for x in loads)} from start to end: other engineers' test runs and benchmarks shared "
        "the 2 cores, so absolute latencies are pessimistic; recall and short answers are not affected.",
        "End to end = SQL text to Arrow rows through `SqlSession` (parse, resolve, plan, index search, candidate rows "
        "at the index's snapshot, engine execution); one session per path reused, one warm-up query per "
        "path, one client thread. Recall@10 against exact numpy over the same rows.",
        "",
    ]
    text = "\n".join(header + lines) + "\n"
    if args.output != "-":
        with open(args.output, "a") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
