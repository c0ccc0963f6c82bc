"""Ingest formats beyond plain text: HTML main text without navigation (trafilatura), PDF text (pypdf), and the
per-document size limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.embed.chunking import chunk_text
from lakehouse.errors import IngestError
from lakehouse.ingest import Document, Skipped, html_to_text, scan_documents
from lakehouse.ingest.files import DEFAULT_MAX_BYTES, read_document
from lakehouse.ingest.pdf import pdf_to_text

FIXTURES = Path(__file__).parent / "fixtures"
BOILERPLATE = ("Prev", "Next", "Home", "Up", "Storage Tiers", "Background Compaction", "Copyright", "Search the manual")


def _words(text: str) -> set[str]:
    return set(text.replace("\n", " ").split(" "))


def test_html_keeps_the_main_text_and_drops_navigation(tmp_path: Path) -> None:
    page = (FIXTURES / "manual_page.html").read_text(encoding="utf-8")
    (tmp_path / "retention.html").write_text(page, encoding="utf-8")
    (doc,) = scan_documents(tmp_path).documents
    assert doc.mime == "text/html" and doc.title == "7.3. Retention Policies"
    assert doc.text.startswith("7.3. Retention Policies\n\n")
    for content in ("A retention policy says how long", "7.3.2. Legal Holds", "RELEASE HOLD 'case-2291'"):
        assert content in doc.text
    for nav in BOILERPLATE:
        assert nav not in doc.text, f"{nav!r} is navigation, not content"
    assert doc.text.count("Retention Policies") == 1  # its heading once; not the sidebar, header or navigation
    # the old visible-text extractor kept all of it
    visible, _ = html_to_text(page)
    assert {"Prev", "Next", "Home"} <= _words(visible) and "Storage Tiers" in visible
    # paragraphs are blocks: chunks cut at them, and every span indexes the stored text
    assert "\n\n" in doc.text and "for good. Policies" in doc.text
    chunks = chunk_text(doc.text, chunk_size=300, overlap=30)
    assert len(chunks) > 3 and all(doc.text[c.start : c.end] == c.text for c in chunks)


def _pdf(pages: list[str], title: str) -> bytes:
    """A small valid PDF: one Helvetica text line per page, written by hand (offsets in the xref table)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids ["
        + b" ".join(f"{3 + 2 * i} 0 R".encode() for i in range(len(pages)))
        + f"] /Count {len(pages)} >>".encode(),
    ]
    font = 3 + 2 * len(pages)
    for i, text in enumerate(pages):
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 {font} 0 R >> >> "
            f"/Contents {4 + 2 * i} 0 R >>".encode()
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    objects.append(f"<< /Title ({title}) >>".encode())
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {len(objects)} 0 R >>\n".encode()
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_pdf_text_of_every_page_with_spans_into_it(tmp_path: Path) -> None:
    pages = ["Quarterly retention report for the storage team.", "Legal holds suspended two sweeps in March."]
    (tmp_path / "report.pdf").write_bytes(_pdf(pages, "Retention report"))
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\nnot really a pdf")
    result = scan_documents(tmp_path)
    (doc,) = result.documents
    assert (doc.mime, doc.title) == ("application/pdf", "Retention report")
    assert doc.text == "\n\n".join(pages)
    extracted = pdf_to_text((tmp_path / "report.pdf").read_bytes())
    assert extracted.pages == 2
    for start, page in zip(extracted.page_starts, pages, strict=True):
        assert doc.text[start : start + len(page)] == page
    (skipped,) = result.skipped
    assert skipped.path == "broken.pdf" and "PDF" in skipped.reason


def test_documents_over_the_size_limit_are_skipped_unread(tmp_path: Path) -> None:
    (tmp_path / "small.txt").write_text("a small note\n")
    (tmp_path / "dump.txt").write_text("x" * 5_000)
    with open(tmp_path / "huge.txt", "wb") as fh:  # sparse: 1 byte over the default limit, nothing to read
        fh.truncate(DEFAULT_MAX_BYTES + 1)
    result = scan_documents(tmp_path)
    assert [d.path for d in result.documents] == ["dump.txt", "small.txt"]
    (huge,) = result.skipped
    assert huge.path == "huge.txt" and "too large: 10,000,001 bytes" in huge.reason and "--max-bytes" in huge.reason

    tight = scan_documents(tmp_path, max_bytes=1_000)
    assert [d.path for d in tight.documents] == ["small.txt"]
    assert {s.path for s in tight.skipped} == {"dump.txt", "huge.txt"}
    assert isinstance(read_document("dump.txt", tmp_path / "dump.txt", max_bytes=None), Document)
    assert isinstance(read_document("dump.txt", tmp_path / "dump.txt", max_bytes=4_999), Skipped)
    for bad in (0, -5, True):
        with pytest.raises(IngestError, match="size limit"):
            scan_documents(tmp_path, max_bytes=bad)
