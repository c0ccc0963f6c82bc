"""Start the catalog service on demand (a ``python -m catalog serve`` subprocess), find it again, stop it.

State lives in one folder: ``catalog.json`` (pid, port, uri of the live server, written atomically), ``catalog.log``
(the server's stdout and stderr), ``catalog.lock`` (an fcntl lock, so two CLIs starting at once start one server) and
``catalog.secret`` (mode 0600: the clients' secrets and the token key, written at first start; clients read it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lakehouse.catalog_client.changes import CHANGES_FILE
from lakehouse.catalog_client.credentials import SECRET_FILE, WRITER, ensure_secret_file, load_secret_file
from lakehouse.catalog_client.health import AUTH_SCHEME, matches, redact_database_url
from lakehouse.errors import CatalogError

__all__ = [
    "CatalogProcess",
    "credential",
    "ensure_running",
    "recorded_uri",
    "serve_command",
    "service_environment",
    "status",
    "stop",
]

STATE_FILE = "catalog.json"
LOG_FILE = "catalog.log"
LOCK_FILE = "catalog.lock"
PORT_FILE = "catalog.port"

# Servers this process started. Holding the Popen keeps Python from warning that a child still runs when the object
# is collected, and lets `_alive` reap the child once it exits (a zombie still answers kill(pid, 0)).
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class CatalogProcess:
    """A running catalog service: where to reach it and what it serves."""

    uri: str
    pid: int
    host: str
    port: int
    warehouse: str
    database: str
    secret_file: str = ""


def credential(state_dir: str | os.PathLike[str], client_id: str = WRITER) -> str:
    """``client_id:secret`` of a client of the service run from ``state_dir`` (``analyst`` is the read-only one)."""
    return load_secret_file(Path(state_dir) / SECRET_FILE).client(client_id).credential


def recorded_uri(state_dir: str | os.PathLike[str]) -> str | None:
    """The URI of the service recorded in ``state_dir`` (alive or not), without asking it anything."""
    recorded = _read_state(Path(state_dir))
    return recorded.uri.rstrip("/") if recorded is not None else None


def ensure_running(
    state_dir: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    database_url: str,
    warehouse: str,
    timeout: float = 30,
    allow_external_locations: bool = False,
) -> CatalogProcess:
    """Return the catalog service for ``warehouse`` and ``database_url``, starting one if none is running.

    A server recorded in ``<state_dir>/catalog.json`` is reused when it is alive and its ``/healthz`` names the same
    warehouse and database. Otherwise a detached ``python -m catalog serve`` is started (``port=0`` picks a free
    port) and this waits until it answers. The first start writes ``<state_dir>/catalog.secret`` (0600), whose
    credentials every client passes (:func:`credential`).

    Example:
        >>> proc = ensure_running(".lakehouse", database_url="sqlite:///.lakehouse/catalog.db",
        ...                       warehouse="file:///data/warehouse")  # doctest: +SKIP
        >>> load_catalog("lake", type="rest", uri=proc.uri, warehouse=proc.warehouse,
        ...              credential=credential(".lakehouse"))  # doctest: +SKIP
    """
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    with _locked(state, timeout):
        recorded = _read_state(state)
        if recorded is not None:
            health = _health(recorded.uri) if _alive(recorded.pid) else None
            outdated = health is not None and health.get("auth") != AUTH_SCHEME  # started before auth existed
            if health is not None and matches(health, database_url, warehouse) and health.get("pid") == recorded.pid:
                if not outdated:
                    return recorded
            elif health is not None and health.get("pid") == recorded.pid:
                raise CatalogError(
                    f"A catalog service for another warehouse or database runs from {state} "
                    f"(pid {recorded.pid}, warehouse {health.get('warehouse')}, database {health.get('database')})",
                    hint="stop it first (`lakehouse catalog stop` with that state folder) or use another state folder",
                    state_dir=str(state),
                    pid=recorded.pid,
                )
            _terminate_if_ours(recorded.pid, timeout=5)
            (state / STATE_FILE).unlink(missing_ok=True)
        ensure_secret_file(state / SECRET_FILE)
        return _start(state, host, port, database_url, warehouse, timeout, allow_external_locations)


def status(state_dir: str | os.PathLike[str]) -> CatalogProcess | None:
    """The live service recorded in ``state_dir``, or None when there is none (or it does not answer)."""
    recorded = _read_state(Path(state_dir))
    if recorded is None or not _alive(recorded.pid):
        return None
    health = _health(recorded.uri)
    return recorded if health is not None and health.get("pid") == recorded.pid else None


def stop(state_dir: str | os.PathLike[str], *, timeout: float = 10) -> bool:
    """Stop the service recorded in ``state_dir`` (SIGTERM, then SIGKILL after ``timeout``). True if one ran."""
    state = Path(state_dir)
    if not state.exists():
        return False
    with _locked(state, timeout):
        recorded = _read_state(state)
        if recorded is None:
            return False
        stopped = _terminate_if_ours(recorded.pid, timeout=timeout)
        (state / STATE_FILE).unlink(missing_ok=True)
        return stopped


# -- starting ---------------------------------------------------------------------------------------------------


def serve_command(
    *,
    host: str,
    port: int,
    database_url: str,
    warehouse: str,
    secret_file: str | os.PathLike[str],
    port_file: str | os.PathLike[str] | None = None,
    allow_external_locations: bool = False,
) -> list[str]:
    """The ``python -m catalog serve ...`` command line that runs the service (this interpreter, these settings)."""
    return [
        sys.executable, "-m", "catalog", "serve",
        "--host", host, "--port", str(port),
        *(["--port-file", str(port_file)] if port_file is not None else []),
        "--database", database_url, "--warehouse", warehouse, "--secret-file", str(secret_file),
        *(["--allow-external-locations"] if allow_external_locations else []),
    ]  # fmt: skip


def service_environment() -> dict[str, str]:
    """This process's environment, with ``-m catalog`` resolving to the service installed beside this library (the
    project ships both packages) whatever the caller's working directory."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _start(
    state: Path, host: str, port: int, database_url: str, warehouse: str, timeout: float, allow_external: bool
) -> CatalogProcess:
    log_path, port_path, secret_path = state / LOG_FILE, state / PORT_FILE, state / SECRET_FILE
    port_path.unlink(missing_ok=True)
    (state / CHANGES_FILE).unlink(missing_ok=True)  # a dead service's counter must not vouch for anything
    command = serve_command(
        host=host,
        port=port,
        database_url=database_url,
        warehouse=warehouse,
        secret_file=secret_path,
        port_file=port_path,
        allow_external_locations=allow_external,
    )
    env = service_environment()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    _children[proc.pid] = proc
    deadline = time.monotonic() + timeout
    connect_host = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            _children.pop(proc.pid, None)
            raise CatalogError(
                f"The catalog service exited with code {code} while starting. Last log lines:\n{_tail(log_path)}",
                hint=f"read {log_path}",
                log=str(log_path),
            )
        if port_path.exists():
            bound = int(port_path.read_text())
            uri = f"http://{connect_host}:{bound}"
            health = _health(uri)
            if health is not None and health.get("pid") == proc.pid:
                record = CatalogProcess(
                    uri, proc.pid, host, bound, warehouse, redact_database_url(database_url), str(secret_path)
                )
                _write_state(state, record)
                return record
        time.sleep(0.1)
    _terminate_if_ours(proc.pid, timeout=5)
    raise CatalogError(
        f"The catalog service did not answer within {timeout:.0f} s. Last log lines:\n{_tail(log_path)}",
        hint=f"read {log_path}; raise the timeout on a slow machine",
        log=str(log_path),
    )


