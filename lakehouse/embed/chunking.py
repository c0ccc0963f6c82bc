"""Split text into overlapping character windows that prefer natural boundaries.

Each window is at most ``chunk_size`` characters. A window that does not reach the end of the text is cut at the
last paragraph break (blank line) in its final ~20%, else the last line break there, else the last whitespace
there, else exactly at ``chunk_size``. The next window starts at most ``overlap`` characters before the cut,
moved forward to the first word start in the overlap, so chunks rarely start mid-word.

Invariants: ``text[c.start:c.end] == c.text``; consecutive chunks overlap by at most ``overlap`` characters and
never leave a gap (every character is in some chunk); starts strictly increase. Runs in linear time.
"""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.errors import LakehouseError

__all__ = ["Chunk", "chunk_text"]

BOUNDARY_WINDOW = 0.2  # look for a cut in the last 20% of a window


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    start: int
    end: int  # exclusive
    text: str


class ChunkingError(LakehouseError, ValueError):
    """Invalid chunking arguments (also a ValueError, as argument errors usually are)."""


def _validate(chunk_size: int, overlap: int) -> None:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ChunkingError(f"chunk_size must be a positive integer, got {chunk_size!r}", hint="e.g. chunk_size=1000")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0:
        raise ChunkingError(f"overlap must be an integer >= 0, got {overlap!r}", hint="e.g. overlap=100")
    if overlap >= chunk_size:
        raise ChunkingError(
            f"overlap ({overlap}) must be smaller than chunk_size ({chunk_size})",
            hint="a typical overlap is 10% of chunk_size",
        )


def _cut(text: str, start: int, limit: int, chunk_size: int) -> int:
    """Where to end the window [start, limit) when the text goes on past ``limit``."""
    lo = max(start + 1, limit - max(1, int(chunk_size * BOUNDARY_WINDOW)))
    para = text.rfind("\n\n", lo, limit)
    if para != -1:
        return para + 2
    line = text.rfind("\n", lo, limit)
    if line != -1:
        return line + 1
    for i in range(limit - 1, lo - 1, -1):
        if text[i].isspace():
            return i + 1
    return limit


def _next_start(text: str, start: int, end: int, overlap: int) -> int:
    # The first word start in [end - overlap, end]; ``end`` itself (no overlap) when the overlap holds no word
    # start but the cut fell on whitespace; else mid-word at end - overlap. Never past ``end``: no gap.
    candidate = max(start + 1, end - overlap)
    for j in range(candidate, end + 1):
        if text[j - 1].isspace() and not text[j].isspace():
            return j
    return candidate


def chunk_text(text: str, chunk_size: int = 1000, overlap: int = 100) -> list[Chunk]:
    r"""Split ``text`` into :class:`Chunk` windows of at most ``chunk_size`` characters.

    Empty or whitespace-only text gives ``[]``.

    >>> [c.text for c in chunk_text("First paragraph.\n\nSecond one, a bit longer.", chunk_size=20, overlap=5)]
    ['First paragraph.\n\n', 'Second one, a bit ', 'bit longer.']
    """
    _validate(chunk_size, overlap)
    if not isinstance(text, str):
        raise ChunkingError(f"text must be str, got {type(text).__name__}")
    if not text or text.isspace():
        return []
    n = len(text)
    chunks: list[Chunk] = []
    start = 0
    while True:
        limit = min(start + chunk_size, n)
        end = limit if limit == n else _cut(text, start, limit, chunk_size)
        chunks.append(Chunk(len(chunks), start, end, text[start:end]))
        if end >= n:
            return chunks
        start = _next_start(text, start, end, overlap)
