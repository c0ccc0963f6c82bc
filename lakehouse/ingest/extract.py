"""Text and title extraction for the formats the scanner reads (stdlib only)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

TITLE_MAX = 200

# Content of these elements is never shown to a reader.
_HIDDEN = frozenset({"script", "style", "noscript", "template", "head", "svg", "iframe", "object"})
# Elements that start a new line of visible text.
_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "details", "dialog", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot",
        "th", "thead", "tr", "ul",
    }
)  # fmt: skip
_SPACES = re.compile(r"[^\S\n]+")  # whitespace other than newlines (includes \xa0)
_BLANK_RUNS = re.compile(r"\n{3,}")
_RST_ADORNMENT = re.compile(r"""^([=\-~^"'`#*+:.])\1+\s*$""")


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self._hidden: list[str] = []
        self._in_title = False
        self._pre = 0  # inside <pre>, source line breaks are visible

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag == "body" and "head" in self._hidden:
            self._hidden = [t for t in self._hidden if t != "head"]  # an unclosed <head>
        if tag == "pre":
            self._pre += 1
        if tag in _HIDDEN:
            self._hidden.append(tag)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self.parts.append("\n")  # <br/>, <hr/>: never opens a hidden element

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "pre" and self._pre:
            self._pre -= 1
        if tag in _HIDDEN and tag in self._hidden:
            while self._hidden and self._hidden.pop() != tag:
                pass
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        elif not self._hidden:
            # Outside <pre> a source line break is just a space; <br> and block elements make the lines.
            self.parts.append(data if self._pre else data.replace("\r", " ").replace("\n", " "))


def normalize_whitespace(text: str) -> str:
    """Collapse runs of spaces/tabs, strip every line, keep at most one blank line between paragraphs."""
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> tuple[str, str | None]:
    """Visible text of an HTML page (scripts, styles and <head> dropped) and its ``<title>``, if any.

    >>> html_to_text("<html><head><title>T</title><style>p{}</style></head><body><p>a&amp;b</p><p>c</p></body>")
    ('a&b\\n\\nc', 'T')
    """
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    title = normalize_whitespace("".join(parser.title_parts)).replace("\n", " ") or None
    return normalize_whitespace("".join(parser.parts)), title


def _first_line(text: str) -> str | None:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return None


def _markdown_title(text: str) -> str | None:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip().rstrip("#").strip() or None
    return None


def _rst_title(text: str) -> str | None:
    lines = text.splitlines()
    for i in range(len(lines) - 1):
        line, under = lines[i].strip(), lines[i + 1].strip()
        if line and not _RST_ADORNMENT.match(line) and _RST_ADORNMENT.match(under) and len(under) >= len(line):
            return line
    return None


def extract_title(text: str, mime: str, html_title: str | None = None) -> str:
    """The document title: html ``<title>``, md ``# `` heading, rst underlined title, else the first line."""
    title: str | None = None
    if mime in ("text/html", "application/pdf"):
        title = html_title  # the format's own title: <title>, a PDF's /Title
    elif mime == "text/markdown":
        title = _markdown_title(text)
    elif mime == "text/x-rst":
        title = _rst_title(text)
    title = title or _first_line(text) or ""
    return " ".join(title.split())[:TITLE_MAX]
