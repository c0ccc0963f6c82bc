"""Run the catalog service in the foreground (what ``python -m catalog serve`` does)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import uvicorn

from catalog.app import create_app
from catalog.guard import DEFAULT_MAX_BODY, DEFAULT_TOKEN_TTL
from lakehouse.catalog_client.changes import CHANGES_FILE
from lakehouse.catalog_client.credentials import ensure_secret_file
from lakehouse.net import bind_tcp

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8181


def serve(
    database_url: str,
    warehouse: str,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    port_file: str | os.PathLike[str] | None = None,
    catalog_name: str = "lake",
    log_level: str = "info",
    secret_file: str | os.PathLike[str],
    allow_external_locations: bool = False,
    max_body: int = DEFAULT_MAX_BODY,
    token_ttl: int = DEFAULT_TOKEN_TTL,
) -> None:
    """Serve the REST catalog until SIGINT/SIGTERM. Logs go to stderr.

    ``port=0`` binds a free port; ``port_file`` receives the port actually bound (written atomically), which is how
    the manager learns it without a race. ``secret_file`` holds the clients and signing key (created 0600 when
    missing, see :mod:`lakehouse.catalog_client.credentials`).
    """
    logging.basicConfig(
        stream=sys.stderr,
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    app = create_app(
        database_url,
        warehouse,
        secrets=ensure_secret_file(secret_file),
        catalog_name=catalog_name,
        allow_external_locations=allow_external_locations,
        max_body=max_body,
        token_ttl=token_ttl,
        changes_file=Path(secret_file).parent / CHANGES_FILE,  # beside the secret: the state folder clients know
    )
    sock = bind_tcp(host, port)
    bound = sock.getsockname()[1]
    if port_file is not None:
        target = Path(port_file)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(str(bound))
        os.replace(tmp, target)
    logger = logging.getLogger(__name__)
    logger.info("serving warehouse %s on http://%s:%d (pid %d)", warehouse, host, bound, os.getpid())
    config = uvicorn.Config(app, log_level=log_level, log_config=None, access_log=log_level == "debug")
    uvicorn.Server(config).run(sockets=[sock])
