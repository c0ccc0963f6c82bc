"""Incremental embedding benchmark on the real demo corpus (pydoc pages of ``DEMO_MODULES``), in a temp home.

    python -m tests.benchmarks.bench_embed --output BENCHMARKS.md
    python -m tests.benchmarks.bench_embed --part read --read-rows 100000 --read-files 100   # source reads only

1. first embed run (everything embedded); 2. a second run over unchanged data (target: 0 rows embedded, <= 10% of the
first run's time); 3. a run after editing 1% of the documents (a sentence prepended, so every chunk of an edited
document changes; target: exactly those chunks re-embedded, checked by the rows' ``run_id``); 4. the embed job's
throughput inside Spark vs the same model over the same chunks outside Spark (``get_model().embed``) on the same
cores (target >= 0.8x). Starts its own catalog service and SparkSession. Never part of the default test run.

``--part read``: the source read alone, on a synthetic documents table of ``--read-rows`` one-chunk documents in
``--read-files`` data files, embedded once with the cheap ``hash-64`` model; then 10 documents appended, 1 edited
and 1 deleted, and the plan (``--plan``: read, chunk, diff; nothing embedded) timed reading only the changed files
(incremental) and reading everything (``--full``), followed by the incremental run itself.
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


def main(argv: list[str] | None = None) -> int:  # noqa: C901 - one linear script
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--cores", type=int, default=os.cpu_count() or 2, help="local[N] and torch threads outside Spark")
    p.add_argument("--model", default="all-MiniLM-L6-v2")
    p.add_argument("--changed", type=float, default=0.01, help="fraction of documents edited before run 3")
    p.add_argument("--part", choices=["all", "demo", "read"], default="all", help="which sections to run")
    p.add_argument("--read-rows", type=int, default=100_000, help="documents of the source-read section")
    p.add_argument("--read-files", type=int, default=100, help="data files of the source-read section")
    p.add_argument("--output", default=None, help="append the Markdown section to this file")
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
    from lakehouse.table import VectorTable
    from tests.benchmarks.lake import start_catalog

    def log(text: str) -> None:
        print(text, flush=True)

    load_before = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    proc = start_catalog(root)
    try:
        settings = load_settings(
            home=str(root),
            catalog={"uri": proc.uri},
            warehouse=proc.warehouse,
            environ={},
            spark={"master": f"local[{args.cores}]", "driver_memory": "3g"},
        )
        spark = build_spark(settings, app_name="bench_embed")
        lines = []
        if args.part in ("all", "read"):
            lines += read_section(spark, settings, args, argv, load_before)
        if args.part == "read":
            spark.stop()
            return _emit(lines, args.output)
        info = build_pydoc_corpus(root / "corpus", modules=DEMO_MODULES)
        docs, emb = "bench.documents", "bench.embeddings"
        ingested = run_ingest(spark, IngestParams(root / "corpus", docs), settings, log=lambda _m: None)
        log(f"corpus: {len(info.files)} files -> {ingested.total_rows} documents")

        def embed() -> tuple[float, object]:
            params = EmbedParams(
                source=docs,
                output=emb,
                model=args.model,
                chunk_size=settings.embed.chunk_size,
                chunk_overlap=settings.embed.chunk_overlap,
                batch_size=settings.embed.batch_size,
            )
            t = time.perf_counter()
            r = run_embed(spark, params, settings, log=log)
            return time.perf_counter() - t, r

        first_s, first = embed()
        second_s, second = embed()
        keys = sorted(r["key"] for r in spark.table(f"{settings.catalog.name}.{docs}").select("key").collect())
        n_edit = max(1, round(len(keys) * args.changed))
        edited = keys[:: max(1, len(keys) // n_edit)][:n_edit]
        quoted = ", ".join("'" + k.replace("'", "''") + "'" for k in edited)
        spark.sql(
            f"UPDATE {settings.catalog.name}.{docs} SET text = concat('Edited for the benchmark. ', text) "
            f"WHERE key IN ({quoted})"
        )
        edited_chunks_before = spark.table(f"{settings.catalog.name}.{emb}").where(f"source_key IN ({quoted})").count()
        third_s, third = embed()
        rows = VectorTable.load(emb, settings=settings).to_arrow(columns=["source_key", "run_id"]).to_pylist()
        touched = [r["source_key"] for r in rows if r["run_id"] == third.run_id]  # type: ignore[attr-defined]
        edited_chunks_after = sum(1 for r in rows if r["source_key"] in set(edited))
        exactly = set(touched) == set(edited) and len(touched) == edited_chunks_after

        # the same model over the same chunks, outside Spark, on the same cores
        import torch

        from lakehouse.embed import get_model

        texts = [r["chunk_text"] for r in spark.table(f"{settings.catalog.name}.{emb}").select("chunk_text").collect()]
        torch.set_num_threads(args.cores)
        model = get_model(args.model)
        model.embed(texts[:32])  # warm up (load, first batch)
        t = time.perf_counter()
        model.embed(texts)
        outside_s = time.perf_counter() - t
        p1 = first.plan  # type: ignore[attr-defined]
        inside_rate = p1.to_embed / first.embed_seconds  # type: ignore[attr-defined]
        outside_rate = len(texts) / outside_s
        load_after = os.getloadavg()
        spark.stop()

        p2, p3 = second.plan, third.plan  # type: ignore[attr-defined]
        cmd = "python -m tests.benchmarks.bench_embed " + " ".join(argv if argv is not None else sys.argv[1:])
        lines += [
            f"## Incremental embedding benchmark ({dt.date.today().isoformat()})",
            "",
            f"Command: `{cmd.strip()}`",
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}; Spark "
            f"local[{args.cores}]; load average {load_before[0]:.1f} at start, {load_after[0]:.1f} at end (other "
            "jobs share the machine: times are noisy).",
            f"Corpus: the demo corpus (pydoc pages of the {len(DEMO_MODULES)} `DEMO_MODULES`), {ingested.total_rows} "
            f"documents -> {p1.to_embed} chunks of {settings.embed.chunk_size} characters, model {args.model}.",
            "",
            "| run | chunks embedded | insert / update / delete / keep | job seconds | vs first run |",
            "|---|---|---|---|---|",
            f"| 1. first run | {p1.to_embed} | {p1.insert} / {p1.update} / {p1.delete} / {p1.keep} | {first_s:.1f} | "
            "100% |",
            f"| 2. unchanged data | {p2.to_embed} | {p2.insert} / {p2.update} / {p2.delete} / {p2.keep} | "
            f"{second_s:.1f} | {second_s / first_s:.1%} |",
            f"| 3. {len(edited)} of {len(keys)} documents edited ({len(edited) / len(keys):.1%}) | {p3.to_embed} | "
            f"{p3.insert} / {p3.update} / {p3.delete} / {p3.keep} | {third_s:.1f} | {third_s / first_s:.1%} |",
            "",
            f"- run 2: {'0 rows embedded: target met' if p2.to_embed == 0 else 'rows were embedded: target MISSED'}; "
            f"time {second_s / first_s:.1%} of the first run (target <= 10%: "
            f"{'met' if second_s <= 0.1 * first_s else 'missed'})",
            f"- run 3: the edited documents had {edited_chunks_before} chunks before and {edited_chunks_after} after; "
            f"rows written by run 3: {len(touched)}, all of edited documents: {exactly} "
            f"({'exactly those re-embedded' if exactly else 'NOT exactly those'})",
            f"- throughput: inside Spark (the embed job, chunks / embedding stage seconds incl. the MERGE/write) "
            f"{inside_rate:.1f} chunks/s; outside Spark (`get_model().embed`, {args.cores} torch threads, same "
            f"{len(texts)} chunks) {outside_rate:.1f} chunks/s; ratio {inside_rate / outside_rate:.2f}x "
            f"(target >= 0.8x: {'met' if inside_rate >= 0.8 * outside_rate else 'missed'})",
            "",
        ]
    finally:
        stop(root / "state")
    return _emit(lines, args.output)


def _emit(lines: list[str], output: str | None) -> int:
    text = "\n".join(lines)
    print(text)
    if output:
        with open(output, "a", encoding="utf-8") as fh:
            fh.write("\n" + text)
    return 0


def read_section(
    spark: object, settings: object, args: argparse.Namespace, argv: list[str] | None, load_before: tuple[float, ...]
) -> list[str]:
    """Plan time of an incremental read vs a full read after a small change to a many-file source (see module doc)."""
    import pyarrow as pa
    from pyiceberg.expressions import EqualTo

    from lakehouse.embedding import EmbedParams
    from lakehouse.embedding import run as run_embed
    from lakehouse.table import VectorTable

    schema = pa.schema([("key", pa.string()), ("text", pa.string())])
    words = "lakehouse snapshot manifest embedding vector index table commit delta iceberg".split()

    def docs(keys: range | list[int], note: str = "") -> pa.Table:
        text = [" ".join(words[(i + j) % len(words)] for j in range(40)) + f" {i}{note}" for i in keys]
        return pa.table({"key": [f"k{i:08d}" for i in keys], "text": text}, schema=schema)

    source = VectorTable.create("bench_read.documents", schema, vectors=[], key="key", settings=settings)
    per_file = max(1, args.read_rows // args.read_files)
    t = time.perf_counter()
    for start in range(0, args.read_rows, per_file):
        source.append(docs(range(start, min(args.read_rows, start + per_file))))
    write_s = time.perf_counter() - t

    def embed(**kw: object) -> tuple[float, object]:
        params = EmbedParams(
            source="bench_read.documents", output="bench_read.embeddings", model="hash-64", chunk_size=800, **kw
        )
        t = time.perf_counter()
        r = run_embed(spark, params, settings, log=lambda _m: None)  # type: ignore[arg-type]
        return time.perf_counter() - t, r

    first_s, first = embed()
    n = args.read_rows
    source.append(docs(range(n, n + 10)))
    with source.iceberg.transaction() as tx:
        tx.delete(EqualTo("key", f"k{n // 2:08d}"))
        tx.append(docs([n // 2], " edited"))
    source.iceberg.delete(EqualTo("key", f"k{n // 3:08d}"))
    inc_s, inc = embed(plan_only=True)
    full_s, full = embed(plan_only=True, full=True)
    run_s, run = embed()
    load_after = os.getloadavg()
    ri, rf = inc.plan.read, full.plan.read  # type: ignore[attr-defined]
    pi, pf = inc.plan, full.plan  # type: ignore[attr-defined]
    cmd = "python -m tests.benchmarks.bench_embed " + " ".join(argv if argv is not None else sys.argv[1:])
    return [
        f"## Incremental source reads of the embed job ({dt.date.today().isoformat()})",
        "",
        f"Command: `{cmd.strip()}`",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}; Spark "
        f"local[{args.cores}]; load average {load_before[0]:.1f} at start, {load_after[0]:.1f} at end.",
        f"Source: {n:,} one-chunk documents in {args.read_files} data files (pyiceberg appends, {write_s:.1f} s), "
        f"embedded once with hash-64 ({first_s:.1f} s); then 10 appended, 1 edited, 1 deleted.",
        "",
        "| after the change | read | data files read | rows read | insert / update / delete / keep | seconds |",
        "|---|---|---|---|---|---|",
        f"| `--plan` | {ri.mode} | {ri.files_read} of {ri.files_total} | {ri.rows_read:,} of {ri.rows_total:,} | "
        f"{pi.insert} / {pi.update} / {pi.delete} / {pi.keep:,} | {inc_s:.1f} |",
        f"| `--plan --full` | {rf.mode} | {rf.files_read} of {rf.files_total} | {rf.rows_read:,} of "
        f"{rf.rows_total:,} | {pf.insert} / {pf.update} / {pf.delete} / {pf.keep:,} | {full_s:.1f} |",
        f"| the incremental run (embed + MERGE) | {run.plan.read.mode} | {run.plan.read.files_read} | "  # type: ignore[attr-defined]
        f"{run.plan.read.rows_read:,} | {run.plan.insert} / {run.plan.update} / {run.plan.delete} / "  # type: ignore[attr-defined]
        f"{run.plan.keep:,} | {run_s:.1f} |",  # type: ignore[attr-defined]
        "",
        f"- plan time, incremental vs full read: {inc_s:.1f} s vs {full_s:.1f} s ({full_s / inc_s:.1f}x); same "
        f"decisions: {(pi.insert, pi.update, pi.delete, pi.keep) == (pf.insert, pf.update, pf.delete, pf.keep)}",
        "",
    ]


if __name__ == "__main__":
    sys.exit(main())
