"""Conditional table loads (the REST spec's ``If-None-Match`` / ``304 Not Modified`` on loadTable).

A loadTable answer carries an ``ETag`` derived from the table's current metadata file (the service always answers
with every snapshot, whatever ``snapshots`` asks: a service that honoured ``refs`` would put the mode in the tag
too). A metadata file is never rewritten in place: every commit writes a new one and swaps the catalog row to
it, so the ETag changes exactly when the table does. A client that sends the ETag back in ``If-None-Match`` gets
``304`` with no body while the row still names the same file; the check reads one row of the catalog database and
no metadata file. A full answer for a metadata file already served is replayed from a small cache of serialized
bodies (the file is immutable), so neither path parses table metadata more than once per commit.

``counts`` says how many loads were answered in full and how many as not modified (``/healthz`` reports it): what a
client's cache saves is counted on the server, not timed.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from fastapi import Response
from fastapi.concurrency import run_in_threadpool
from pyiceberg.catalog.rest import TableResponse

if TYPE_CHECKING:
    from pyiceberg.typedef import Identifier

    from catalog.store import ServiceCatalog

__all__ = ["TableLoads", "etag_for", "etag_matches"]

_BODIES = 64  # serialized loadTable bodies kept, by metadata file


def etag_for(metadata_location: str) -> str:
    """The (strong) entity tag of a loadTable answer for ``metadata_location``."""
    digest = hashlib.sha256(metadata_location.encode()).hexdigest()[:32]
    return f'"{digest}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110's weak comparison of an ``If-None-Match`` header (a list of tags, or ``*``) with ``etag``."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


class TableLoads:
    """Answers loadTable for one service, conditionally, and counts how."""

    def __init__(self, catalog: ServiceCatalog) -> None:
        self.catalog = catalog
        self.counts = {"full": 0, "not_modified": 0}
        self._bodies: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._inline_check = catalog.engine.dialect.name == "sqlite"

    async def answer_async(self, identifier: Identifier, if_none_match: str | None) -> Response:
        """:meth:`answer` for an async route: the 304 check runs on the event loop where the catalog database is a
        local SQLite file (one indexed row costs a fraction of the hop to a worker thread and back: figures:
        BENCHMARKS.md, design measurements, 'catalog loadTable 304 path'); a full answer, and any check against a
        database server, runs in a worker thread."""
        if self._inline_check and if_none_match:
            location = self.catalog.metadata_location(identifier)
            etag = etag_for(location)
            if etag_matches(if_none_match, etag):
                self._count("not_modified")
                return Response(status_code=304, headers={"ETag": etag})
        return await run_in_threadpool(self.answer, identifier, if_none_match)

    def answer(self, identifier: Identifier, if_none_match: str | None) -> Response:
        location = self.catalog.metadata_location(identifier)  # 404 here for a missing table
        etag = etag_for(location)
        if etag_matches(if_none_match, etag):
            self._count("not_modified")
            return Response(status_code=304, headers={"ETag": etag})
        body = self._body(location)
        if body is None:
            table = self.catalog.load_table(identifier)  # may be newer than `location` by now: answer what it is
            location, etag = table.metadata_location, etag_for(table.metadata_location)
            model = TableResponse.model_validate({"metadata-location": location, "metadata": table.metadata})
            body = model.model_dump_json(by_alias=True, exclude_none=True).encode()
            self._keep(location, body)
        self._count("full")
        return Response(body, 200, media_type="application/json", headers={"ETag": etag})

    def snapshot_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def _count(self, how: str) -> None:
        with self._lock:
            self.counts[how] += 1

    def _body(self, location: str) -> bytes | None:
        with self._lock:
            body = self._bodies.get(location)
            if body is not None:
                self._bodies.move_to_end(location)
            return body

    def _keep(self, location: str, body: bytes) -> None:
        with self._lock:
            self._bodies[location] = body
            while len(self._bodies) > _BODIES:
                self._bodies.popitem(last=False)
