"""Retrieval quality on real documents: which HTML text extractor lets vector search find the right page.

    python -m tests.benchmarks retrieval --pages 200 --output BENCHMARKS.md
    python -m tests.benchmarks retrieval --pages 0          # the whole manual (1,171 pages: long on 2 cores)

Corpus and questions: :mod:`tests.benchmarks.questions` (the PostgreSQL 15 manual from Debian's ``postgresql-doc-15``,
29 questions with their expected pages). ``--pages N`` indexes every expected page plus a fixed sample of the others
(N in all). Each extractor turns every page into text: ``visible`` is the old extractor (all visible text,
navigation included: :func:`lakehouse.ingest.html_to_text`), ``main`` the new one (trafilatura's main text:
:func:`lakehouse.ingest.maintext.html_main_text`). The texts are chunked as the embed job does (800/80 by default),
embedded with the real model, and each question is answered by exact cosine search over the chunks (numpy), the
chunks' pages deduplicated in rank order, then scored (hit@1/5/10, MRR@10). Exact search keeps ANN recall out of the
comparison; the model, chunking and questions are the same for both extractors, so the extractor is the only change.
Runs in this process (no Spark, no catalog): the job's chunking and model, not its plumbing, decide these figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.benchmarks.questions import (
    Question,
    Scores,
    corpus_pages,
    corpus_root,
    distinct_pages,
    load_questions,
    score,
)

Extractor = Callable[[str], tuple[str, str | None]]
LABELS = {"visible": "visible text (old: navigation kept)", "main": "trafilatura main text (new)"}


def extractors() -> dict[str, Extractor]:
    from lakehouse.ingest.extract import html_to_text
    from lakehouse.ingest.maintext import html_main_text

    return {"visible": html_to_text, "main": html_main_text}


def extract_pages(root: Path, pages: Sequence[str], extractor: Extractor) -> dict[str, str]:
    """``{page: text}`` of each page under ``root`` with ``extractor`` (reusable by other retrievers' benchmarks)."""
    return {page: extractor((root / page).read_text(encoding="utf-8", errors="replace"))[0] for page in pages}


@dataclass
class DenseIndex:
    """Chunks of pages embedded with one model; ``search`` ranks pages for a question by exact cosine similarity."""

    pages: list[str]  # page of each chunk
    vectors: np.ndarray  # (chunks, dim), L2-normalised
    embed: Callable[[list[str]], np.ndarray]

    @classmethod
    def build(cls, texts: dict[str, str], model: str, chunk_size: int, overlap: int) -> DenseIndex:
        from lakehouse.embed import get_model
        from lakehouse.embed.chunking import chunk_text

        m = get_model(model)
        owners, chunks = [], []
        for page, text in texts.items():
            for c in chunk_text(text, chunk_size=chunk_size, overlap=overlap):
                owners.append(page)
                chunks.append(c.text)
        return cls(owners, np.asarray(m.embed(chunks), dtype=np.float32), lambda q: np.asarray(m.embed(q)))

    def search(self, questions: Sequence[Question], k: int = 10) -> dict[str, list[str]]:
        q = self.embed([x.question for x in questions]).astype(np.float32)
        scores = q @ self.vectors.T
        out = {}
        for i, question in enumerate(questions):
            order = np.argsort(-scores[i], kind="stable")
            ranked: list[str] = []
            for j in order:  # enough chunks to fill k distinct pages
                ranked.append(self.pages[j])
                if len(distinct_pages(ranked)) >= k:
                    break
            out[question.id] = distinct_pages(ranked)[:k]
        return out


def run_one(
    name: str, extractor: Extractor, root: Path, pages: list[str], questions: list[Question], args: argparse.Namespace
) -> tuple[Scores, dict[str, float]]:
    t = time.perf_counter()
    texts = extract_pages(root, pages, extractor)
    extract_s = time.perf_counter() - t
    t = time.perf_counter()
    index = DenseIndex.build(texts, args.model, args.chunk_size, args.chunk_overlap)
    embed_s = time.perf_counter() - t
    scores = score(index.search(questions), questions)
    chars = sum(len(v) for v in texts.values())
    info = {"chunks": len(index.pages), "chars": chars, "extract_s": extract_s, "embed_s": embed_s}
    print(f"{name}: {scores.describe()} ({len(index.pages)} chunks, {chars:,} characters)", flush=True)
    return scores, info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--corpus", default="postgres15")
    p.add_argument("--questions", default="postgres15", help="question set name or JSONL path")
    p.add_argument("--pages", type=int, default=200, help="pages to index (expected ones + a fixed sample); 0: all")
    p.add_argument("--extractors", default="visible,main", help="comma-separated: visible (old), main (trafilatura)")
    p.add_argument("--model", default="all-MiniLM-L6-v2")
    p.add_argument("--chunk-size", type=int, default=800)
    p.add_argument("--chunk-overlap", type=int, default=80)
    p.add_argument("--output", default=None, help="append the Markdown section to this file")
    args = p.parse_args(argv)

    questions = load_questions(args.questions)
    root = corpus_root(args.corpus)
    pages = corpus_pages(args.corpus, questions, limit=args.pages or None)
    chosen = [e.strip() for e in args.extractors.split(",") if e.strip()]
    available = extractors()
    load_before = os.getloadavg()
    results = {name: run_one(name, available[name], root, pages, questions, args) for name in chosen}
    load_after = os.getloadavg()

    cmd = "python -m tests.benchmarks retrieval " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        f"## Retrieval on real documents: HTML extractor before and after ({dt.date.today().isoformat()})",
        "",
        f"Command: `{cmd.strip()}`",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}; load average "
        f"{load_before[0]:.1f} at start, {load_after[0]:.1f} at end (shared machine: times are noisy, scores are not).",
        f"Corpus: {args.corpus} ({root}), {len(pages)} pages"
        + (" (every expected page + a fixed sample of the others)" if args.pages else " (all)")
        + f"; {len(questions)} questions ({args.questions}); model {args.model}; chunks {args.chunk_size}/"
        f"{args.chunk_overlap}; exact cosine search over all chunks, pages deduplicated in rank order.",
        "",
        "| extractor | hit@1 | hit@5 | hit@10 | MRR@10 | chunks | characters | extract s | embed s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, (s, info) in results.items():
        label = LABELS.get(name, name)
        lines.append(
            f"| {label} | {s.hit_at[1]:.3f} | {s.hit_at[5]:.3f} | {s.hit_at[10]:.3f} | {s.mrr:.3f} | "
            f"{info['chunks']:,} | {info['chars']:,} | {info['extract_s']:.1f} | {info['embed_s']:.1f} |"
        )
    if len(results) == 2:
        (a, (sa, _)), (b, (sb, _)) = results.items()
        better = [q for q in questions if (sb.ranks[q.id] or 99) < (sa.ranks[q.id] or 99)]
        worse = [q for q in questions if (sb.ranks[q.id] or 99) > (sa.ranks[q.id] or 99)]
        lines += [
            "",
            f"Per question, {b} vs {a}: first expected page ranked higher for {len(better)}, lower for {len(worse)}, "
            f"the same for {len(questions) - len(better) - len(worse)}"
            + (f" (lower: {', '.join(q.id for q in worse)})" if worse else "")
            + ".",
        ]
    lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.output:
        with open(args.output, "a", encoding="utf-8") as fh:
            fh.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
