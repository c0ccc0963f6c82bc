"""Scan a folder tree for text documents.

Unreadable, binary (NUL bytes in the first 8 KiB, or not valid UTF-8) and empty files are reported in
``skipped`` with a reason; they never raise. Only a missing root or a tree with no matching files raises.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lakehouse.errors import IngestError
from lakehouse.ingest.extract import extract_title, html_to_text

DEFAULT_EXTENSIONS = (".txt", ".md", ".rst", ".html", ".htm")
MIME_TYPES = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".rst": "text/x-rst",
    ".html": "text/html",
    ".htm": "text/html",
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


def read_document(rel: str, full: Path) -> Document | Skipped:
    """Read one file into a :class:`Document`, or say why it is skipped (unreadable, binary, not UTF-8, empty)."""
    try:
        raw = full.read_bytes()
    except OSError as exc:
        return Skipped(rel, f"unreadable: {exc.strerror or exc}")
    if not raw:
        return Skipped(rel, "empty file")
    if b"\x00" in raw[:BINARY_SNIFF_BYTES]:
        return Skipped(rel, "binary: NUL byte in the first 8 KiB")
    try:
        decoded = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Skipped(rel, f"binary or not UTF-8: invalid byte at offset {exc.start}")
    mime = MIME_TYPES.get(full.suffix.lower(), "text/plain")
    html_title = None
    text = decoded
    if mime == "text/html":
        text, html_title = html_to_text(decoded)
    if not text.strip():
        return Skipped(rel, "empty: no visible text" if mime == "text/html" else "empty: whitespace only")
    return Document(
        key=document_key(rel),
        path=rel,
        title=extract_title(text, mime, html_title),
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
) -> Iterator[Document | Skipped]:
    """Yield a :class:`Document` or :class:`Skipped` per matching file, in path order, reading lazily.

    ``limit`` stops after that many documents (skipped files do not count). Only file names are listed up
    front, so memory stays small for big trees.
    """
    if limit is not None and limit < 0:
        raise IngestError(f"limit must be >= 0, got {limit}")
    found, walk_errors = list_files(root, extensions=extensions)
    yield from walk_errors
    documents = 0
    for rel, full in found:
        if limit is not None and documents >= limit:
            return
        item = read_document(rel, full)
        documents += isinstance(item, Document)
        yield item


def scan_documents(
    root: str | os.PathLike[str],
    *,
    extensions: Sequence[str] = DEFAULT_EXTENSIONS,
    limit: int | None = None,
) -> ScanResult:
    """Read every matching file under ``root`` (recursively, sorted by relative path).

    >>> result = scan_documents("docs")                     # doctest: +SKIP
    >>> [(d.path, d.mime, d.title) for d in result.documents][:1]  # doctest: +SKIP
    [('guide/intro.md', 'text/markdown', 'Introduction')]
    """
    result = ScanResult()
    for item in iter_documents(root, extensions=extensions, limit=limit):
        (result.documents if isinstance(item, Document) else result.skipped).append(item)  # type: ignore[arg-type]
    return result
