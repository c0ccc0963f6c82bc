"""pyiceberg's REST catalog on the project's catalog service, authenticated through
:func:`lakehouse.catalog_client.connection.connect_catalog` (which says where the service is and starts the embedded
one on demand). A catalog service that stops answering becomes :class:`~lakehouse.errors.CatalogUnavailableError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse.catalog_client.connection import connect_catalog, unreachable
from lakehouse.config import Settings, load_settings

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

__all__ = ["load_catalog"]

_EMBEDDED = "lakehouse.embedded"  # a pyiceberg catalog property of ours: which hint an unreachable service gets


def load_catalog(settings: Settings | None = None, *, uri: str | None = None, read_only: bool = False) -> Catalog:
    """A pyiceberg ``RestCatalog`` on the project's catalog (the same one Spark and DuckDB use), authenticated.

    A catalog service that does not answer raises :class:`~lakehouse.errors.CatalogUnavailableError` (saying what
    to run), not a ``requests`` connection error, on this call and on every later one.
    """
    settings = settings or load_settings()
    conn = connect_catalog(settings, read_only=read_only)
    props = {"uri": uri or conn.uri, "warehouse": settings.warehouse, _EMBEDDED: str(conn.embedded).lower()}
    if settings.catalog.metadata_max_age_s:  # opt-in reuse of table metadata (lakehouse.table.loads)
        props["lakehouse.metadata-max-age-s"] = str(settings.catalog.metadata_max_age_s)
    if conn.state_dir is not None and uri is None:  # our own embedded service: its change counter says what moved
        from lakehouse.catalog_client.changes import CHANGES_FILE
        from lakehouse.table.loads import CHANGES_PROPERTY

        props[CHANGES_PROPERTY] = str(Path(conn.state_dir) / CHANGES_FILE)
    return _rest_catalog_class()(settings.catalog.name, **props, **conn.properties())


_CLASS: list[type] = []


def _rest_catalog_class() -> type:
    """pyiceberg's RestCatalog, whose HTTP session turns connection failures into CatalogUnavailableError."""
    if _CLASS:
        return _CLASS[0]
    import requests
    from pyiceberg.catalog.rest import RestCatalog
    from requests.adapters import HTTPAdapter

    class _Adapter(HTTPAdapter):
        def __init__(self, uri: str, embedded: bool) -> None:
            super().__init__()
            self.uri, self.embedded = uri, embedded

        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - requests' own signature
            try:
                return super().send(request, *args, **kwargs)
            except requests.ConnectionError as exc:
                raise unreachable(self.uri, exc, embedded=self.embedded) from None

    from lakehouse.table.loads import ConditionalLoads

    class LakehouseRestCatalog(ConditionalLoads, RestCatalog):  # load_table revalidates with If-None-Match
        def _create_session(self) -> requests.Session:
            embedded = self.properties.get(_EMBEDDED) == "true"
            try:
                session = super()._create_session()  # fetches a token when a credential is set
            except requests.ConnectionError as exc:
                raise unreachable(self.uri, exc, embedded=embedded) from None
            adapter = _Adapter(self.uri, embedded)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            return session

    _CLASS.append(LakehouseRestCatalog)
    return LakehouseRestCatalog
