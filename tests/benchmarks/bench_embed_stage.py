"""Chunks/s of the Spark embed stage against the raw model on the same machine, the same texts, in the same run.

    python -m tests.benchmarks.bench_embed_stage --pages 80 --output BENCHMARKS.md

Source: pages of the PostgreSQL 15 manual (:mod:`tests.benchmarks.questions`; any ``--pages`` of them, sorted, so
their sizes vary as real documents do) in a documents table of a throwaway lake. The embed job
(``lakehouse.embedding.run``, all-MiniLM-L6-v2, Spark ``local[--cores]``) embeds them after a warm-up run that loads
the model in every Python worker (the raw model is loaded before it is timed too); its rate is the plan's chunks over
the embed stage's seconds (the stage includes the Iceberg write), as the job records it. Then the same chunk texts,
read back from the embeddings table, go through ``get_model().embed`` in this process with ``--cores`` torch threads.
The Spark UI's REST API gives the embed stage's tasks: chunks per task (min/max) and task seconds (min/max), which
shows whether the stage is balanced. ``--fixed N`` adds a run with N embed tasks (the old fixed 8 per core is 16).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.benchmarks.lake import report


def embed_stage(spark: Any) -> dict[str, Any] | None:
    """The last stage that ran Python UDF tasks over shuffled rows: tasks, chunks per task, task seconds."""
    ui, app = spark.sparkContext.uiWebUrl, spark.sparkContext.applicationId
    if not ui:
        return None
    stages = json.load(urllib.request.urlopen(f"{ui}/api/v1/applications/{app}/stages", timeout=30))
    found = None
    for st in sorted(stages, key=lambda s: s["stageId"]):
        if st["numTasks"] < 2 or st.get("shuffleReadRecords", 0) == 0:
            continue
        url = f"{ui}/api/v1/applications/{app}/stages/{st['stageId']}/{st['attemptId']}/taskList?length=10000"
        tasks = json.load(urllib.request.urlopen(url, timeout=30))
        recs = [(t.get("taskMetrics") or {}).get("shuffleReadMetrics", {}).get("recordsRead", 0) for t in tasks]
        secs = [t.get("duration", 0) / 1000 for t in tasks]
        found = {
            "stage": st["stageId"],
            "tasks": len(tasks),
            "chunks": (min(recs), max(recs)),
            "secs": (min(secs), max(secs)),
        }
    return found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--pages", type=int, default=80)
    p.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    p.add_argument("--model", default="all-MiniLM-L6-v2")
    p.add_argument("--fixed", type=int, default=None, help="also run with this many embed tasks (old: 8 per core)")
    p.add_argument("--output", default=None)
    args = p.parse_args(argv)

    import pyarrow as pa

    from lakehouse.catalog_client.process import stop
    from lakehouse.config import load_settings
    from lakehouse.embedding import EmbedParams
    from lakehouse.embedding import run as run_embed
    from lakehouse.ingest.files import Document, read_document
    from lakehouse.spark import build_spark
    from lakehouse.table import VectorTable
    from tests.benchmarks.lake import start_catalog
    from tests.benchmarks.questions import corpus_root

    def log(text: str) -> None:
        print(text, flush=True)

    load_before = os.getloadavg()
    corpus = corpus_root("postgres15")
    pages = sorted(p.relative_to(corpus).as_posix() for p in corpus.rglob("*.html"))[: args.pages]
    docs = [d for d in (read_document(rel, corpus / rel) for rel in pages) if isinstance(d, Document)]
    root = Path(tempfile.mkdtemp(prefix="bench-embed-stage-"))
    proc = start_catalog(root)
    runs: list[tuple[str, float, int, dict[str, Any] | None, float]] = []
    try:
        settings = load_settings(
            home=str(root),
            catalog={"uri": proc.uri},
            warehouse=proc.warehouse,
            environ={},
            lineage={"transport": "none"},
            spark={"master": f"local[{args.cores}]", "driver_memory": "3g", "conf": {"spark.ui.enabled": "true"}},
        )
        spark = build_spark(settings, app_name="bench_embed_stage")
        table = VectorTable.create(
            "bench.documents", pa.schema([("key", pa.string()), ("text", pa.string())]), vectors=[], key="key",
            settings=settings,
        )  # fmt: skip
        table.append(pa.table({"key": [d.key for d in docs], "text": [d.text for d in docs]}))
        # a warm-up run first: every Python worker loads the model once (workers are reused), as the raw model is
        # loaded before it is timed
        warm_docs = VectorTable.create(
            "bench.warm", pa.schema([("key", pa.string()), ("text", pa.string())]), vectors=[], key="key",
            settings=settings,
        )  # fmt: skip
        warm_docs.append(
            pa.table({"key": [f"w{i}" for i in range(4 * args.cores)], "text": ["warm up"] * 4 * args.cores})
        )
        warm = EmbedParams(source="bench.warm", output="bench.warmup", model=args.model, partitions=args.cores)
        run_embed(spark, warm, settings, log=lambda _m: None)
        variants = [("chunk-count tasks", None)] + ([(f"{args.fixed} fixed tasks", args.fixed)] if args.fixed else [])
        for i, (name, partitions) in enumerate(variants):
            params = EmbedParams(source="bench.documents", output=f"bench.embeddings{i}", model=args.model,
                                 partitions=partitions)  # fmt: skip
            t = time.perf_counter()
            r = run_embed(spark, params, settings, log=lambda _m: None)
            job_s = time.perf_counter() - t
            rate = r.plan.to_embed / r.embed_seconds  # type: ignore[attr-defined]
            runs.append((name, rate, r.plan.to_embed, embed_stage(spark), os.getloadavg()[0]))  # type: ignore[attr-defined]
            log(f"{name}: {r.plan.to_embed} chunks, {rate:.1f} chunks/s (job {job_s:.0f} s), {runs[-1][3]}")  # type: ignore[attr-defined]
        texts = [row["chunk_text"] for row in spark.table("lake.bench.embeddings0").select("chunk_text").collect()]
        spark.stop()
        import torch

        from lakehouse.embed import get_model

        torch.set_num_threads(args.cores)
        model = get_model(args.model)
        model.embed(texts[:32])  # load and warm up
        t = time.perf_counter()
        model.embed(texts)
        raw = len(texts) / (time.perf_counter() - t)
        raw_load = os.getloadavg()[0]
        log(f"raw model: {raw:.1f} chunks/s over the same {len(texts)} chunks")
    finally:
        stop(root / "state")
    cmd = "python -m tests.benchmarks.bench_embed_stage " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        f"## Embed stage vs the raw model ({dt.date.today().isoformat()})",
        "",
        f"`{cmd.strip()}` on {platform.machine()}, {os.cpu_count()} cores, Spark local[{args.cores}]; "
        f"{len(docs)} pages of the PostgreSQL 15 manual, {args.model}; load {load_before[0]:.1f} at start.",
        "",
        "| run | chunks | chunks/s | vs raw model | embed tasks | chunks a task (min-max) | task s (min-max) | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, rate, chunks, stage, load in runs:
        tasks = f"{stage['tasks']} | {stage['chunks'][0]}-{stage['chunks'][1]} | " if stage else "? | ? | "
        secs = f"{stage['secs'][0]:.1f}-{stage['secs'][1]:.1f}" if stage else "?"
        lines.append(
            f"| Spark embed job, {name} | {chunks} | {rate:.1f} | {rate / raw:.2f}x | {tasks}{secs} | {load:.1f} |"
        )
    raw_name = f"raw model (`get_model().embed`, {args.cores} torch threads)"
    lines += [f"| {raw_name} | {len(texts)} | {raw:.1f} | 1.00x | - | - | - | {raw_load:.1f} |", ""]
    report(lines, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
