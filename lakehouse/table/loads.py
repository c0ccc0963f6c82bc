"""Conditional table loads on the client: the REST catalog answers ``304 Not Modified`` while a table is unchanged.

pyiceberg's ``RestCatalog.load_table`` (0.12) fetches and parses the table's whole metadata on every call; a warm
process (``lakehouse serve``, a :class:`~lakehouse.sql.SqlSession`) loads the table it queries once a query, so that was
the largest part of the SQL path's overhead (figures: BENCHMARKS.md, design measurements, 'conditional table loads').
:class:`ConditionalLoads` keeps, per table, the last answer's ``ETag`` with its parsed metadata and sends the tag back
in ``If-None-Match`` (the Iceberg REST spec's loadTable header). The catalog service (:mod:`catalog.loads`) compares it
with the table's current metadata file, one database row, and answers 304 with no body while they agree; the kept
metadata then builds the table. Every load still asks the service, so an answer is never older than the catalog: a
snapshot another writer committed is seen by the next load.

On the embedded service of the client's own state folder, a load first reads the service's change counter
(:mod:`lakehouse.catalog_client.changes`): while it has not moved since the kept answer was confirmed, no write has
finished at the service in between, so the kept metadata is the table's current one and no request is sent. Every
commit still reaches the next load: the counter moves before the commit's answer leaves the service.

Only where a user asks for it, the setting ``catalog.metadata_max_age_s`` (the client's
``lakehouse.metadata-max-age-s`` property) lets a load reuse the kept metadata without asking, for that many seconds
after the service last confirmed it: a query may then miss a commit made less than that long ago. The default is 0
(always ask). A commit through the client forgets its kept answer for the table, so a writer's retry reloads it.

On a loopback catalog (the embedded service) the HTTP session does not consult the environment per request (proxy
variables, ``~/.netrc``): requests re-read them for every call, a measurable part of each load (figures: same
entry), and a proxy is never the way to 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from lakehouse.catalog_client.changes import read_changes
from lakehouse.errors import ConfigError

if TYPE_CHECKING:
    import requests
    from pyiceberg.io import FileIO
    from pyiceberg.table import Table
    from pyiceberg.table.metadata import TableMetadata
    from pyiceberg.typedef import Identifier

__all__ = ["CHANGES_PROPERTY", "MAX_AGE_PROPERTY", "ConditionalLoads"]

MAX_AGE_PROPERTY = "lakehouse.metadata-max-age-s"
CHANGES_PROPERTY = "lakehouse.changes-file"  # the embedded service's change counter (lakehouse.catalog_client.changes)
_KEPT = 256  # tables whose last answer a catalog client keeps


@dataclass
class _Kept:
    etag: str
    metadata_location: str
    metadata: TableMetadata  # frozen pydantic model: safe to share between Table objects
    io: FileIO
    config: dict[str, str]
    confirmed: float  # time.monotonic() of the last answer that confirmed it
    stamp: bytes | None = None  # the service's change counter read just before that answer was asked for


class ConditionalLoads:
    """A mixin for pyiceberg's ``RestCatalog``: ``load_table`` revalidates with ``If-None-Match``.

    ``loads`` counts this client's answers: ``full`` (200, metadata parsed), ``not_modified`` (304), ``reused``
    (within ``max_age_s``, no request) and ``unchanged`` (the embedded service's change counter has not moved since
    the kept answer was confirmed, no request).
    """

    properties: dict[str, str]
    _session: Any

    def _kept_loads(self) -> tuple[OrderedDict[tuple[Any, ...], _Kept], threading.Lock]:
        state = self.__dict__.get("_conditional")
        if state is None:
            state = self.__dict__.setdefault("_conditional", (OrderedDict(), threading.Lock()))
        return state

    @property
    def loads(self) -> dict[str, int]:
        return self.__dict__.setdefault("_load_counts", {"full": 0, "not_modified": 0, "reused": 0, "unchanged": 0})

    @property
    def max_age_s(self) -> float:
        value = self.properties.get(MAX_AGE_PROPERTY) or 0
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = -1.0
        if not 0 <= seconds < float("inf"):
            raise ConfigError(
                f"catalog.metadata_max_age_s must be a number of seconds >= 0, got {value!r}",
                hint="0 (the default) asks the catalog at every table load; e.g. 0.5 reuses a table's metadata for "
                "half a second after the catalog confirmed it",
            )
        return seconds

    def _create_session(self) -> requests.Session:
        session = super()._create_session()  # type: ignore[misc]
        if _loopback(str(self.properties.get("uri", ""))):
            session.trust_env = False
        return session

    def commit_table(self, table: Any, requirements: Any, updates: Any) -> Any:  # noqa: ANN401 - pyiceberg's own
        try:
            return super().commit_table(table, requirements, updates)  # type: ignore[misc]
        finally:  # committed or refused: the kept metadata is not the table's any more, or may not be
            ident = self.identifier_to_tuple(table.name())  # type: ignore[attr-defined]
            kept, lock = self._kept_loads()
            with lock:
                for key in [k for k in kept if k[0] == ident]:
                    kept.pop(key)

    def forget_loads(self) -> None:
        """Drop every kept answer (the next load of each table is a full one)."""
        kept, lock = self._kept_loads()
        with lock:
            kept.clear()

    def load_table(self, identifier: str | Identifier) -> Table:
        from pyiceberg.catalog.rest import SNAPSHOT_LOADING_MODE, Capability, Endpoints, TableResponse
        from pyiceberg.catalog.rest.response import _handle_non_200_response
        from pyiceberg.exceptions import NoSuchTableError
        from requests import HTTPError

        self._check_endpoint(Capability.V1_LOAD_TABLE)  # type: ignore[attr-defined]
        params = {}
        if mode := self.properties.get(SNAPSHOT_LOADING_MODE):
            if mode not in {"all", "refs"}:
                raise ValueError(f"Invalid snapshot-loading-mode: {mode}")
            params["snapshots"] = mode
        ident = self.identifier_to_tuple(identifier)  # type: ignore[attr-defined]
        key = (ident, params.get("snapshots"))
        kept, lock = self._kept_loads()
        with lock:
            last = kept.get(key)
        max_age = self.max_age_s  # checked on every load: a bad setting is named at the first one
        if last is not None and max_age > 0 and time.monotonic() - last.confirmed < max_age:
            self.loads["reused"] += 1
            return self._table_from(ident, last)
        changes = self.properties.get(CHANGES_PROPERTY)
        stamp = read_changes(changes) if changes else None  # read before asking: a commit after it moves it again
        if last is not None and stamp is not None and last.stamp == stamp:
            self.loads["unchanged"] += 1  # no write has finished at the service since it confirmed this answer
            return self._table_from(ident, last)
        url = self.url(Endpoints.load_table, prefixed=True, **self._split_identifier_for_path(identifier))  # type: ignore[attr-defined]
        headers = {"If-None-Match": last.etag} if last is not None else None
        asked = time.monotonic()
        response = self._session.get(url, params=params, headers=headers)
        if response.status_code == 304 and last is not None:
            last.confirmed, last.stamp = asked, stamp
            self.loads["not_modified"] += 1
            return self._table_from(ident, last)
        try:
            response.raise_for_status()
        except HTTPError as exc:
            with lock:
                kept.pop(key, None)
            _handle_non_200_response(exc, {404: NoSuchTableError})
        table = self._response_to_table(ident, TableResponse.model_validate_json(response.text))  # type: ignore[attr-defined]
        self.loads["full"] += 1
        etag = response.headers.get("ETag")
        with lock:
            if etag:
                kept[key] = _Kept(etag, table.metadata_location, table.metadata, table.io, table.config, asked, stamp)
                kept.move_to_end(key)
                while len(kept) > _KEPT:
                    kept.popitem(last=False)
            else:  # a service without ETags: nothing to revalidate with
                kept.pop(key, None)
        return table

    def _table_from(self, ident: Identifier, kept: _Kept) -> Table:
        from pyiceberg.table import Table

        return Table(
            identifier=ident,
            metadata_location=kept.metadata_location,
            metadata=kept.metadata,
            io=kept.io,
            catalog=self,  # type: ignore[arg-type]
            config=kept.config,
        )


def _loopback(uri: str) -> bool:
    host = urlparse(uri).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