# -- state, lock, processes -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(state: Path, timeout: float) -> Iterator[None]:
    with open(state / LOCK_FILE, "a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise CatalogError(
                        f"Another process holds {state / LOCK_FILE} for more than {timeout:.0f} s",
                        hint="another CLI is starting or stopping the catalog service; retry shortly",
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_state(state: Path) -> CatalogProcess | None:
    try:
        data = json.loads((state / STATE_FILE).read_text())
        fields = CatalogProcess.__dataclass_fields__
        return CatalogProcess(**{k: data[k] if k != "secret_file" else data.get(k, "") for k in fields})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_state(state: Path, record: CatalogProcess) -> None:
    payload = {**asdict(record), "log": str(state / LOG_FILE), "started_at": time.time()}
    tmp = state / f".{STATE_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, state / STATE_FILE)


def _health(uri: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{uri}/healthz", timeout=2) as response:  # noqa: S310 - http URI we built
            data = json.loads(response.read())
            return data if isinstance(data, dict) else None
    except (OSError, ValueError, urllib.error.URLError):
        return None


def _alive(pid: int) -> bool:
    if (child := _children.get(pid)) is not None and child.poll() is not None:
        del _children[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError, IndexError):
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _is_ours(pid: int) -> bool:
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.exists():
        return True  # no /proc: trust the state file
    try:
        args = cmdline.read_bytes().split(b"\0")
    except OSError:
        return False
    return b"catalog" in args and b"serve" in args


def _terminate_if_ours(pid: int, *, timeout: float) -> bool:
    if not _alive(pid) or not _is_ours(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
