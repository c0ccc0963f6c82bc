"""Lineage overhead per job: ingest and embed with OpenLineage events vs ``OPENLINEAGE_DISABLED=true``, in one run.

    python -m tests.benchmarks.bench_lineage --modules 12 --rounds 3 --output BENCHMARKS.md

One process, one SparkSession, one catalog service in a temporary ``LAKEHOUSE_HOME``. Each round runs the ingest and
embed jobs into fresh tables twice, once with events (the embedded default: JSONL file) and once disabled, the order
alternating between rounds so that warm-up and drift fall on both sides; a first round is discarded as warm-up.
The lineage columns are written either way (the job has no switch for them), so their cost is reported as their
share of the embeddings table's bytes, from the Iceberg data files' column sizes. Never part of the test run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lakehouse.lineage.queries import LINEAGE_COLUMNS  # the per-row lineage columns whose cost is reported


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--modules", type=int, default=12, help="pydoc pages of this many standard-library modules")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--model", default="hash-64")
    p.add_argument("--master", default="local[2]")
    p.add_argument("--output", type=Path, default=None, help="append the Markdown section to this file")
    args = p.parse_args(argv)

    from lakehouse.catalog_client.process import stop
    from lakehouse.cli.jobs import DEMO_MODULES
    from lakehouse.config import load_settings
    from lakehouse.embedding import EmbedParams
    from lakehouse.embedding import run as run_embed
    from lakehouse.ingest.demo import build_pydoc_corpus
    from lakehouse.ingest.job import IngestParams
    from lakehouse.ingest.job import run as run_ingest
    from lakehouse.spark import build_spark
    from lakehouse.table import VectorTable, ensure_catalog

    home = Path(tempfile.mkdtemp(prefix="bench-lineage-"))
    settings = load_settings(
        project_dir=home, environ={}, home=str(home), spark={"master": args.master, "driver_memory": "2g"}
    )
    ensure_catalog(settings)
    corpus = home / "corpus"
    info = build_pydoc_corpus(corpus, modules=list(DEMO_MODULES[: args.modules]))
    spark = build_spark(settings, app_name="bench_lineage")
    times: dict[str, dict[str, list[float]]] = {m: {"ingest": [], "embed": []} for m in ("on", "off")}
    chunks = 0
    try:
        for r in range(args.rounds + 1):
            order = ("on", "off") if r % 2 == 0 else ("off", "on")
            for mode in order:
                # the jobs read OPENLINEAGE_DISABLED from the environment, as OpenLineage's own clients do
                if mode == "off":
                    os.environ["OPENLINEAGE_DISABLED"] = "true"
                else:
                    os.environ.pop("OPENLINEAGE_DISABLED", None)
                docs, emb = f"bench.docs_{r}_{mode}", f"bench.emb_{r}_{mode}"
                started = time.perf_counter()
                run_ingest(spark, IngestParams(corpus, docs), settings, log=lambda _m: None)
                ingest_s = time.perf_counter() - started
                started = time.perf_counter()
                result = run_embed(
                    spark, EmbedParams(source=docs, output=emb, model=args.model), settings, log=lambda _m: None
                )
                embed_s = time.perf_counter() - started
                chunks = result.chunks
                if r > 0:  # round 0 warms the JVM, the Python workers and the model
                    times[mode]["ingest"].append(ingest_s)
                    times[mode]["embed"].append(embed_s)
        os.environ.pop("OPENLINEAGE_DISABLED", None)
        table = VectorTable.load(f"bench.emb_{args.rounds}_on", settings=settings).iceberg
        sizes: dict[int, int] = {}
        for task in table.scan().plan_files():
            for field_id, size in (task.file.column_sizes or {}).items():
                sizes[field_id] = sizes.get(field_id, 0) + size
        ids = {table.schema().find_field(c).field_id for c in LINEAGE_COLUMNS}
        lineage_share = sum(v for k, v in sizes.items() if k in ids) / max(1, sum(sizes.values()))
        events = sum(1 for _ in settings.lineage_path.open()) if settings.lineage_path.exists() else 0
    finally:
        spark.stop()
        stop(settings.state_dir)
        shutil.rmtree(home, ignore_errors=True)

    lines = [
        f"## Lineage overhead per job ({dt.date.today().isoformat()})",
        "",
        f"Command: `python -m tests.benchmarks.bench_lineage --modules {args.modules} --rounds {args.rounds} "
        f"--model {args.model} --master {args.master}`",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}; corpus: "
        f"{len(info.files)} pydoc files ({info.total_mb:.1f} MB) -> {chunks} chunks; one SparkSession, "
        f"{args.rounds} measured rounds after one warm-up, on/off order alternating; median seconds.",
        "",
        "| job | events on (s) | OPENLINEAGE_DISABLED (s) | overhead |",
        "|---|---|---|---|",
    ]
    for job in ("ingest", "embed"):
        on, off = statistics.median(times["on"][job]), statistics.median(times["off"][job])
        lines.append(f"| {job} | {on:.2f} | {off:.2f} | {100 * (on - off) / off:+.1f}% |")
    lines += [
        "",
        f"- events written: {events} (JSONL, the embedded default), START + COMPLETE per job run with events on",
        f"- lineage columns: {100 * lineage_share:.1f}% of the embeddings table's column bytes "
        f"({len(LINEAGE_COLUMNS)} columns; written with events on or off)",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.output is not None:
        with args.output.open("a", encoding="utf-8") as fh:
            fh.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
