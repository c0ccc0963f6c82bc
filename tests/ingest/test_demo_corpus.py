import json
import sys
from pathlib import Path

import pytest

from lakehouse.errors import IngestError
from lakehouse.ingest import build_pydoc_corpus, scan_documents, stdlib_modules
from lakehouse.ingest.demo import MANIFEST


def test_small_corpus_has_real_pydoc_text_and_html(tmp_path: Path) -> None:
    dest = tmp_path / "corpus"
    info = build_pydoc_corpus(dest, limit=12)
    assert not info.cached
    assert info.modules == stdlib_modules()[:12] == sorted(info.modules)
    assert len(info.modules) == 12
    txt = sorted(p.name for p in dest.glob("*.txt"))
    html = sorted(p.name for p in dest.glob("*.html"))
    assert txt == [f"{m}.txt" for m in info.modules]
    assert html == [f"{m}.html" for m in info.modules[::3]]  # every 3rd module also as HTML
    assert info.files == sorted(txt + html)
    assert info.total_bytes == sum((dest / f).stat().st_size for f in info.files) > 0

    argparse_doc = (dest / "argparse.txt").read_text()
    assert "ArgumentParser" in argparse_doc and "add_argument" in argparse_doc
    page = (dest / html[0]).read_text()
    assert page.lstrip().lower().startswith("<!doctype html>") and "<title>" in page

    docs = scan_documents(dest).documents
    assert {d.mime for d in docs} == {"text/plain", "text/html"}
    first_html = next(d for d in docs if d.mime == "text/html")
    assert first_html.title.startswith("Python: ") and "<html" not in first_html.text and "<td" not in first_html.text


def test_second_call_is_a_no_op(tmp_path: Path) -> None:
    dest = tmp_path / "corpus"
    first = build_pydoc_corpus(dest, modules=["json", "base64"], html_every=2)
    mtimes = {p.name: p.stat().st_mtime_ns for p in dest.iterdir()}
    again = build_pydoc_corpus(dest, modules=["base64", "json"], html_every=2)
    assert again.cached and not first.cached
    assert again.files == first.files == ["base64.html", "base64.txt", "json.txt"]
    assert {p.name: p.stat().st_mtime_ns for p in dest.iterdir()} == mtimes
    assert "dumps" in (dest / "json.txt").read_text()
    manifest = json.loads((dest / MANIFEST).read_text())
    assert manifest["key"]["python"].endswith(".".join(map(str, sys.version_info[:3])))


def test_changed_request_or_missing_file_rebuilds(tmp_path: Path) -> None:
    dest = tmp_path / "corpus"
    build_pydoc_corpus(dest, modules=["json"], html_every=0)
    assert not build_pydoc_corpus(dest, modules=["json"], html_every=1).cached  # different request
    (dest / "json.html").unlink()
    rebuilt = build_pydoc_corpus(dest, modules=["json"], html_every=1)
    assert not rebuilt.cached and (dest / "json.html").is_file()


def test_failing_imports_are_skipped_not_fatal(tmp_path: Path) -> None:
    info = build_pydoc_corpus(tmp_path, modules=["json", "no_such_module_xyz"], html_every=0)
    assert info.modules == ["json"]
    assert "no_such_module_xyz" in info.skipped
    assert "ModuleNotFoundError" in info.skipped["no_such_module_xyz"]


def test_per_module_timeout_cuts_off_a_slow_render(tmp_path: Path) -> None:
    # no subprocess can start, import and render in 1 ms: every module hits the timeout path
    with pytest.raises(IngestError, match="could not document any module") as info:
        build_pydoc_corpus(tmp_path, modules=["json"], timeout=0.001)
    assert "timed out" in str(info.value)
    assert not (tmp_path / MANIFEST).exists()
