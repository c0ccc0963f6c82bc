"""Where lineage events go (used by :class:`~lakehouse.lineage.emitter.LineageEmitter`); first match wins:

1. ``OPENLINEAGE_DISABLED=true`` in the environment: nowhere (and ``lineage.transport: none`` likewise).
2. OpenLineage's own configuration, read the way ``openlineage-python`` reads it: ``OPENLINEAGE__*`` variables, the
   file named by ``OPENLINEAGE_CONFIG``, ``./openlineage.yml`` or ``~/.openlineage/openlineage.yml`` (the file wins
   over the variables, as in the client), or ``OPENLINEAGE_URL`` (+ ``OPENLINEAGE_ENDPOINT``, ``OPENLINEAGE_API_KEY``).
   The transport is built by the client's transport factory, so every transport it knows (http, kafka, composite,
   file, console...) works.
3. The embedded default from :class:`~lakehouse.config.LineageSettings`: ``file`` appends JSONL to
   ``<state_dir>/lineage.jsonl`` (the client's FileTransport with ``append=True``); with ``lineage.url`` set it also
   POSTs each event to ``<url>/api/v1/lineage`` (Marquez, or the catalog service). ``http`` posts only; ``console``
   logs events.

The environment is an argument (default ``os.environ``) and is never written to; that is why the emitter resolves the
configuration itself and hands the resulting transport the events, rather than constructing an ``OpenLineageClient``
(which reads, and for ``OPENLINEAGE_URL`` rewrites, ``os.environ``). Client-side filters and tags from
``openlineage.yml`` are therefore not applied.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from lakehouse.errors import LineageError

if TYPE_CHECKING:
    from openlineage.client.transport import Transport

    from lakehouse.config import Settings

__all__ = ["disabled", "embedded_transports", "openlineage_config"]

ENV_PREFIX = "OPENLINEAGE__"
# fewer retries than the client's default (5): a collector that is down must not hold a job up for long
HTTP_RETRY: dict[str, Any] = {
    "total": 2,
    "read": 2,
    "connect": 2,
    "backoff_factor": 0.2,
    "status_forcelist": [500, 502, 503, 504],
    "allowed_methods": ["HEAD", "POST"],
}


# -- configuration ------------------------------------------------------------------------------------------------
def _env_config(environ: Mapping[str, str]) -> dict[str, Any]:
    """``OPENLINEAGE__TRANSPORT__TYPE=http`` -> ``{"transport": {"type": "http"}}``; JSON values are parsed."""
    config: dict[str, Any] = {}
    # reverse order so that a top-level key (a JSON object) is applied before deeper keys overwrite parts of it
    for key, raw in sorted(((k, v) for k, v in environ.items() if k.startswith(ENV_PREFIX)), reverse=True):
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        parts = [p.lower() for p in key[len(ENV_PREFIX) :].split("__")]
        node = config
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    return config


def _yaml_config_path(environ: Mapping[str, str], cwd: Path, home: Path) -> Path | None:
    candidates = [environ.get("OPENLINEAGE_CONFIG"), cwd / "openlineage.yml", home / ".openlineage" / "openlineage.yml"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def openlineage_config(
    environ: Mapping[str, str] | None = None, *, cwd: Path | None = None, home: Path | None = None
) -> dict[str, Any] | None:
    """OpenLineage's own configuration found in ``environ`` and the config files, or None when there is none."""
    from openlineage.client.utils import deep_merge_dicts

    env = os.environ if environ is None else environ
    cwd = cwd or Path.cwd()
    home = home or Path(env.get("HOME") or Path.home())
    config = _env_config(env)
    path = _yaml_config_path(env, cwd, home)
    if path is not None:
        try:
            from_file = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise LineageError(f"cannot read OpenLineage config {path}: {exc}", hint="fix or remove the file") from exc
        config = deep_merge_dicts(config, from_file if isinstance(from_file, dict) else {})
    transport = config.get("transport")
    if not (isinstance(transport, dict) and transport.get("type")) and env.get("OPENLINEAGE_URL"):
        http: dict[str, Any] = {
            "type": "http",
            "url": env["OPENLINEAGE_URL"],
            "endpoint": env.get("OPENLINEAGE_ENDPOINT", "api/v1/lineage"),
        }
        if env.get("OPENLINEAGE_API_KEY"):
            http["auth"] = {"type": "api_key", "apiKey": env["OPENLINEAGE_API_KEY"]}
        config["transport"] = http
    return config or None


def disabled(environ: Mapping[str, str]) -> bool:
    return environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true"


def embedded_transports(settings: Settings) -> list[Transport]:
    from openlineage.client.transport.console import ConsoleConfig, ConsoleTransport
    from openlineage.client.transport.file import FileConfig, FileTransport
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    lineage = settings.lineage
    transports: list[Transport] = []
    if lineage.transport == "file":
        path = settings.lineage_path
        transports.append(FileTransport(FileConfig(log_file_path=str(path), append=True)))
    if lineage.transport == "console":
        transports.append(ConsoleTransport(ConsoleConfig()))
    url = lineage.url
    to_catalog = bool(url) and url == settings.catalog.uri
    if url is None and lineage.transport == "file" and settings.catalog.uri is None:
        # the embedded default also posts to the embedded catalog service, which stores events for /lineage;
        # its port changes between starts, so it is looked up, never configured
        from lakehouse.catalog_client.process import status

        running = status(settings.state_dir)
        url = running.uri if running else None
        to_catalog = running is not None
    if url and lineage.transport in ("file", "http"):
        http: dict[str, Any] = {"url": url, "endpoint": "api/v1/lineage", "retry": HTTP_RETRY}
        if to_catalog:
            http["auth"] = catalog_auth(settings, url)
        transports.append(HttpTransport(HttpConfig.from_dict(http)))
    return transports


def catalog_auth(settings: Settings, url: str) -> dict[str, Any]:
    """The OpenLineage HTTP auth block for posting to the catalog service (which wants its bearer token): the
    client's OAuth2 client-credentials provider, which caches the token and fetches a new one before it expires."""
    from lakehouse.catalog_client.connection import catalog_connection

    conn = catalog_connection(settings, url)
    if conn.token:
        return {"type": "api_key", "apiKey": conn.token}
    if conn.credential:
        client_id, _, secret = conn.credential.rpartition(":")
        return {
            "type": "oauth2",
            "clientId": client_id or "lakehouse",
            "clientSecret": secret,
            "tokenEndpoint": conn.token_endpoint,
        }
    return {}
