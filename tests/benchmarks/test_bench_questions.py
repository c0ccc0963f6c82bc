"""The retrieval question sets and their scorer (tests/benchmarks/questions.py): the set loads, every question names
pages, and hit@k / MRR are computed as defined."""

from __future__ import annotations

import pytest

from tests.benchmarks.questions import Question, distinct_pages, first_hit_rank, load_questions, score


def test_postgres_question_set_loads() -> None:
    questions = load_questions("postgres15")
    assert len(questions) >= 25
    assert all(q.expected and all(p.endswith(".html") for p in q.expected) for q in questions)
    assert len({q.question for q in questions}) == len(questions)


def test_scores_count_the_first_expected_page_after_repeats_are_dropped() -> None:
    qs = [Question("a", "?", ("x.html",)), Question("b", "?", ("y.html", "z.html")), Question("c", "?", ("w.html",))]
    ranked = {
        "a": ["x.html", "y.html"],  # rank 1
        "b": ["q.html", "q.html", "q.html", "z.html"],  # repeats of q count once: rank 2
        "c": ["q.html"],  # missed
    }
    assert distinct_pages(ranked["b"]) == ["q.html", "z.html"]
    assert first_hit_rank(ranked["b"], qs[1].expected) == 2
    s = score(ranked, qs, ks=(1, 5))
    assert s.hit_at == {1: pytest.approx(1 / 3), 5: pytest.approx(2 / 3)}
    assert s.mrr == pytest.approx((1 + 0.5 + 0) / 3)
    assert s.ranks == {"a": 1, "b": 2, "c": None}
    assert "hit@1 0.333" in s.describe()
