"""Reaching the Iceberg REST catalog: an external one from configuration, or the embedded service on demand.

:func:`connect_catalog` says where the catalog is and how to authenticate: the embedded service's own credential
(read from its 0600 secret file; the read-only ``analyst`` client with ``read_only=True``), or what the user
configured for an external catalog (``catalog.credential`` / ``catalog.token`` / ``catalog.oauth2_server_uri``).
pyiceberg (:func:`lakehouse.table.catalog.load_catalog`), Spark, DuckDB and the lineage transport all take their auth
settings from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lakehouse.config import Settings, load_settings
from lakehouse.errors import CatalogError, CatalogUnavailableError

__all__ = ["CatalogConnection", "catalog_connection", "connect_catalog", "ensure_catalog", "unreachable"]


@dataclass(frozen=True)
class CatalogConnection:
    """Where the REST catalog is and the credential (``client_id:secret``) or bearer token to call it with."""

    uri: str
    warehouse: str
    embedded: bool
    credential: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    oauth2_server_uri: str | None = None
    # the state folder of the embedded service this connection reaches (its change counter lives there), else None
    state_dir: str | None = None

    @property
    def token_endpoint(self) -> str:
        return self.oauth2_server_uri or f"{self.uri.rstrip('/')}/v1/oauth/tokens"

    @property
    def authenticated(self) -> bool:
        return bool(self.credential or self.token)

    def properties(self) -> dict[str, str]:
        """The auth properties pyiceberg's RestCatalog and Iceberg's Java RESTCatalog both take."""
        props: dict[str, str] = {}
        if self.credential:
            props["credential"] = self.credential
        if self.token:
            props["token"] = self.token
        if self.authenticated:
            # named explicitly: both clients warn that the implicit <uri>/v1/oauth/tokens default will go away
            props["oauth2-server-uri"] = self.token_endpoint
        return props

    def fetch_token(self) -> str:
        """A bearer token: the configured one, or one exchanged for the credential (client-credentials grant)."""
        if self.token:
            return self.token
        if not self.credential:
            raise CatalogError(f"No credential is configured for the catalog at {self.uri}", hint=_CONFIGURE)
        import requests

        client_id, _, secret = self.credential.rpartition(":")
        form = {"grant_type": "client_credentials", "client_id": client_id or None, "client_secret": secret}
        try:
            response = requests.post(self.token_endpoint, data=form, timeout=30)
        except requests.ConnectionError as exc:
            raise unreachable(self.uri, exc, embedded=self.embedded) from None
        if response.status_code != 200:
            raise CatalogError(
                f"The catalog at {self.uri} refused the credential ({response.status_code}: {response.text[:200]})",
                hint=_CONFIGURE,
                uri=self.uri,
            )
        return str(response.json()["access_token"])

    def headers(self) -> dict[str, str]:
        """``Authorization`` for a plain HTTP client (curl, httpx), empty without auth."""
        return {"Authorization": f"Bearer {self.fetch_token()}"} if self.authenticated else {}


_CONFIGURE = (
    "set catalog.credential (client_id:secret) or catalog.token for an external catalog; the embedded service's "
    "credentials are in <state>/catalog.secret"
)


def ensure_catalog(settings: Settings | None = None) -> str:
    """The REST catalog URI to use, starting the embedded service (or reusing a running one) when none is configured."""
    settings = settings or load_settings()
    if settings.catalog.uri:
        return settings.catalog.uri
    from lakehouse.catalog_client.process import ensure_running

    settings.state_dir.mkdir(parents=True, exist_ok=True)
    if settings.warehouse_path is not None:
        settings.warehouse_path.mkdir(parents=True, exist_ok=True)
    process = ensure_running(
        settings.state_dir,
        host=settings.catalog.host,
        port=settings.catalog.port,
        database_url=settings.catalog_database,
        warehouse=settings.warehouse,
        allow_external_locations=settings.catalog.allow_external_locations,
    )
    return process.uri


def connect_catalog(settings: Settings | None = None, *, read_only: bool = False) -> CatalogConnection:
    """The catalog to use and how to authenticate to it (starting the embedded service when needed).

    ``read_only`` picks the embedded service's read-only ``analyst`` client; configured credentials always win.

    Example:
        >>> conn = connect_catalog()  # doctest: +SKIP
        >>> httpx.get(f"{conn.uri}/v1/namespaces", headers=conn.headers())  # doctest: +SKIP
    """
    settings = settings or load_settings()
    return catalog_connection(settings, ensure_catalog(settings), read_only=read_only)


def catalog_connection(settings: Settings, uri: str, *, read_only: bool = False) -> CatalogConnection:
    """Like :func:`connect_catalog` for a known ``uri``, starting nothing: without a configured credential and
    without the embedded service's secret file (never started), the connection carries no auth."""
    from lakehouse.catalog_client.credentials import ANALYST, SECRET_FILE, WRITER
    from lakehouse.catalog_client.process import credential as service_credential
    from lakehouse.catalog_client.process import recorded_uri

    cfg = settings.catalog
    embedded = cfg.uri is None
    credential = cfg.credential
    # a catalog.uri naming the service this state folder runs (a benchmark's lake) is as good as the embedded one
    ours = embedded or recorded_uri(settings.state_dir) == (cfg.uri or "").rstrip("/")
    if ours and not (cfg.credential or cfg.token) and (settings.state_dir / SECRET_FILE).exists():
        credential = service_credential(settings.state_dir, ANALYST if read_only else WRITER)
    state = str(settings.state_dir) if ours else None
    return CatalogConnection(uri, settings.warehouse, embedded, credential, cfg.token, cfg.oauth2_server_uri, state)


# -- a dead service becomes a project error ----------------------------------------------------------------------
def unreachable(uri: str, exc: BaseException, *, embedded: bool) -> CatalogUnavailableError:
    match = re.search(r"\[Errno -?\d+\][^'\")]*", str(exc))
    reason = match.group(0).strip() if match else type(exc).__name__
    if embedded:
        hint = (
            "the embedded catalog service is not running (stopped or killed): run `lakehouse catalog start` "
            "(or any lakehouse command, which starts it on demand); `lakehouse catalog status` shows it"
        )
    else:
        hint = f"check that the catalog at catalog.uri={uri} is up, or unset catalog.uri to use the embedded one"
    message = f"The catalog service at {uri} is not reachable ({reason})"
    return CatalogUnavailableError(message, hint=hint, uri=uri, reason=reason)
