"""Document rows for Spark's ``mapInArrow``: (rel, full) path rows in, one document row (or a skip reason) out.

The ingest job runs :func:`read_documents` on the executors; it lives with the ingest code because it is ingest's
logic, and Spark plumbing (``lakehouse.spark``) knows nothing of documents.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

__all__ = ["INGEST_DDL", "INGEST_SCHEMA", "read_documents"]

INGEST_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("path", pa.string()),
        ("title", pa.string()),
        ("text", pa.string()),
        ("mime", pa.string()),
        ("bytes", pa.int64()),
        ("content_sha256", pa.string()),
        ("skip_reason", pa.string()),
    ]
)
INGEST_DDL = ", ".join(f"{f.name} {'bigint' if f.type == pa.int64() else 'string'}" for f in INGEST_SCHEMA)


def read_documents(batches: Iterator[pa.RecordBatch], *, max_bytes: int | None = None) -> Iterator[pa.RecordBatch]:
    """(rel, full) path rows -> document rows; files that cannot be ingested (unreadable, binary, empty, over
    ``max_bytes``) come back with ``skip_reason`` set."""
    from pathlib import Path

    from lakehouse.ingest.files import Document, read_document

    for batch in batches:
        rows: dict[str, list[object]] = {name: [] for name in INGEST_SCHEMA.names}
        for rel, full in zip(batch.column("rel").to_pylist(), batch.column("full").to_pylist(), strict=True):
            if full is None:  # a folder that could not be listed
                item = None
                reason: str | None = "unreadable folder"
            else:
                item = read_document(rel, Path(full), max_bytes=max_bytes)
                reason = None if isinstance(item, Document) else item.reason
            doc = item if isinstance(item, Document) else None
            rows["key"].append(doc.key if doc else None)
            rows["path"].append(rel)
            rows["title"].append(doc.title if doc else None)
            rows["text"].append(doc.text if doc else None)
            rows["mime"].append(doc.mime if doc else None)
            rows["bytes"].append(doc.bytes if doc else None)
            rows["content_sha256"].append(doc.content_sha256 if doc else None)
            rows["skip_reason"].append(reason)
        yield pa.RecordBatch.from_pydict(rows, schema=INGEST_SCHEMA)
