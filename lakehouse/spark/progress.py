"""Progress of long Spark work, read on a background thread.

On a terminal it draws one rich progress bar; otherwise (CI, logs) it prints a line at most every ``interval``
seconds, so long jobs never look hung and logs stay short. By default the bar counts finished tasks (Spark's status
tracker). Work that knows its units passes a :class:`UnitCounter`: the executors report each batch of units as it is
done (a UDP datagram to the driver, see :func:`report_units`), so the bar moves within long tasks and the line says
units done, units/s and an ETA. The embed job counts chunks this way: its tasks each embed hundreds of chunks, and
``0/16 tasks`` sat still for minutes while they did.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class UnitsAddress:
    """Where executors send unit counts (picklable: it travels in the UDF's closure)."""

    host: str
    port: int
    token: str


class UnitCounter:
    """Driver side: a UDP socket that sums the unit counts executors send (``<token> <n>`` datagrams).

    A lost datagram only makes the progress lag; nothing depends on it for correctness. Example::

        with UnitCounter.open(spark) as counter:
            df = df.withColumn("v", embed_udf(model, 32, progress=counter.address)(col("text")))
            with track(spark, "embedding", units=counter, total=n, unit="chunks"):
                df.write...
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind((host, 0))
        except OSError:
            host = "127.0.0.1"
            self._sock.bind((host, 0))
        self._sock.settimeout(0.2)
        self.address = UnitsAddress(host, self._sock.getsockname()[1], secrets.token_hex(8))
        self._done = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="lakehouse-units", daemon=True)
        self._thread.start()

    @classmethod
    @contextmanager
    def open(cls, spark: SparkSession | None = None) -> Iterator[UnitCounter]:
        """A counter reachable by the session's executors (the driver's host), closed on exit."""
        host = "127.0.0.1"
        if spark is not None:
            conf = spark.sparkContext.getConf()
            if not conf.get("spark.master", "local").startswith("local"):
                host = conf.get("spark.driver.host", host) or host
        counter = cls(host)
        try:
            yield counter
        finally:
            counter.close()

    @property
    def done(self) -> int:
        with self._lock:
            return self._done

    def _receive(self) -> None:
        prefix = self.address.token.encode() + b" "
        while not self._stop.is_set():
            try:
                data = self._sock.recv(256)
            except (TimeoutError, OSError):
                continue
            if data.startswith(prefix):
                with contextlib.suppress(ValueError):
                    n = int(data[len(prefix) :])
                    with self._lock:
                        self._done += max(0, n)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()


_SENDER: socket.socket | None = None


def report_units(address: UnitsAddress | None, n: int) -> None:
    """Executor side: tell the driver ``n`` more units are done (never raises, never blocks)."""
    global _SENDER
    if address is None or n <= 0:
        return
    try:
        if _SENDER is None:
            _SENDER = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        _SENDER.sendto(f"{address.token} {n}".encode(), (address.host, address.port))
    except OSError:
        pass


def describe_units(done: int, total: int | None, elapsed: float, unit: str) -> str:
    """``1,234/10,614 chunks (11.6%), 3.4 chunks/s, ETA 46 min`` (what is known so far)."""
    rate = done / elapsed if elapsed > 0 else 0.0
    head = f"{done:,}/{total:,} {unit} ({done / total:.1%})" if total else f"{done:,} {unit}"
    if not done:
        return f"{head}, no {unit} finished yet"
    out = f"{head}, {rate:.1f} {unit}/s"
    if total and done < total:
        left = (total - done) / rate
        out += f", ETA {left / 60:.0f} min" if left >= 120 else f", ETA {left:.0f} s"
    return out


def _task_counts(spark: SparkSession) -> tuple[int, int]:
    tracker = spark.sparkContext.statusTracker()
    done = total = 0
    for stage_id in tracker.getActiveStageIds():
        info = tracker.getStageInfo(stage_id)
        if info is not None:
            done += info.numCompletedTasks
            total += info.numTasks
    return done, total


@contextmanager
def track(
    spark: SparkSession,
    label: str,
    *,
    log: Callable[[str], object] = print,
    interval: float = 10.0,
    units: UnitCounter | None = None,
    total: int | None = None,
    unit: str = "units",
) -> Iterator[None]:
    """Report the progress of whatever Spark runs inside the block, and the elapsed time at the end.

    With ``units`` (and their ``total``), progress is units done, units/s and ETA; otherwise finished tasks."""
    stop = threading.Event()
    started = time.perf_counter()
    interactive = sys.stderr.isatty()

    def unit_count() -> int:
        assert units is not None
        return min(units.done, total) if total else units.done

    def poll() -> None:
        if interactive:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            columns = (
                (TextColumn("{task.completed:,.0f}/{task.total:,.0f} " + unit + " {task.fields[rate]}"),)
                if units is not None
                else (TextColumn("{task.completed}/{task.total} tasks"),)
            )
            with Progress(
                TextColumn(label), BarColumn(), *columns, TimeElapsedColumn(), TimeRemainingColumn(), transient=True
            ) as bar:
                task = bar.add_task(label, total=total if units is not None else None, rate="")
                while not stop.wait(0.5):
                    if units is not None:
                        done, elapsed = unit_count(), time.perf_counter() - started
                        bar.update(task, completed=done, rate=f"{done / elapsed:.1f} {unit}/s" if done else "")
                        continue
                    done, tasks = _task_counts(spark)
                    if tasks:
                        bar.update(task, completed=done, total=tasks)
            return
        last = started
        while not stop.wait(1.0):
            now = time.perf_counter()
            if now - last >= interval:
                if units is not None:
                    log(f"  ... {label}: {describe_units(unit_count(), total, now - started, unit)}")
                else:
                    done, tasks = _task_counts(spark)
                    log(f"  ... {label}: {done}/{tasks} tasks of the running stage(s), {now - started:.0f} s")
                last = now

    thread = threading.Thread(target=poll, name="lakehouse-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2)
    elapsed = time.perf_counter() - started
    if units is not None:
        time.sleep(0.3)  # the last datagrams of the finished tasks
        done = unit_count()
        log(f"  {label}: done in {elapsed:.1f} s, {done:,} {unit} ({done / elapsed if elapsed else 0:.1f} {unit}/s)")
    else:
        log(f"  {label}: done in {elapsed:.1f} s")
