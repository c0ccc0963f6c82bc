"""The main text of an HTML page, without navigation, headers, footers and other boilerplate (trafilatura).

A manual page's visible text carries the site around it: "Prev Up ... Home Next", the neighbouring pages' titles,
footers. Every chunk of the page then holds some of it, and searches match the navigation rather than the content.
trafilatura finds the main content block; its XML output keeps the block structure, which is turned here into plain
text with one blank line between blocks (paragraphs, list items, table rows, code), so the chunker cuts at them.
Whitespace inside a paragraph is collapsed (source line breaks are not the author's); code keeps its lines.
The page ``<title>`` opens the text when the main content does not already start with it (headings are content, and
trafilatura drops the page's first heading). When trafilatura finds no main content (a page of a few words, a
frameset), or falls back to its baseline (everything in one paragraph: a bare page with no content container, where
there is no boilerplate to drop), the page's visible text is used instead
(:func:`~lakehouse.ingest.extract.html_to_text`).
trafilatura runs in its fast mode (no readability/jusText second opinions): on manual pages (PostgreSQL, pydoc) it
kept the same text, and the second opinions only log warnings on short pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from lakehouse.ingest.extract import html_to_text, normalize_whitespace

if TYPE_CHECKING:
    from lxml.etree import _Element

# favor_recall: pages of reference material (pydoc, API tables) lose half their text to the precision default
_OPTIONS: dict[str, Any] = {  # trafilatura.extract's keyword arguments
    "output_format": "xml",
    "favor_recall": True,
    "include_tables": True,
    "include_comments": False,
    "include_links": False,
    "include_images": False,
    "include_formatting": False,
    "deduplicate": False,
    "with_metadata": False,
    "fast": True,
}
_CODE = frozenset({"code", "pre"})


def _flat(text: str) -> str:
    return " ".join(text.split())


def _text(el: _Element) -> str:
    return "".join(el.itertext())


def _blocks(main: _Element) -> Iterator[str]:
    """The text blocks of trafilatura's ``<main>``, in order: loose text counts as a block too."""
    if main.text and main.text.strip():
        yield _flat(main.text)
    for el in main:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in _CODE and "\n" in _text(el).strip("\n"):
            yield "\n".join(line.rstrip() for line in _text(el).strip("\n").splitlines())
        elif tag == "list":
            items = [_flat(_text(item)) for item in el.iter("item")]
            yield "\n".join(f"- {item}" for item in items if item)
        elif tag == "table":
            rows = [" | ".join(_flat(_text(cell)) for cell in row.iter("cell")) for row in el.iter("row")]
            yield "\n".join(row for row in rows if row.strip(" |"))
        else:
            yield _flat(_text(el))
        if el.tail and el.tail.strip():
            yield _flat(el.tail)


def html_main_text(html: str) -> tuple[str, str | None]:
    """The main text of an HTML page (navigation and boilerplate dropped) and its ``<title>``.

    >>> page = ("<html><head><title>Partial Indexes</title></head><body><div class=nav>Prev Up Home Next</div>"
    ...         "<div class=body><h1>Partial Indexes</h1>" + "<p>A partial index covers some rows only.</p>" * 20
    ...         + "</div><div class=footer>Prev Up Home Next</div></body></html>")
    >>> text, title = html_main_text(page)
    >>> title, text.splitlines()[0], "Next" in text
    ('Partial Indexes', 'Partial Indexes', False)
    """
    import trafilatura
    from lxml import etree

    visible, title = html_to_text(html)
    xml = trafilatura.extract(html, **_OPTIONS) if html.strip() else None
    main = etree.fromstring(xml.encode("utf-8")).find("main") if xml else None
    if main is None or (len(main) == 1 and not (main.text or "").strip() and "\n\n" in visible):
        return visible, title
    text = "\n\n".join(block for block in _blocks(main) if block.strip())
    if not text.strip():
        return visible, title
    if title and not _flat(text[: len(title) * 2]).startswith(_flat(title)):
        text = f"{title}\n\n{text}"
    return normalize_whitespace(text), title
