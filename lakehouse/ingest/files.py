"""Scan a folder tree for documents: text (.txt/.md/.rst), HTML (main text only) and PDF.

Unreadable, binary (NUL bytes in the first 8 KiB, or not valid UTF-8; PDFs excepted), empty and oversized files
(more than ``max_bytes``, 10 MB by default) are reported in ``skipped`` with a reason; they never raise. Only a
missing root or a tree with no matching files raises. HTML pages keep their main text, without navigation and
boilerplate (:mod:`lakehouse.ingest.maintext`); PDFs their pages' text (:mod:`lakehouse.ingest.pdf`). The stored
``text`` is what chunk spans index into.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lakehouse.errors import IngestError
from lakehouse.ingest.extract import extract_title

DEFAULT_EXTENSIONS = (".txt", ".md", ".rst", ".html", ".htm", ".pdf")
DEFAULT_MAX_BYTES = 10_000_000  # a document larger than this is skipped (--max-bytes; None: no limit)
MIME_TYPES = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".rst": "text/x-rst",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
}
BINARY_SNIFF_BYTES = 8192


@dataclass(frozen=True, slots=True)
class Document:
    key: str
    path: str  # relative to the scanned root, posix separators
    title: str
    text: str
    mime: str
    bytes: int
    content_sha256: str


@dataclass(frozen=True, slots=True)
class Skipped:
    path: str
    reason: str


@dataclass(slots=True)
class ScanResult:
    documents: list[Document] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def document_key(rel_path: str) -> str:
    """A stable key for a document: the first 16 hex chars of sha256(relative posix path).

    Why a hash rather than the path itself: a fixed-width, punctuation-free id is safe as a table key, a file
    name or a URL part in every engine, and it stays stable across machines because it hashes the path
    *relative* to the root. 64 bits make a collision negligible for any realistic corpus; the readable path is
    kept next to it in ``Document.path``. Content changes keep the key and change ``content_sha256``.
    """
    return hashlib.sha256(rel_path.encode("utf-8")).hexdigest()[:16]


def _candidates(root: Path, extensions: tuple[str, ...], skipped: list[Skipped]) -> list[tuple[str, Path]]:
    def on_error(exc: OSError) -> None:
        where = Path(exc.filename).relative_to(root).as_posix() if exc.filename else "."
        skipped.append(Skipped(where, f"unreadable folder: {exc.strerror or exc}"))

    found: list[tuple[str, Path]] = []
    for dirpath, _dirnames, filenames in os.walk(root, onerror=on_error):
        for name in filenames:
            if name.lower().endswith(extensions):
                full = Path(dirpath) / name
                found.append((full.relative_to(root).as_posix(), full))
    found.sort(key=lambda item: item[0])
    return found


def list_files(
    root: str | os.PathLike[str], *, extensions: Sequence[str] = DEFAULT_EXTENSIONS
) -> tuple[list[tuple[str, Path]], list[Skipped]]:
    """The matching files under ``root`` as (relative posix path, full path), sorted, plus unreadable folders.

    Only names are listed: the files themselves are read by :func:`read_document`, e.g. in Spark tasks.
    """
    base = Path(root).expanduser()
    if not base.exists():
        raise IngestError(f"document root {base} does not exist", hint="check the path", root=str(base))
    if not base.is_dir():
        raise IngestError(f"document root {base} is not a folder", hint="pass the folder holding the files")
    exts = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
    walk_errors: list[Skipped] = []
    found = _candidates(base, exts, walk_errors)
    if not found:
        raise IngestError(
            f"no files with extensions {', '.join(exts)} under {base}",
            hint="point at a folder with documents or pass extensions=...",
            root=str(base),
        )
    return found, walk_errors


def check_max_bytes(max_bytes: int | None) -> None:
    if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1):
        raise IngestError(
            f"the size limit per document must be a positive number of bytes, got {max_bytes!r}",
            hint="e.g. --max-bytes 50000000 for 50 MB; the default is 10 MB",
        )


def too_large(size: int, max_bytes: int) -> str:
    """The skip reason of a file over the size limit (one wording for the scanner and the ingest report)."""
    return f"too large: {size:,} bytes, over the {max_bytes:,}-byte limit per document (raise it with --max-bytes)"


def _extract(rel: str, raw: bytes, mime: str) -> tuple[str, str | None] | Skipped:
    """(text, title from the format's own metadata) of a file's bytes, or why it is skipped."""
    if mime == "application/pdf":
        from lakehouse.ingest.pdf import PdfUnreadable, pdf_to_text

        try:
            pdf = pdf_to_text(raw)
        except PdfUnreadable as exc:
            return Skipped(rel, f"unreadable PDF: {exc}")
        if not pdf.text.strip():
            return Skipped(rel, f"empty: no text in its {pdf.pages} page(s) (a scan needs OCR first)")
        return pdf.text, pdf.title
    if b"\x00" in raw[:BINARY_SNIFF_BYTES]:
        return Skipped(rel, "binary: NUL byte in the first 8 KiB")
    try:
        decoded = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Skipped(rel, f"binary or not UTF-8: invalid byte at offset {exc.start}")
    if mime == "text/html":
        from lakehouse.ingest.maintext import html_main_text

        text, title = html_main_text(decoded)
        return (text, title) if text.strip() else Skipped(rel, "empty: no visible text")
    return (decoded, None) if decoded.strip() else Skipped(rel, "empty: whitespace only")


def read_document(rel: str, full: Path, *, max_bytes: int | None = DEFAULT_MAX_BYTES) -> Document | Skipped:
    """Read one file into a :class:`Document`, or say why it is skipped (unreadable, over ``max_bytes``, binary,
    not UTF-8, empty)."""
    try:
        size = full.stat().st_size
        if max_bytes is not None and size > max_bytes:
            return Skipped(rel, too_large(size, max_bytes))  # never read into memory
        raw = full.read_bytes()
    except OSError as exc:
        return Skipped(rel, f"unreadable: {exc.strerror or exc}")
    if not raw:
        return Skipped(rel, "empty file")
    mime = MIME_TYPES.get(full.suffix.lower(), "text/plain")
    extracted = _extract(rel, raw, mime)
    if isinstance(extracted, Skipped):
        return extracted
    text, meta_title = extracted
    return Document(
        key=document_key(rel),
        path=rel,
        title=extract_title(text, mime, meta_title),
        text=text,
        mime=mime,
        bytes=len(raw),
        content_sha256=hashlib.sha256(raw).hexdigest(),
    )


def iter_documents(
    root: str | os.PathLike[str],
    *,
    extensions: Sequence[str] = DEFAULT_EXTENSIONS,
    limit: int | None = None,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> Iterator[Document | Skipped]:
    """Yield a :class:`Document` or :class:`Skipped` per matching file, in path order, reading lazily.

    ``limit`` stops after that many documents (skipped files do not count). Only file names are listed up
    front, so memory stays small for big trees.
    """
    if limit is not None and limit < 0:
        raise IngestError(f"limit must be >= 0, got {limit}")
    check_max_bytes(max_bytes)
    found, walk_errors = list_files(root, extensions=extensions)
    yield from walk_errors
    documents = 0
    for rel, full in found:
        if limit is not None and documents >= limit:
            return
        item = read_document(rel, full, max_bytes=max_bytes)
        documents += isinstance(item, Document)
        yield item


def scan_documents(
    root: str | os.PathLike[str],
    *,
    extensions: Sequence[str] = DEFAULT_EXTENSIONS,
    limit: int | None = None,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> ScanResult:
    """Read every matching file under ``root`` (recursively, sorted by relative path).

    >>> result = scan_documents("docs")                     # doctest: +SKIP
    >>> [(d.path, d.mime, d.title) for d in result.documents][:1]  # doctest: +SKIP
    [('guide/intro.md', 'text/markdown', 'Introduction')]
    """
    result = ScanResult()
    for item in iter_documents(root, extensions=extensions, limit=limit, max_bytes=max_bytes):
        if isinstance(item, Document):
            result.documents.append(item)
        else:
            result.skipped.append(item)
    return result
