"""Appends that lose a commit race are retried until they land.

Two appends never logically conflict: each only adds files. When two writers commit at once, the catalog accepts one
and answers the other 409 (Iceberg) or delta-rs sees a newer log entry (Delta). Iceberg's Java client rebases and
retries by itself as often as the table's ``commit.retry.*`` properties allow (4 times by default, too few for eight
busy writers: 38 of 104 commits failed in the trial that filed issue 11); pyiceberg 0.12 does the same, with the same
properties. Tables this project creates carry :data:`COMMIT_RETRY_PROPERTIES`, and :func:`retry_commit` wraps every
Python-side append on top of that: full-jitter exponential backoff (so that writers who collided do not collide
again in lockstep), a refresh and re-validation of the batch against the table as it is now (its schema or vector
spec may have changed meanwhile), until the commit lands or :data:`APPEND_TIMEOUT_S` has passed, which raises
:class:`~lakehouse.errors.CommitRetryError`. Only errors that guarantee that nothing was committed are retried, so a
retried append is never committed twice.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from lakehouse.errors import CommitRetryError

T = TypeVar("T")

# Set on every Iceberg table this project creates (pyiceberg and Spark read the same keys). Java's defaults are
# 4 retries, 100 ms to 60 s; ten writers need more tries, and short first waits keep an uncontended retry quick.
COMMIT_RETRY_PROPERTIES: dict[str, str] = {
    "commit.retry.num-retries": "50",
    "commit.retry.min-wait-ms": "25",
    "commit.retry.max-wait-ms": "2000",
    "commit.retry.total-timeout-ms": "600000",
}
# delta-rs rebases an append onto newer versions by itself this many times (its default is 15).
DELTA_COMMIT_RETRIES = 100
APPEND_TIMEOUT_S = 600.0  # the whole budget of one append, first try included
_BASE_S, _CAP_S = 0.02, 2.0


def backoff_s(attempt: int, *, base: float = _BASE_S, cap: float = _CAP_S) -> float:
    """Full jitter: a uniform wait in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0.0, min(cap, base * (2 ** min(attempt, 30))))


def retry_commit(
    attempt: Callable[[], T],
    *,
    conflict: Callable[[BaseException], bool],
    refresh: Callable[[], object],
    table: str,
    timeout_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``attempt`` (which validates and commits one append) until it succeeds.

    An exception for which ``conflict`` is true means the commit lost a race and nothing was committed: wait, call
    ``refresh`` and try again. Anything else (bad input found by the re-validation included) is raised as it is. Past
    ``timeout_s`` (default :data:`APPEND_TIMEOUT_S`) the last conflict becomes a :class:`CommitRetryError`.
    """
    budget = APPEND_TIMEOUT_S if timeout_s is None else timeout_s
    started = time.monotonic()
    tries = 0
    while True:
        tries += 1
        try:
            return attempt()
        except Exception as exc:
            if not conflict(exc):
                raise
            waited = time.monotonic() - started
            pause = backoff_s(tries)
            if waited + pause > budget:
                raise CommitRetryError(
                    f"append to {table} lost the commit race to concurrent writers {tries} times in {waited:.0f} s "
                    "and gave up; nothing of it was committed",
                    hint="retry the append later, or reduce the number of writers committing to this table at once "
                    "(batch small appends together)",
                    table=table,
                    attempts=tries,
                    seconds=round(waited, 3),
                ) from exc
            sleep(pause)
            refresh()
