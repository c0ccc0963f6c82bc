"""The Delta tests' mode switch: the files path always runs; the native path runs where the session has the jars."""

from __future__ import annotations

import pytest

from lakehouse.spark.runtime import DELTA_EXTENSION, delta_native_available

NATIVE_SKIP = (
    f"native Delta not available: {DELTA_EXTENSION} does not load in this Spark session (the delta-spark jars are "
    "not on PyPI); set LAKEHOUSE__SPARK__DELTA_JARS (delta-spark_2.12 + delta-storage 3.x jars) or "
    "LAKEHOUSE__SPARK__DELTA_PACKAGES (Maven coordinates) to run these tests natively"
)


@pytest.fixture(params=["files", "native"])
def delta_mode(request: pytest.FixtureRequest, spark) -> str:  # noqa: ANN001
    """How the Delta paths run: ``files`` (executor Parquet files + delta-rs commit, always available) or
    ``native`` (Delta in Spark through the session's Delta jars; skipped, saying why, when they are absent)."""
    if request.param == "native" and not delta_native_available(spark):
        pytest.skip(NATIVE_SKIP)
    return request.param
