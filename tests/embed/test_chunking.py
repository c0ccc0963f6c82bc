import random

import pytest

from lakehouse.embed import Chunk, ChunkingError, chunk_text
from lakehouse.errors import LakehouseError


def assert_invariants(text: str, chunks: list[Chunk], chunk_size: int, overlap: int) -> None:
    assert chunks, "non-blank text gives at least one chunk"
    assert chunks[0].start == 0
    assert chunks[-1].end == len(text)
    for i, c in enumerate(chunks):
        assert c.index == i
        assert text[c.start : c.end] == c.text
        assert 0 < c.end - c.start <= chunk_size
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert prev.start < nxt.start, "progress"
        assert nxt.start <= prev.end, "no gap: every character is covered"
        assert prev.end - nxt.start <= overlap, "overlap bound"


def random_text(seed: int, n: int) -> str:
    rng = random.Random(seed)
    pieces = ["word", "lakehouse", "a", "vector", "\n", "\n\n", " ", "  ", "\t", "x" * 40, "é", "日本"]
    out: list[str] = []
    size = 0
    while size < n:
        piece = rng.choice(pieces) + " "
        out.append(piece)
        size += len(piece)
    return "".join(out)[:n]


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize(("chunk_size", "overlap"), [(1000, 100), (50, 10), (7, 3), (1, 0), (100, 99), (64, 0)])
def test_invariants_on_random_text(seed: int, chunk_size: int, overlap: int) -> None:
    text = random_text(seed, 3000)
    assert_invariants(text, chunk_text(text, chunk_size, overlap), chunk_size, overlap)


def test_text_without_any_whitespace_is_cut_at_chunk_size() -> None:
    text = "x" * 2500
    chunks = chunk_text(text, chunk_size=1000, overlap=100)
    assert [(c.start, c.end) for c in chunks] == [(0, 1000), (900, 1900), (1800, 2500)]
    assert_invariants(text, chunks, 1000, 100)


def test_prefers_paragraph_break_over_line_break_over_space() -> None:
    body = "alpha beta gamma " * 5  # 85 chars of words
    para = body[:82] + "\n\n" + "tail " * 10
    line = body[:82] + "\n" + "tail " * 10
    space = body + "tail " * 10
    assert chunk_text(para, chunk_size=100, overlap=0)[0].text.endswith("\n\n")
    first = chunk_text(line, chunk_size=100, overlap=0)[0]
    assert first.text.endswith("\n") and first.end == 83
    assert chunk_text(space, chunk_size=100, overlap=0)[0].text.endswith(" ")


def test_paragraph_break_wins_even_if_a_line_break_is_later() -> None:
    text = "a" * 85 + "\n\n" + "b" * 5 + "\n" + "c" * 50
    first = chunk_text(text, chunk_size=100, overlap=0)[0]
    assert first.end == 87


def test_boundary_outside_the_last_fifth_is_ignored() -> None:
    text = "short\n\n" + "y" * 300  # the only break is at the very start of the window
    first = chunk_text(text, chunk_size=100, overlap=10)[0]
    assert first.end == 100


def test_next_chunk_starts_at_a_word_when_possible() -> None:
    text = " ".join(f"w{i:03d}" for i in range(400))
    chunks = chunk_text(text, chunk_size=100, overlap=20)
    assert_invariants(text, chunks, 100, 20)
    for c in chunks:
        assert c.text[0] == "w"
    assert all(prev.end > nxt.start for prev, nxt in zip(chunks, chunks[1:], strict=False)), "keeps some overlap"


def test_short_text_is_one_chunk() -> None:
    assert chunk_text("hello", chunk_size=1000, overlap=100) == [Chunk(0, 0, 5, "hello")]


@pytest.mark.parametrize("text", ["", " ", "\n\n\t  \n"])
def test_blank_text_gives_no_chunks(text: str) -> None:
    assert chunk_text(text) == []


def test_exact_multiple_of_chunk_size() -> None:
    text = "z" * 2000
    chunks = chunk_text(text, chunk_size=1000, overlap=0)
    assert [(c.start, c.end) for c in chunks] == [(0, 1000), (1000, 2000)]


@pytest.mark.parametrize(
    ("chunk_size", "overlap", "needle"),
    [(0, 0, "chunk_size"), (-5, 0, "chunk_size"), (10, -1, "overlap"), (10, 10, "smaller"), (10, 11, "smaller"),
     (1.5, 0, "chunk_size"), (True, 0, "chunk_size")],
)  # fmt: skip
def test_argument_errors(chunk_size: int, overlap: int, needle: str) -> None:
    with pytest.raises(ChunkingError, match=needle) as info:
        chunk_text("some text", chunk_size=chunk_size, overlap=overlap)
    assert isinstance(info.value, LakehouseError) and isinstance(info.value, ValueError)


def test_non_string_text_is_refused() -> None:
    with pytest.raises(ChunkingError):
        chunk_text(b"bytes")  # type: ignore[arg-type]


def test_is_fast_and_linear_on_a_large_text() -> None:
    import time

    text = random_text(1, 2_000_000)
    started = time.perf_counter()
    chunks = chunk_text(text, chunk_size=1000, overlap=100)
    elapsed = time.perf_counter() - started
    assert len(chunks) > 2000
    assert elapsed < 2.0, f"2 MB took {elapsed:.2f} s"
