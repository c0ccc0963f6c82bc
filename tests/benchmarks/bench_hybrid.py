"""Retrieval quality of vector, BM25 and hybrid search on real documents and real questions.

    python -m tests.benchmarks.bench_hybrid --cache .lakehouse/bench-cache --output BENCHMARKS.md

Corpus and questions: the PostgreSQL 15 manual and ``tests/benchmarks/questions/postgres15.jsonl``
(:mod:`tests.benchmarks.questions`). Every page is read as ``lakehouse ingest`` reads it, chunked as the embed job
chunks it (800 characters, 80 overlap) and embedded with all-MiniLM-L6-v2 (vectors cached in ``--cache``, keyed by
the chunks and the model version). The chunks go into an Iceberg table in a throwaway lake, indexed with
``lakehouse.index.build(..., text="chunk_text")``. Each question is answered by

- vector: ``VectorIndex.search`` (the default search);
- BM25: Lance's full-text index on ``chunk_text`` alone;
- hybrid: reciprocal rank fusion of the two (``lakehouse.index.hybrid``), over a grid of text weights, ``rrf_k`` and
  candidate depths. The legs are computed once per question at the largest depth and fused with the same
  ``rrf`` function ``hybrid_search`` uses (checked against ``hybrid_search`` itself for the default fusion).

Chunk rankings become page rankings (first occurrence of each page), scored by hit@1/5/10 and MRR@10. The grid is
tuned on half of the questions and measured on the other half (and the other way round), so the figure reported for
the tuned fusion is not fitted to the questions it is measured on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import itertools
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from tests.benchmarks.lake import report

WEIGHTS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5)
RRF_KS = (5, 10, 30, 60, 100)
DEPTHS = (10, 20, 50, 100)


def chunks_of(pages: list[str], root: Path, size: int, overlap: int) -> list[tuple[str, int, int, int, str]]:
    """(page, chunk index, start, end, text) for every chunk of every readable page."""
    from lakehouse.embed.chunking import chunk_text
    from lakehouse.ingest.files import Document, read_document

    out = []
    for rel in pages:
        doc = read_document(rel, root / rel)
        if not isinstance(doc, Document):
            continue
        for i, c in enumerate(chunk_text(doc.text, size, overlap)):
            out.append((rel, i, c.start, c.end, c.text))
    return out


def embed_cached(texts: list[str], cache: Path | None, log: Any) -> tuple[np.ndarray, str, float]:
    """MiniLM vectors of ``texts`` (from the cache when the same texts were embedded before) and chunks/s."""
    from lakehouse.embed import get_model

    model = get_model()
    digest = hashlib.sha256("\x00".join([model.name, model.version, *texts]).encode()).hexdigest()[:16]
    path = cache / f"hybrid-pg15-{digest}.npy" if cache else None
    if path is not None and path.exists():
        return np.load(path), model.version, float("nan")
    started = time.perf_counter()
    parts = []
    for i in range(0, len(texts), 512):
        parts.append(np.asarray(model.embed(texts[i : i + 512]), np.float32))
        log(f"  embedded {min(i + 512, len(texts))}/{len(texts)} chunks")
    vectors = np.concatenate(parts)
    rate = len(texts) / (time.perf_counter() - started)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return vectors, model.version, rate


def fused(vec: list[str], txt: list[str], weight: float, rrf_k: float, depth: int) -> list[str]:
    from lakehouse.index.hybrid import rrf

    scores = rrf([(vec[:depth], 1.0), (txt[:depth], weight)], rrf_k)
    best = {}
    for rank, key in enumerate(vec[:depth], 1):
        best[key] = rank
    for rank, key in enumerate(txt[:depth], 1):
        best[key] = min(best.get(key, rank), rank)
    return sorted(scores, key=lambda kk: (-scores[kk], best[kk], str(kk)))


def main(argv: list[str] | None = None) -> int:  # noqa: C901, PLR0915 - one linear script
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--questions", default="postgres15")
    p.add_argument("--limit", type=int, default=None, help="index this many pages (expected ones + a fixed sample)")
    p.add_argument("--cache", default=None, help="folder for the chunk vectors (re-runs skip the embedding)")
    p.add_argument("--chunk-size", type=int, default=800)
    p.add_argument("--chunk-overlap", type=int, default=80)
    p.add_argument("--output", default=None, help="append the Markdown section to this file")
    args = p.parse_args(argv)

    from lakehouse.catalog_client.process import stop
    from lakehouse.config import load_settings
    from lakehouse.index import build, hybrid_search, open_index
    from lakehouse.index.fulltext import lance_text_search
    from lakehouse.table import VectorTable
    from lakehouse.vector import VectorSpec, vector_type
    from tests.benchmarks.lake import start_catalog
    from tests.benchmarks.questions import corpus_pages, corpus_root, distinct_pages, load_questions, score

    def log(text: str) -> None:
        print(text, flush=True)

    load_before = os.getloadavg()
    questions = load_questions(args.questions)
    root = corpus_root(args.questions)
    pages = corpus_pages(args.questions, questions, limit=args.limit)
    chunks = chunks_of(pages, root, args.chunk_size, args.chunk_overlap)
    log(f"{len(pages)} pages, {len(chunks)} chunks")
    vectors, version, rate = embed_cached([c[4] for c in chunks], Path(args.cache) if args.cache else None, log)

    lake = Path(tempfile.mkdtemp(prefix="bench-hybrid-"))
    proc = start_catalog(lake)
    try:
        settings = load_settings(
            home=str(lake),
            catalog={"uri": proc.uri},
            warehouse=proc.warehouse,
            environ={},
            lineage={"transport": "none"},
        )
        schema = pa.schema(
            [
                ("embedding_id", pa.string()),
                ("source_key", pa.string()),
                ("chunk_index", pa.int32()),
                ("chunk_start", pa.int32()),
                ("chunk_end", pa.int32()),
                ("chunk_text", pa.string()),
                ("embedding", pa.list_(pa.float32())),
            ]
        )
        spec = VectorSpec("embedding", dim=384, metric="cosine", model="all-MiniLM-L6-v2", model_version=version)
        vt = VectorTable.create("bench.pg15", schema, key="embedding_id", settings=settings, vectors=[spec])
        vt.append(
            pa.table(
                {
                    "embedding_id": [f"{c[0]}#{c[1]}" for c in chunks],
                    "source_key": [c[0] for c in chunks],
                    "chunk_index": pa.array([c[1] for c in chunks], pa.int32()),
                    "chunk_start": pa.array([c[2] for c in chunks], pa.int32()),
                    "chunk_end": pa.array([c[3] for c in chunks], pa.int32()),
                    "chunk_text": [c[4] for c in chunks],
                    "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), type=vector_type(384)),
                }
            )
        )
        vt = vt.refresh()
        started = time.perf_counter()
        built = build(vt, "embedding", store=["source_key"], text="chunk_text", settings=settings)
        build_s = time.perf_counter() - started
        index = open_index(vt, "embedding", settings=settings)
        log(f"index: {built.action} {index.meta.index_type} in {build_s:.1f} s")
        from lakehouse.embed import get_model

        model = get_model()
        qvec = {q.id: np.asarray(model.embed([q.question])[0], np.float32) for q in questions}
        depth = max(DEPTHS)
        ds = index._dataset(index._tag(vt.snapshot_id))
        legs: dict[str, tuple[list[str], list[str]]] = {}
        timings: dict[str, list[float]] = {"vector": [], "bm25": [], "hybrid": []}
        page_of = {f"{c[0]}#{c[1]}": c[0] for c in chunks}
        for q in questions:
            t0 = time.perf_counter()
            v = index.search(qvec[q.id], depth).keys
            t1 = time.perf_counter()
            t = lance_text_search(ds, "chunk_text", q.question, depth, None, ["embedding_id"])
            t2 = time.perf_counter()
            legs[q.id] = (v, t.column("embedding_id").to_pylist())
            timings["vector"].append(t1 - t0)
            timings["bm25"].append(t2 - t1)
        # the library's own hybrid_search, default fusion, must rank as the offline fusion does
        mismatched = 0
        for q in questions:
            t0 = time.perf_counter()
            got = hybrid_search(index, q.question, 10, vector=qvec[q.id]).keys
            timings["hybrid"].append(time.perf_counter() - t0)
            mismatched += got != fused(*legs[q.id], 1.0, 60, 50)[:10]

        def pages_of(keys: list[str]) -> list[str]:
            return distinct_pages(page_of[k] for k in keys)

        def run(subset: list[Any], how: str, w: float = 1.0, k: float = 60, d: int = 50) -> Any:
            ranked = {}
            for q in subset:
                v, t = legs[q.id]
                keys = v if how == "vector" else t if how == "bm25" else fused(v, t, w, k, d)
                ranked[q.id] = pages_of(keys)
            return score(ranked, subset)

        grid = list(itertools.product(WEIGHTS, RRF_KS, DEPTHS))
        base = {"vector": run(questions, "vector"), "bm25": run(questions, "bm25"), "hybrid": run(questions, "h")}
        table = {g: run(questions, "h", *g) for g in grid}
        halves = [questions[0::2], questions[1::2]]
        cross = []
        for tune, test in (halves, halves[::-1]):
            best = max(grid, key=lambda g: (run(tune, "h", *g).mrr, -abs(g[0] - 1.0)))
            cross.append((best, run(test, "h", *best), run(test, "vector")))
        best_all = max(grid, key=lambda g: (table[g].mrr, -abs(g[0] - 1.0)))
        better = [q.id for q in questions if (table[best_all].ranks[q.id] or 99) < (base["vector"].ranks[q.id] or 99)]
        worse = [q.id for q in questions if (table[best_all].ranks[q.id] or 99) > (base["vector"].ranks[q.id] or 99)]
    finally:
        stop(lake / "state")
    load_after = os.getloadavg()

    def row(name: str, s: Any) -> str:
        return f"| {name} | {s.hit_at[1]:.3f} | {s.hit_at[5]:.3f} | {s.hit_at[10]:.3f} | {s.mrr:.3f} |"

    def p50(xs: list[float]) -> float:
        return float(np.median(xs)) * 1000

    lines = [
        f"## Hybrid search on real questions ({dt.date.today().isoformat()})",
        "",
        f"`python -m tests.benchmarks.bench_hybrid {' '.join(argv if argv is not None else sys.argv[1:])}`",
        f"on {platform.machine()} {os.cpu_count()} cores, load {load_before[0]:.1f} before / {load_after[0]:.1f} "
        "after (1-min average). "
        f"{len(questions)} questions ({args.questions}), {len(pages)} pages, {len(chunks)} chunks "
        f"({args.chunk_size}/{args.chunk_overlap}), all-MiniLM-L6-v2"
        + (f" ({rate:.0f} chunks/s to embed)" if rate == rate else " (vectors from the cache)")
        + f", index {index.meta.index_type} + Lance INVERTED on chunk_text, built in {build_s:.1f} s.",
        "",
        "| retriever | hit@1 | hit@5 | hit@10 | MRR@10 |",
        "|---|---|---|---|---|",
        row("vector (default)", base["vector"]),
        row("BM25 (Lance FTS)", base["bm25"]),
        row("hybrid, default fusion (weights 1/1, rrf_k 60, depth 50)", base["hybrid"]),
        row(
            f"hybrid, best on all (text weight {best_all[0]}, rrf_k {best_all[1]}, depth {best_all[2]})",
            table[best_all],
        ),
        "",
        "Tuned on one half of the questions, measured on the other (MRR@10 / hit@5; vector alone on the same half):",
        "",
    ]
    for (w, k, d), s, v in cross:
        lines.append(
            f"- tuned: text weight {w}, rrf_k {k}, depth {d} -> hybrid {s.mrr:.3f} / {s.hit_at[5]:.3f}, "
            f"vector {v.mrr:.3f} / {v.hit_at[5]:.3f} ({s.questions} questions)"
        )
    by_weight = []
    for w in WEIGHTS:
        best_k = max(((k, d) for k in RRF_KS for d in DEPTHS), key=lambda kd: table[(w, *kd)].mrr)
        s = table[(w, *best_k)]
        by_weight.append(f"{w}: {s.mrr:.3f} (rrf_k {best_k[0]}, depth {best_k[1]})")
    lines += [
        "",
        "Best MRR@10 by text weight: " + "; ".join(by_weight) + ".",
        f"With the best fusion, {len(better)} questions rank their page higher than with vector alone "
        f"({', '.join(better) or 'none'}), {len(worse)} lower ({', '.join(worse) or 'none'}).",
        f"Latency p50 (warm, one thread): vector {p50(timings['vector']):.1f} ms, BM25 {p50(timings['bm25']):.1f} ms, "
        f"hybrid_search (k=10, depth 50, query vector given) {p50(timings['hybrid']):.1f} ms. "
        f"hybrid_search ranked as the offline fusion on {len(questions) - mismatched} of {len(questions)} questions.",
        "",
    ]
    report(lines, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
