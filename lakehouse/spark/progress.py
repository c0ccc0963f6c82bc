"""Progress of long Spark work, read from the status tracker on a background thread.

On a terminal it draws one rich progress bar of finished tasks; otherwise (CI, logs) it prints a line at most every
``interval`` seconds, so long jobs never look hung and logs stay short.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


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
    spark: SparkSession, label: str, *, log: Callable[[str], object] = print, interval: float = 10.0
) -> Iterator[None]:
    """Report task progress of whatever Spark runs inside the block, and the elapsed time at the end."""
    stop = threading.Event()
    started = time.perf_counter()
    interactive = sys.stderr.isatty()

    def poll() -> None:
        if interactive:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            with Progress(
                TextColumn(label),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} tasks"),
                TimeElapsedColumn(),
                transient=True,
            ) as bar:
                task = bar.add_task(label, total=None)
                while not stop.wait(0.5):
                    done, total = _task_counts(spark)
                    if total:
                        bar.update(task, completed=done, total=total)
            return
        last = started
        while not stop.wait(1.0):
            now = time.perf_counter()
            if now - last >= interval:
                done, total = _task_counts(spark)
                log(f"  ... {label}: {done}/{total} tasks of the running stage(s), {now - started:.0f} s")
                last = now

    thread = threading.Thread(target=poll, name="lakehouse-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2)
    log(f"  {label}: done in {time.perf_counter() - started:.1f} s")
