"""Retrieval question sets over real documents, and one scorer for every retriever (vector, BM25, hybrid).

A question set is a JSONL file under ``tests/benchmarks/questions/``: one object per line with ``id``,
``question`` and ``expected`` (the pages, as paths relative to the corpus root, any of which answers it).
A retriever answers each question with its ranked pages (or ranked chunks' pages: :func:`distinct_pages`
keeps the first occurrence of each); :func:`score` turns that into hit@k and MRR@k.

>>> from tests.benchmarks.questions import load_questions, corpus_pages, score
>>> questions = load_questions("postgres15")                       # doctest: +SKIP
>>> pages = corpus_pages("postgres15", questions, limit=200)       # doctest: +SKIP
>>> score({q.id: my_retriever(q.question) for q in questions}, questions).describe()   # doctest: +SKIP
'29 questions: hit@1 0.552, hit@5 0.828, hit@10 0.897, MRR@10 0.668'

Corpus ``postgres15``: the PostgreSQL 15 manual as HTML, from Debian's ``postgresql-doc-15`` package
(``apt-get install -y postgresql-doc-15``), 1,171 pages under ``/usr/share/doc/postgresql-doc-15/html``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

QUESTIONS_DIR = Path(__file__).parent / "questions"
CORPORA = {
    # name -> (default root, how to get it); LAKEHOUSE_BENCH_<NAME>_ROOT overrides the root
    "postgres15": (Path("/usr/share/doc/postgresql-doc-15/html"), "apt-get install -y postgresql-doc-15"),
}
KS = (1, 5, 10)


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    expected: tuple[str, ...]  # pages relative to the corpus root; any one of them answers the question


@dataclass(frozen=True)
class Scores:
    questions: int
    hit_at: dict[int, float]  # k -> share of questions with an expected page in the top k
    mrr: float  # mean reciprocal rank of the first expected page, 0 when it is not in the top max(ks)
    ranks: dict[str, int | None] = field(default_factory=dict)  # question id -> 1-based rank of the first hit

    def describe(self) -> str:
        hits = ", ".join(f"hit@{k} {v:.3f}" for k, v in sorted(self.hit_at.items()))
        return f"{self.questions} questions: {hits}, MRR@{max(self.hit_at)} {self.mrr:.3f}"

    def as_dict(self) -> dict[str, object]:
        return {
            "questions": self.questions,
            **{f"hit@{k}": round(v, 4) for k, v in sorted(self.hit_at.items())},
            f"mrr@{max(self.hit_at)}": round(self.mrr, 4),
        }


def load_questions(name_or_path: str | os.PathLike[str]) -> list[Question]:
    """The questions of a set by name (``postgres15``) or from a JSONL file path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = QUESTIONS_DIR / f"{name_or_path}.jsonl"
    questions = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        expected = tuple(row["expected"])
        if not expected:
            raise ValueError(f"{path}:{n}: question {row['id']!r} names no expected page")
        questions.append(Question(str(row["id"]), str(row["question"]), expected))
    if len({q.id for q in questions}) != len(questions):
        raise ValueError(f"{path}: duplicate question ids")
    return questions


def corpus_root(name: str) -> Path:
    """Where corpus ``name`` lies on this machine; a clear error saying how to install it when it is missing."""
    default, how = CORPORA[name]
    root = Path(os.environ.get(f"LAKEHOUSE_BENCH_{name.upper()}_ROOT", default))
    if not root.is_dir():
        raise FileNotFoundError(f"corpus {name!r} not found at {root}: {how}")
    return root


def corpus_pages(name: str, questions: Sequence[Question], *, limit: int | None = None) -> list[str]:
    """The corpus pages to index (relative paths, sorted): all of them, or ``limit`` pages made of every expected
    page plus a fixed pseudo-random sample of the others (the same sample on every machine and run)."""
    root = corpus_root(name)
    every = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.html"))
    missing = sorted({e for q in questions for e in q.expected} - set(every))
    if missing:
        raise FileNotFoundError(f"expected pages missing from {root}: {', '.join(missing)}")
    if limit is None or limit >= len(every):
        return every
    chosen = {e for q in questions for e in q.expected}
    others = sorted((p for p in every if p not in chosen), key=lambda p: hashlib.sha256(p.encode()).hexdigest())
    return sorted(chosen | set(others[: max(0, limit - len(chosen))]))


def distinct_pages(ranked: Iterable[str]) -> list[str]:
    """Ranked pages with repeats dropped (a ranked list of chunks gives its pages in first-seen order)."""
    seen: dict[str, None] = {}
    for page in ranked:
        seen.setdefault(page, None)
    return list(seen)


def first_hit_rank(ranked: Sequence[str], expected: Iterable[str]) -> int | None:
    """1-based rank of the first expected page in ``ranked`` (repeats removed first), or None."""
    wanted = set(expected)
    for rank, page in enumerate(distinct_pages(ranked), 1):
        if page in wanted:
            return rank
    return None


def score(results: Mapping[str, Sequence[str]], questions: Sequence[Question], *, ks: Sequence[int] = KS) -> Scores:
    """hit@k for each k and MRR@max(k) of ranked pages per question id; a question with no result scores 0."""
    cutoff = max(ks)
    ranks = {q.id: first_hit_rank(results.get(q.id, ()), q.expected) for q in questions}
    n = len(questions)
    hit_at = {k: sum(1 for r in ranks.values() if r is not None and r <= k) / n for k in ks}
    mrr = sum(1.0 / r for r in ranks.values() if r is not None and r <= cutoff) / n
    return Scores(n, hit_at, mrr, ranks)
