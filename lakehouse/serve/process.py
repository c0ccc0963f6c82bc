"""Running the service, finding a running one, and calling it (what the CLI does when one is up).

A serving process records itself in ``<state>/serve.json`` (pid, host, port, uri, written atomically) and removes
the file when it stops. :func:`running` trusts the file only when that pid answers ``GET /v1/health`` with its own
pid, so a stale file (a killed server, a reused port) is never followed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lakehouse.config import Settings
from lakehouse.errors import CatalogError, LakehouseError
from lakehouse.net import bind_tcp

__all__ = ["DEFAULT_PORT", "ServeInfo", "call", "run", "running", "stop"]

STATE_FILE = "serve.json"
DEFAULT_PORT = 8765
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeInfo:
    uri: str
    pid: int
    host: str
    port: int


def run(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    sql_sessions: int = 2,
    log_level: str = "warning",
    ready: Any = None,
) -> None:
    """Serve until SIGINT/SIGTERM (or ``ready``'s server is told to exit). ``port=0`` binds a free port.

    ``ready`` (optional) is called with the ``uvicorn.Server`` once the socket is bound, before serving.
    """
    import uvicorn

    from lakehouse.serve.app import create_app
    from lakehouse.serve.auth import load_secrets
    from lakehouse.serve.warm import Warm
    from lakehouse.table import ensure_catalog

    ensure_catalog(settings)  # the embedded catalog service, started now rather than by the first request
    secrets = load_secrets(settings)
    warm = Warm(settings, sql_sessions=sql_sessions)
    sock = bind_tcp(host, port, backlog=256)
    bound = sock.getsockname()[1]
    connect = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
    info = ServeInfo(f"http://{connect}:{bound}", os.getpid(), host, bound)
    config = uvicorn.Config(create_app(warm, secrets), log_level=log_level, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    _write_state(settings.state_dir, info)
    if ready is not None:
        ready(server, info)
    print(f"lakehouse serve: {info.uri} (pid {info.pid}; Ctrl-C stops it)", file=sys.stderr, flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        warm.close()
        _remove_state(settings.state_dir, info.pid)


def running(settings: Settings) -> ServeInfo | None:
    """The live service recorded in the state folder, or None (no file, dead pid, or another process answers)."""
    try:
        data = json.loads((settings.state_dir / STATE_FILE).read_text())
        info = ServeInfo(**{k: data[k] for k in ServeInfo.__dataclass_fields__})
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(info.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    try:
        with urllib.request.urlopen(f"{info.uri}/v1/health", timeout=2) as response:  # noqa: S310 - our own URI
            health = json.loads(response.read())
    except (OSError, ValueError):
        return None
    return info if isinstance(health, dict) and health.get("pid") == info.pid else None


def stop(settings: Settings, *, timeout: float = 10) -> bool:
    """Stop the recorded service (SIGTERM; it removes its state file). True if one was running."""
    import signal

    info = running(settings)
    if info is None:
        return False
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(info.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return True


def call(settings: Settings, info: ServeInfo, path: str, body: dict[str, Any], *, timeout: float = 300) -> Any:
    """POST ``body`` to the service; its JSON errors come back as the project error they were raised as."""
    from lakehouse.serve.auth import client_token

    request = urllib.request.Request(  # noqa: S310 - our own URI
        f"{info.uri}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {client_token(settings)}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise _as_error(exc) from None
    except OSError as exc:
        raise CatalogError(
            f"lakehouse serve at {info.uri} did not answer: {exc}", hint="restart it, or stop it: lakehouse serve stop"
        ) from exc


def _as_error(exc: urllib.error.HTTPError) -> LakehouseError:
    import lakehouse.errors as errors

    try:
        err = json.loads(exc.read())["error"]
    except (ValueError, KeyError, TypeError):
        return LakehouseError(f"lakehouse serve answered HTTP {exc.code}", hint="read the service's log")
    cls = getattr(errors, str(err.get("type")), None)
    if not (isinstance(cls, type) and issubclass(cls, LakehouseError)):
        cls = errors.SqlError if exc.code == 400 else LakehouseError
    message = str(err.get("message"))
    if err.get("where"):
        message += f" (at {err['where']})"
    return cls(message, hint=err.get("hint"))


def _write_state(state: Path, info: ServeInfo) -> None:
    state.mkdir(parents=True, exist_ok=True)
    tmp = state / f".{STATE_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({**asdict(info), "started_at": time.time()}, indent=2))
    os.replace(tmp, state / STATE_FILE)


def _remove_state(state: Path, pid: int) -> None:
    path = state / STATE_FILE
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("pid") == pid:
            path.unlink()
