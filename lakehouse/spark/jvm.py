"""A dead Spark driver JVM, as seen from Python, becomes one project error.

When the JVM that PySpark started is killed (by the OOM killer, a signal, a crash), every later call through py4j
fails with ``ConnectionRefusedError`` or ``Py4JNetworkError: Answer from Java side is empty`` and a traceback full of
py4j frames that says nothing about what happened or what to do. :func:`jvm_death` recognises those errors (a
connection error raised inside py4j, or any py4j error once the JVM process has exited) and returns a
:class:`~lakehouse.errors.SparkJVMDiedError` that names the JVM's pid and exit status and says what to run;
:func:`translate_jvm_death` wraps the project's own Spark calls, and the CLI's error decorator applies the same test
to anything that escapes a command.

Nothing here imports pyspark: an error is only examined when pyspark is already loaded.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lakehouse.errors import SparkJVMDiedError

_NETWORK_MESSAGES = ("Answer from Java side is empty", "Error while sending or receiving", "Connection refused")


def _jvm_process() -> Any:
    """The ``Popen`` of the JVM this process launched (None under spark-submit, where the JVM launched us)."""
    context = getattr(sys.modules.get("pyspark"), "SparkContext", None)
    gateway = getattr(context, "_gateway", None)
    return getattr(gateway, "proc", None)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _from_py4j(exc: BaseException) -> bool:
    if type(exc).__module__.startswith("py4j"):
        return True
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__", "").startswith("py4j"):
            return True
        tb = tb.tb_next
    return False


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "it no longer answers"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def jvm_death(exc: BaseException, *, doing: str | None = None) -> SparkJVMDiedError | None:
    """The project error for ``exc`` when it means the Spark driver JVM is gone, else None."""
    if isinstance(exc, SparkJVMDiedError):
        return exc
    if "py4j" not in sys.modules:
        return None
    process = _jvm_process()
    code = process.poll() if process is not None else None
    exited = process is not None and code is not None
    network = False
    for item in _chain(exc):
        if not _from_py4j(item):
            continue
        name = type(item).__name__
        if isinstance(item, ConnectionError) or (
            name in ("Py4JNetworkError", "Py4JError") and any(m in str(item) for m in _NETWORK_MESSAGES)
        ):
            network = True
        if network or exited:
            break
    else:
        return None
    if process is not None and code is None and network:
        # the JVM's sockets close while it exits, a moment before it can be reaped: a broken connection can arrive
        # before poll() sees the exit, and the report would lose the signal that killed it (SIGKILL: memory)
        try:
            code = process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None  # alive but not answering: said as "it no longer answers"
    pid = getattr(process, "pid", None)
    what = f" while {doing}" if doing else ""
    return SparkJVMDiedError(
        f"the Spark driver JVM{f' (pid {pid})' if pid else ''} died{what} ({_describe_exit(code)}); this Python "
        "process cannot run Spark work any more",
        hint="run the command or job again: a new process starts a new JVM. A write that was cut off committed "
        "nothing (Iceberg and Delta commits are all or nothing; check with `lakehouse tables`). If the JVM was killed "
        "for memory (SIGKILL, or 'Out of memory' in dmesg), give it more: LAKEHOUSE__SPARK__DRIVER_MEMORY=8g "
        "(default 4g; or driver_memory under spark: in lakehouse.yaml)",
        pid=pid,
        exit_code=code,
    )


@contextmanager
def translate_jvm_death(doing: str | None = None) -> Iterator[None]:
    """Re-raise an error that means the Spark driver JVM died as :class:`SparkJVMDiedError`."""
    try:
        yield
    except Exception as exc:
        error = jvm_death(exc, doing=doing)
        if error is None or error is exc:
            raise
        raise error from None
