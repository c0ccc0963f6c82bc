"""Reading documents from files, and a built-in demo corpus.

>>> from lakehouse.ingest import scan_documents, build_pydoc_corpus
>>> info = build_pydoc_corpus("/tmp/stdlib-docs", limit=20)   # doctest: +SKIP
>>> len(scan_documents(info.dest).documents)                  # doctest: +SKIP
27
"""

from lakehouse.ingest.demo import CorpusInfo, build_pydoc_corpus, stdlib_modules
from lakehouse.ingest.extract import html_to_text
from lakehouse.ingest.files import (
    Document,
    ScanResult,
    Skipped,
    document_key,
    iter_documents,
    list_files,
    read_document,
    scan_documents,
)

__all__ = [
    "CorpusInfo",
    "Document",
    "ScanResult",
    "Skipped",
    "build_pydoc_corpus",
    "document_key",
    "html_to_text",
    "iter_documents",
    "list_files",
    "read_document",
    "scan_documents",
    "stdlib_modules",
]
