"""What Spark needs from the machine: Java 17, the Iceberg Spark runtime jar (found offline) and, where the user
provides them, the Delta jars."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from functools import cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from lakehouse.errors import EnvironmentSetupError

ICEBERG_VERSION = "1.10.2"
ICEBERG_RUNTIME = f"iceberg-spark-runtime-3.5_2.12-{ICEBERG_VERSION}.jar"
ICEBERG_MAVEN = f"org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:{ICEBERG_VERSION}"
JAR_PACKAGE = "snowpark_connect_deps_iceberg"
SUPPORTED_JAVA = (17,)


def _java_binary() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


@cache
def java_major_version() -> int:
    """The major version of the ``java`` Spark will start, or a clear error when there is none."""
    java = _java_binary()
    if java is None:
        raise EnvironmentSetupError(
            "Java was not found (no JAVA_HOME and no `java` on PATH); Spark 3.5 needs Java 17",
            hint="install it (Debian/Ubuntu: apt-get install openjdk-17-jre-headless) or set JAVA_HOME",
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise EnvironmentSetupError(f"could not read the Java version from `{java} -version`: {out.stderr.strip()!r}")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0_x" style
        major = int(match.group(2))
    return major


def check_java() -> int:
    major = java_major_version()
    if major not in SUPPORTED_JAVA:
        raise EnvironmentSetupError(
            f"Java {major} found ({_java_binary()}), but this project runs Spark 3.5 on Java 17",
            hint="install openjdk-17 and point JAVA_HOME at it",
        )
    return major


@cache
def iceberg_runtime_jar() -> Path:
    """The Iceberg Spark runtime jar shipped inside the ``snowpark-connect-deps-iceberg`` wheel (no network)."""
    try:
        jars = resources.files(JAR_PACKAGE) / "jars"
    except ModuleNotFoundError as exc:
        raise EnvironmentSetupError(
            "the Iceberg Spark runtime jar is missing: package snowpark-connect-deps-iceberg is not installed",
            hint="pip install 'snowpark-connect-deps-iceberg==1.0.2' (never 1.0.3: its jar lacks shaded classes), "
            f"or set spark.packages to {ICEBERG_MAVEN} where Maven is reachable",
        ) from exc
    jar = Path(str(jars / ICEBERG_RUNTIME))
    if not jar.is_file():
        raise EnvironmentSetupError(
            f"{ICEBERG_RUNTIME} is not in {jars}",
            hint="reinstall snowpark-connect-deps-iceberg==1.0.2",
        )
    return jar


# -- Delta Lake in Spark (issue 6) ----------------------------------------------------------------------------------
# No wheel on PyPI ships the delta-spark jars, so native Delta is opt-in: the user names Maven coordinates or local
# jar files (SparkSettings.delta_packages / delta_jars). Without them, Delta tables are written by executors and
# committed by delta-rs (lakehouse.table.spark.delta_write).
DELTA_SPARK_VERSION = "3.3.2"  # the last delta-spark line built for Spark 3.5 / Scala 2.12
DELTA_MAVEN = f"io.delta:delta-spark_2.12:{DELTA_SPARK_VERSION}"
DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
_native_delta: dict[str, bool] = {}


def _entries(value: str | Sequence[str] | None) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value or [])
    return [str(item).strip() for item in items if str(item).strip()]


def delta_packages(value: str | None) -> str | None:
    """The Maven coordinates for ``spark.jars.packages``; ``"pip"`` means the installed delta-spark's version."""
    entries = _entries(value)
    if not entries:
        return None
    out = []
    for entry in entries:
        if entry.lower() in ("pip", "delta-spark"):
            try:
                version = metadata.version("delta-spark")
            except metadata.PackageNotFoundError as exc:
                raise EnvironmentSetupError(
                    "spark.delta_packages is 'pip' but the delta-spark package is not installed",
                    hint=f"pip install 'delta-spark=={DELTA_SPARK_VERSION}', or name coordinates such as {DELTA_MAVEN}",
                ) from exc
            if not version.startswith("3."):
                raise EnvironmentSetupError(
                    f"delta-spark {version} is installed, but Spark 3.5 needs a delta-spark 3.x release",
                    hint=f"pip install 'delta-spark=={DELTA_SPARK_VERSION}'",
                )
            entry = f"io.delta:delta-spark_2.12:{version}"
        elif entry.count(":") != 2:
            raise EnvironmentSetupError(
                f"spark.delta_packages entry {entry!r} is not Maven coordinates (group:artifact:version)",
                hint=f"for example {DELTA_MAVEN}; local jar files go in spark.delta_jars",
            )
        out.append(entry)
    return ",".join(out)


def delta_jar_files(value: str | Sequence[str] | None) -> list[Path]:
    """Local Delta jars for ``spark.jars``: each entry is a jar file or a folder whose ``*.jar`` files are taken."""
    jars: list[Path] = []
    for entry in _entries(value):
        path = Path(entry.removeprefix("file://")).expanduser()
        if path.is_dir():
            found = sorted(path.glob("*.jar"))
            if not found:
                raise EnvironmentSetupError(
                    f"spark.delta_jars names the folder {path}, which holds no .jar file",
                    hint="put delta-spark_2.12-<version>.jar and delta-storage-<version>.jar there",
                )
            jars.extend(found)
        elif path.is_file():
            jars.append(path)
        else:
            raise EnvironmentSetupError(
                f"spark.delta_jars names {path}, which does not exist",
                hint="point it at delta-spark_2.12-<version>.jar and delta-storage-<version>.jar (or their folder)",
            )
    return [p.resolve() for p in jars]


def jvm_has_class(spark: Any, name: str) -> bool:
    """Whether the driver JVM of ``spark`` can load class ``name`` (through Spark's own class loader)."""
    try:
        spark._jvm.org.apache.spark.util.Utils.classForName(name, False, False)
    except Exception:  # py4j reports ClassNotFoundException as a Py4JJavaError
        return False
    return True


def delta_native_available(spark: Any) -> bool:
    """True when this session can run native Delta: the Delta session extension is configured *and* its class
    loads in the JVM (a configured extension whose jar is missing is only logged by Spark, not refused)."""
    key = spark.sparkContext.applicationId
    if key not in _native_delta:
        extensions = spark.sparkContext.getConf().get("spark.sql.extensions", "") or ""
        configured = DELTA_EXTENSION in [e.strip() for e in extensions.split(",")]
        _native_delta[key] = configured and jvm_has_class(spark, DELTA_EXTENSION)
    return _native_delta[key]
