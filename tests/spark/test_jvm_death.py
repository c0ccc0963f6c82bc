"""A killed Spark driver JVM becomes SparkJVMDiedError (what happened, what to run), not a py4j traceback.

The JVM killed here belongs to a throwaway SparkSession in a subprocess, never to the suite's shared session.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark

SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys, threading

    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    from lakehouse.cli.output import handle_errors
    from lakehouse.config import load_settings
    from lakehouse.errors import SparkJVMDiedError
    from lakehouse.spark import build_spark
    from lakehouse.spark.jvm import translate_jvm_death

    home = sys.argv[1]
    spark = (
        SparkSession.builder.master("local[1]").appName("doomed")
        .config("spark.ui.enabled", "false").config("spark.driver.memory", "512m").getOrCreate()
    )
    jvm = SparkContext._gateway.proc
    out = {"pid": jvm.pid}

    def caught(fn):
        try:
            fn()
        except SparkJVMDiedError as exc:
            return {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint,
                    "pid": exc.pid, "exit_code": exc.exit_code}
        except BaseException as exc:
            return {"type": type(exc).__name__, "message": str(exc)}
        return None

    def long_action():
        with translate_jvm_death("summing numbers"):
            spark.range(10**13).selectExpr("sum(id)").collect()

    # killed in the middle of an action (as by the OOM killer) ...
    threading.Timer(2.0, lambda: os.kill(jvm.pid, signal.SIGKILL)).start()
    out["during"] = caught(long_action)
    jvm.wait()

    # ... then the next action, the session builder, and a CLI command
    def next_action():
        with translate_jvm_death():
            spark.range(3).count()

    out["after"] = caught(next_action)
    out["build"] = caught(lambda: build_spark(load_settings(project_dir=home, environ={}, home=home)))

    @handle_errors
    def command():
        spark.sql("SELECT 1").collect()

    try:
        command()
    except SystemExit as exc:
        out["cli_exit"] = exc.code
    print("RESULT " + json.dumps(out))
    """
)


def test_a_killed_jvm_is_reported_as_a_project_error(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=Path(__file__).resolve().parents[2],
    )
    line = next((x for x in run.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line is not None, run.stdout[-2000:] + run.stderr[-4000:]
    out = json.loads(line[len("RESULT ") :])
    for case in ("during", "after", "build"):
        got = out[case]
        assert got is not None and got["type"] == "SparkJVMDiedError", (case, got)
        assert f"pid {out['pid']}" in got["message"] and "died" in got["message"]
        assert got["pid"] == out["pid"] and got["exit_code"] == -9 and "SIGKILL" in got["message"]
        assert "run the command or job again" in got["hint"] and "DRIVER_MEMORY" in got["hint"]
    assert "while summing numbers" in out["during"]["message"]
    assert out["cli_exit"] == 5, "the CLI exits with the environment/service code"
    assert "error: the Spark driver JVM" in run.stderr and "hint: run the command" in run.stderr
    assert "Traceback" not in run.stderr.split("error: the Spark driver JVM")[-1], "no traceback after the message"
