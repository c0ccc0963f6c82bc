"""The session builder checks that configured Delta jars really load (in a child process: one JVM per process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lakehouse.spark.runtime import delta_native_available

pytestmark = [pytest.mark.spark, pytest.mark.integration]


def test_configured_jars_that_do_not_load_are_refused(catalog_service, tmp_path: Path, spark) -> None:  # noqa: ANN001
    if delta_native_available(spark):
        pytest.skip("this test needs a jar that is not Delta; the session under test has the real Delta jars")
    fake = tmp_path / "delta-spark_2.12-3.3.2.jar"
    fake.write_bytes(b"PK\x05\x06" + bytes(18))  # a valid, empty jar: Spark accepts it, the class is not in it
    script = textwrap.dedent(
        f"""
        from lakehouse.config import load_settings
        from lakehouse.errors import EnvironmentSetupError
        from lakehouse.spark import build_spark

        settings = load_settings(
            project_dir={str(tmp_path)!r}, environ={{}}, home={str(tmp_path / "home")!r},
            catalog={catalog_service.catalog_settings!r},
            spark={{"master": "local[1]", "driver_memory": "1g", "delta_jars": {str(fake)!r}}},
        )
        try:
            build_spark(settings, app_name="native-delta-check")
        except EnvironmentSetupError as exc:
            print("REFUSED:", exc)
        else:
            print("STARTED")
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (
        "REFUSED: native Delta was configured but io.delta.sql.DeltaSparkSessionExtension does not load" in out.stdout
    )
    assert str(fake) in out.stdout and "spark.delta_jars" in out.stdout
