import hashlib
import os
from pathlib import Path

import pytest

from lakehouse.errors import IngestError
from lakehouse.ingest import Document, Skipped, document_key, html_to_text, iter_documents, scan_documents

HTML = """<!DOCTYPE html><html><head><title> The  Page
Title </title><style>body { color: red }</style><script>var hidden = 1;</script></head>
<body><h1>Heading</h1><p>First   paragraph
continues here &amp; on.</p><script>alert("no")</script><p>Second<br>line</p>
<noscript>no js</noscript></body></html>"""


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "guide" / "deep").mkdir(parents=True)
    (root / "notes.txt").write_text("\n\n  First line of notes  \nmore text\n")
    (root / "guide" / "intro.md").write_text("Some preface\n\n# Introduction #\n\nBody text.\n## Sub\n")
    (root / "guide" / "deep" / "spec.rst").write_text(".. comment\n\n===========\nSpec Title\n===========\n\nBody.\n")
    (root / "guide" / "deep" / "other.rst").write_text("Overview\n--------\n\ntext\n")
    (root / "page.html").write_text(HTML)
    (root / "legacy.HTM").write_text("<p>no title here</p><p>second</p>")
    (root / "binary.txt").write_bytes(b"abc\x00def")
    (root / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (root / "empty.md").write_bytes(b"")
    (root / "blank.txt").write_text("   \n\t\n")
    (root / "ignored.py").write_text("print('not a document')")
    return root


def test_scan_reads_each_mime_and_skips_the_rest(tree: Path) -> None:
    result = scan_documents(tree)
    paths = [d.path for d in result.documents]
    assert paths == sorted(paths)
    assert paths == [
        "guide/deep/other.rst",
        "guide/deep/spec.rst",
        "guide/intro.md",
        "legacy.HTM",
        "notes.txt",
        "page.html",
    ]
    by_path = {d.path: d for d in result.documents}
    assert {d.path: d.mime for d in result.documents} == {
        "guide/deep/other.rst": "text/x-rst",
        "guide/deep/spec.rst": "text/x-rst",
        "guide/intro.md": "text/markdown",
        "legacy.HTM": "text/html",
        "notes.txt": "text/plain",
        "page.html": "text/html",
    }
    skipped = {s.path: s.reason for s in result.skipped}
    assert set(skipped) == {"binary.txt", "latin1.txt", "empty.md", "blank.txt"}
    assert "NUL" in skipped["binary.txt"]
    assert "UTF-8" in skipped["latin1.txt"]
    assert "empty" in skipped["empty.md"] and "empty" in skipped["blank.txt"]
    notes = by_path["notes.txt"]
    raw = (tree / "notes.txt").read_bytes()
    assert notes.bytes == len(raw)
    assert notes.content_sha256 == hashlib.sha256(raw).hexdigest()
    assert notes.text == raw.decode()
    assert notes.key == document_key("notes.txt") == hashlib.sha256(b"notes.txt").hexdigest()[:16]


def test_titles(tree: Path) -> None:
    titles = {d.path: d.title for d in scan_documents(tree).documents}
    assert titles == {
        "guide/deep/other.rst": "Overview",
        "guide/deep/spec.rst": "Spec Title",
        "guide/intro.md": "Introduction",
        "legacy.HTM": "no title here",
        "notes.txt": "First line of notes",
        "page.html": "The Page Title",
    }


def test_long_title_is_trimmed(tmp_path: Path) -> None:
    (tmp_path / "long.txt").write_text("word " * 100)
    (doc,) = scan_documents(tmp_path).documents
    assert len(doc.title) == 200


def test_html_visible_text(tree: Path) -> None:
    page = next(d for d in scan_documents(tree).documents if d.path == "page.html")
    assert page.text == "Heading\n\nFirst paragraph continues here & on.\n\nSecond\nline"
    for hidden in ("color", "hidden", "alert", "no js", "Page Title"):
        assert hidden not in page.text


def test_html_without_head_or_with_unclosed_head() -> None:
    text, title = html_to_text("<html><head><title>T</title><body><p>visible</p></body>")
    assert (text, title) == ("visible", "T")


def test_keys_are_stable_across_roots(tmp_path: Path, tree: Path) -> None:
    copy = tmp_path / "elsewhere"
    copy.mkdir()
    (copy / "notes.txt").write_bytes((tree / "notes.txt").read_bytes())
    a = next(d for d in scan_documents(tree).documents if d.path == "notes.txt")
    (b,) = scan_documents(copy).documents
    assert a.key == b.key and a.content_sha256 == b.content_sha256


def test_extensions_and_limit(tree: Path) -> None:
    only_md = scan_documents(tree, extensions=("md",))
    assert [d.path for d in only_md.documents] == ["guide/intro.md"]
    assert [s.path for s in only_md.skipped] == ["empty.md"]
    limited = scan_documents(tree, limit=2)
    assert [d.path for d in limited.documents] == ["guide/deep/other.rst", "guide/deep/spec.rst"]


def test_iter_documents_is_lazy_and_ordered(tree: Path) -> None:
    items = iter_documents(tree)
    first = next(items)
    assert isinstance(first, Skipped) and first.path == "binary.txt"
    rest = list(items)
    assert all(isinstance(i, (Document, Skipped)) for i in rest)
    assert len(rest) + 1 == 10


@pytest.mark.skipif(os.name == "posix" and os.geteuid() == 0, reason="root can read a chmod 000 file")
def test_unreadable_file_is_skipped(tree: Path) -> None:
    locked = tree / "locked.txt"
    locked.write_text("secret")
    locked.chmod(0)
    try:
        skipped = {s.path: s.reason for s in scan_documents(tree).skipped}
    finally:
        locked.chmod(0o644)
    assert "unreadable" in skipped["locked.txt"]


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="does not exist"):
        scan_documents(tmp_path / "nope")


def test_root_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(IngestError, match="not a folder"):
        scan_documents(tmp_path / "a.txt")


def test_no_matching_files(tmp_path: Path) -> None:
    (tmp_path / "code.py").write_text("x = 1")
    with pytest.raises(IngestError, match="no files with extensions"):
        scan_documents(tmp_path)


def test_an_ingest_that_would_delete_most_rows_is_refused(tmp_path: Path) -> None:
    from lakehouse.ingest.job import check_mass_delete

    kw = {"path": tmp_path, "table": "ns.documents"}
    with pytest.raises(IngestError, match="would delete every row") as err:
        check_mass_delete(3, 3, allow=False, **kw)  # an empty directory, a typo, another folder
    assert "--allow-delete-all" in (err.value.hint or "")
    with pytest.raises(IngestError, match="2 of the 3"):
        check_mass_delete(2, 3, allow=False, **kw)
    check_mass_delete(1, 3, allow=False, **kw)  # a file deleted from the folder: fine
    check_mass_delete(1, 2, allow=False, **kw)
    check_mass_delete(0, 0, allow=False, **kw)
    check_mass_delete(3, 3, allow=True, **kw)
