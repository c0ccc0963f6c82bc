"""CLI cold start: the wall time of each `lakehouse` command from process start to exit, and what it imported.

    python -m tests.benchmarks cli --runs 3

A throwaway home (its own embedded catalog service, started once before timing, as any command would leave it
running) holds ``bench.t``: 2,000 rows x 384 (random unit vectors recorded as all-MiniLM-L6-v2 embeddings, so a
text query loads the real model) with an index. Each command runs ``--runs`` times as a fresh interpreter (what the
console script does); the figure is the median wall time. The "loaded" column names the heavy modules the command
imported (torch = the model stack, pyspark = the JVM bridge, pyiceberg, duckdb, lance), to show that a command loads
only what it needs. The last rows repeat the two text queries with `lakehouse serve` running, which they then use.
Prints a Markdown section (command, machine, date, load) and appends it to ``--output``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

HEAVY = ("torch", "pyspark", "pyiceberg", "duckdb", "lance", "sqlglot", "fastapi")
RUNNER = (
    "import atexit, json, sys\n"
    "out = sys.argv.pop(1)\n"
    "atexit.register(lambda: open(out, 'w').write(json.dumps(sorted(sys.modules))))\n"
    "from lakehouse.cli.main import main\n"
    "main()\n"
)


def run(home: Path, argv: list[str], out: Path) -> tuple[float, set[str], int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE")}
    env["LAKEHOUSE_HOME"] = str(home)
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", RUNNER, str(out), *argv],
        cwd=home,
        env=env,
        capture_output=True,
        check=False,
        timeout=600,
    )
    wall = time.perf_counter() - started
    loaded = set(json.loads(out.read_text())) if out.exists() else set()
    return wall, loaded, done.returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--output", default="BENCHMARKS.md", help="appended to; '-' prints only")
    args = ap.parse_args(argv)

    from lakehouse.catalog_client.process import stop
    from lakehouse.config import load_settings
    from lakehouse.index import build
    from lakehouse.table import VectorTable, ensure_catalog
    from lakehouse.vector import VectorSpec, vector_type

    root = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    home = root / "home"
    settings = load_settings(project_dir=root, environ={}, home=str(home))
    serve: subprocess.Popen[bytes] | None = None
    rows: list[str] = []
    loads = [os.getloadavg()[0]]
    try:
        ensure_catalog(settings)
        n, dim = 2000, 384
        m = np.random.default_rng(0).normal(size=(n, dim)).astype(np.float32)
        m /= np.linalg.norm(m, axis=1, keepdims=True)
        schema = pa.schema([("id", pa.string()), ("chunk_index", pa.int32()), ("embedding", pa.list_(pa.float32()))])
        spec = VectorSpec("embedding", dim=dim, model="all-MiniLM-L6-v2")
        t = VectorTable.create("bench.t", schema, vectors=[spec], key="id", settings=settings)
        t.append(
            {
                "id": [f"r{i}" for i in range(n)],
                "chunk_index": pa.array([i % 8 for i in range(n)], pa.int32()),
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(m.ravel()), type=vector_type(dim)),
            }
        )
        build(t, "embedding", store=["chunk_index"], settings=settings)
        vector = "[" + ",".join(f"{x:.4f}" for x in m[0]) + "]"
        top = f"SELECT id, cosine_similarity(embedding, {vector}) AS s FROM lake.bench.t ORDER BY s DESC LIMIT 5"
        bound = "SELECT id, cosine_similarity(embedding, :q) AS s FROM lake.bench.t ORDER BY s DESC LIMIT 5"
        commands: list[tuple[str, list[str]]] = [
            ("lakehouse --help", ["--help"]),
            ("lakehouse tables", ["tables"]),
            ("lakehouse show bench.t -n 1", ["show", "bench.t", "-n", "1"]),
            ("lakehouse sql transpile --to postgres (384-d literal)", ["sql", "transpile", "--to", "postgres", top]),
            ("lakehouse sql (top-5, 384-d literal, DuckDB)", ["sql", top]),
            ("lakehouse sql explain (same)", ["sql", "explain", top]),
            ("lakehouse sql (top-5, -p q='text': embeds)", ["sql", bound, "-p", "q=snapshot isolation"]),
            ("lakehouse index status bench.t", ["index", "status", "bench.t"]),
            ("lakehouse index search --vector", ["index", "search", "bench.t", "--vector", vector, "-k", "5"]),
            ("lakehouse index search --text (embeds)", ["index", "search", "bench.t", "--text", "vacuum", "-k", "5"]),
            ("lakehouse catalog status", ["catalog", "status"]),
        ]
        out = root / "modules.json"

        def measure(name: str, argv: list[str]) -> None:
            walls, loaded, codes = [], set(), set()
            for _ in range(args.runs):
                wall, loaded, code = run(home, argv, out)
                walls.append(wall)
                codes.add(code)
            loads.append(os.getloadavg()[0])
            heavy = ", ".join(h for h in HEAVY if h in loaded) or "-"
            line = (
                f"| {name} | {statistics.median(walls):.2f} | {min(walls):.2f} | {heavy} | "
                f"{'ok' if codes == {0} else f'exit {sorted(codes)}'} | {loads[-1]:.1f} |"
            )
            print(line, flush=True)
            rows.append(line)

        for name, command in commands:
            measure(name, command)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE")}
        env["LAKEHOUSE_HOME"] = str(home)
        serve = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "lakehouse.cli.main", "serve", "--port", "0"],
            cwd=home,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        from lakehouse.serve import running

        deadline = time.monotonic() + 120
        while running(settings) is None and time.monotonic() < deadline:
            time.sleep(0.2)
        run(home, ["index", "search", "bench.t", "--text", "warm up", "-k", "1"], out)  # the service loads the model
        measure("lakehouse index search --text, `serve` running", commands[9][1])
        measure("lakehouse sql -p q='text', `serve` running", commands[6][1])
    finally:
        if serve is not None:
            serve.terminate()
            serve.wait(timeout=30)
        stop(settings.state_dir)
        shutil.rmtree(root, ignore_errors=True)
    section = [
        "## CLI cold start: each command from process start to exit",
        "",
        f"`python -m tests.benchmarks cli {' '.join(argv or [])}`".replace(" `", "`"),
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"date {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; {args.runs} runs a command (a fresh interpreter each)",
        f"- load average (1 min) from {min(loads):.1f} to {max(loads):.1f} (2 cores shared with other work)",
        "",
        "| command | median s | min s | heavy modules imported | result | load after |",
        "|---|---:|---:|---|---|---:|",
        *rows,
    ]
    text = "\n".join(section) + "\n"
    print(text)
    if args.output != "-":
        with open(args.output, "a") as f:
            f.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
