"""Unit progress for long Spark work: executors' counts reach the driver's counter, and the line says done/total,
rate and ETA."""

from __future__ import annotations

import pickle
import time

from lakehouse.spark.progress import UnitCounter, UnitsAddress, describe_units, report_units


def _wait_for(counter: UnitCounter, n: int) -> int:
    deadline = time.monotonic() + 10
    while counter.done < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return counter.done


def test_counts_sent_to_the_address_are_summed_and_foreign_ones_ignored() -> None:
    with UnitCounter.open() as counter:
        address = pickle.loads(pickle.dumps(counter.address))  # as it travels in a UDF's closure
        for n in (64, 64, 7):
            report_units(address, n)
        report_units(UnitsAddress(address.host, address.port, "not-this-run"), 1000)
        report_units(address, 0)
        assert _wait_for(counter, 135) == 135
        time.sleep(0.3)
        assert counter.done == 135
    report_units(address, 5)  # a closed counter: the sender never raises
    report_units(None, 5)


def test_the_progress_line_has_rate_and_eta() -> None:
    assert describe_units(1234, 10614, 363.0, "chunks") == "1,234/10,614 chunks (11.6%), 3.4 chunks/s, ETA 46 min"
    assert describe_units(90, 100, 9.0, "chunks") == "90/100 chunks (90.0%), 10.0 chunks/s, ETA 1 s"
    assert describe_units(0, 100, 5.0, "chunks") == "0/100 chunks (0.0%), no chunks finished yet"
    assert describe_units(100, 100, 10.0, "chunks") == "100/100 chunks (100.0%), 10.0 chunks/s"
