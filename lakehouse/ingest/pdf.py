"""Text of a PDF file (pypdf): the pages' text in order, one blank line between pages.

The stored document text *is* this extracted text, so chunk spans (``chunk_start``/``chunk_end``) index into it and
``lineage trace`` re-reads exactly the span that was embedded. :func:`pdf_to_text` also returns where each page
starts in that text, for callers that want to map a span back to a page.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from lakehouse.ingest.extract import normalize_whitespace

PAGE_BREAK = "\n\n"


@dataclass(frozen=True)
class PdfText:
    text: str
    title: str | None  # the document information's /Title, when it has one
    page_starts: tuple[int, ...]  # character offset in ``text`` where each page's text begins
    pages: int


class PdfUnreadable(Exception):
    """The bytes are not a PDF pypdf can read (corrupt, encrypted without a password)."""


def pdf_to_text(raw: bytes) -> PdfText:
    """Extract the text of every page of a PDF.

    >>> pdf_to_text(open("report.pdf", "rb").read()).text[:40]   # doctest: +SKIP
    'Quarterly report\\n\\nRevenue grew by 4% ...'
    """
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):
            raise PdfUnreadable("encrypted (a password is needed)")
        page_texts = [normalize_whitespace(page.extract_text() or "") for page in reader.pages]
        meta = reader.metadata
        title = (meta.title or None) if meta is not None else None
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise PdfUnreadable(f"{type(exc).__name__}: {exc}") from exc
    parts: list[str] = []
    starts: list[int] = []
    offset = 0
    for page_text in page_texts:
        if parts:
            offset += len(PAGE_BREAK)
        starts.append(offset)
        parts.append(page_text)
        offset += len(page_text)
    text = PAGE_BREAK.join(parts)
    return PdfText(text, title.strip() if isinstance(title, str) and title.strip() else None, tuple(starts), len(parts))
