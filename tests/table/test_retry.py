"""The commit retry loop: lost races are retried with jittered, growing waits and a refresh each time; other errors
pass straight through; a race still lost when the budget runs out becomes CommitRetryError."""

from __future__ import annotations

import pickle

import pytest

from lakehouse.errors import CommitRetryError, VectorValidationError
from lakehouse.table.retry import backoff_s, retry_commit


class Lost(Exception):
    pass


def test_lost_races_are_retried_until_the_commit_lands() -> None:
    outcomes = [Lost(), Lost(), Lost(), "snapshot-4"]
    waits: list[float] = []
    refreshed: list[int] = []

    def attempt() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    got = retry_commit(
        attempt,
        conflict=lambda e: isinstance(e, Lost),
        refresh=lambda: refreshed.append(1),
        table="ns.t",
        sleep=waits.append,
    )
    assert got == "snapshot-4" and len(waits) == len(refreshed) == 3
    assert all(0 <= w <= 2.0 for w in waits)


def test_other_errors_are_not_retried() -> None:
    calls = []

    def attempt() -> None:
        calls.append(1)
        raise VectorValidationError("bad batch", problem="zero")

    with pytest.raises(VectorValidationError, match="bad batch"):
        retry_commit(attempt, conflict=lambda e: isinstance(e, Lost), refresh=lambda: None, table="ns.t")
    assert calls == [1], "a refusal found by the re-validation is final"


def test_a_race_still_lost_at_the_deadline_is_a_clear_error() -> None:
    def attempt() -> None:
        raise Lost("409")

    with pytest.raises(CommitRetryError) as info:
        retry_commit(
            attempt, conflict=lambda e: isinstance(e, Lost), refresh=lambda: None, table="ns.t", timeout_s=0.05
        )
    err = info.value
    assert err.table == "ns.t" and err.attempts >= 1 and "nothing of it was committed" in str(err) and err.hint
    assert isinstance(err.__cause__, Lost)
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is CommitRetryError and again.attempts == err.attempts


def test_backoff_is_jittered_and_capped() -> None:
    early = [backoff_s(1) for _ in range(200)]
    late = [backoff_s(40) for _ in range(200)]
    assert max(early) <= 0.04 and len(set(early)) > 100
    assert max(late) <= 2.0 and max(late) > 1.0


def test_duckdb_retries_a_409_only_not_a_5xx_whose_message_holds_409_digits() -> None:
    import duckdb

    from lakehouse.sql.duckdb_write import lost_commit_race

    lost = "Request to http://127.0.0.1:8181/v1/namespaces/ns/tables/t returned a non-200 status code (Conflict_409)"
    assert lost_commit_race(duckdb.TransactionException(lost))
    # a 500 leaves the commit's state unknown (it may have landed): retrying could append the batch twice
    unknown = (
        "Request to http://127.0.0.1:8181/v1/namespaces/ns/tables/t returned a non-200 status code "
        "(InternalServerError_500), body: s3://w/ns/t/metadata/00003-5e2c4091-aa1b-4c3d-9e8f-0123456789ab.json "
        "snapshot 6140937409123"
    )
    assert not lost_commit_race(duckdb.TransactionException(unknown))
    assert not lost_commit_race(RuntimeError(lost))
