"""The one SparkSession builder used by every job, the CLI and the tests.

It wires an Iceberg catalog named ``lake`` (configurable) to the project's REST catalog service, enables the Iceberg
SQL extensions (MERGE, DELETE, CALL) and finds the Iceberg runtime jar inside the installed wheel, so nothing is
downloaded. Users with Maven access can set ``spark.packages`` to coordinates instead of the shipped jar.

Native Delta is opt-in: with ``spark.delta_packages`` (Maven coordinates) or ``spark.delta_jars`` (local jar files)
set, the session also gets the Delta jars, ``DeltaSparkSessionExtension`` and ``DeltaCatalog`` (as ``spark_catalog``;
the Iceberg catalog stays the default), and the Delta write/read/merge paths switch to ``format("delta")`` and Delta
MERGE once :func:`~lakehouse.spark.runtime.delta_native_available` has seen the extension load in the JVM.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse.config import Settings, load_settings
from lakehouse.errors import EnvironmentSetupError
from lakehouse.spark.jvm import translate_jvm_death
from lakehouse.spark.runtime import (
    DELTA_CATALOG,
    DELTA_EXTENSION,
    check_java,
    delta_jar_files,
    delta_native_available,
    delta_packages,
    iceberg_runtime_jar,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_LOG4J = Path(__file__).with_name("log4j2.properties").as_uri()
ICEBERG_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"


def spark_conf(settings: Settings, catalog_uri: str, *, master: str | None = None) -> dict[str, str]:
    """The Spark configuration the builder applies (exposed so ``spark-submit --conf`` users can copy it)."""
    name = settings.catalog.name
    maven_delta = delta_packages(settings.spark.delta_packages)
    local_delta = delta_jar_files(settings.spark.delta_jars)
    delta = bool(maven_delta or local_delta)
    conf: dict[str, str] = {
        "spark.master": master or settings.spark.master,
        "spark.driver.memory": settings.spark.driver_memory,
        "spark.sql.extensions": ",".join([ICEBERG_EXTENSIONS, *([DELTA_EXTENSION] if delta else [])]),
        f"spark.sql.catalog.{name}": "org.apache.iceberg.spark.SparkCatalog",
        f"spark.sql.catalog.{name}.type": "rest",
        f"spark.sql.catalog.{name}.uri": catalog_uri,
        f"spark.sql.catalog.{name}.warehouse": settings.warehouse,
        # Other engines (pyiceberg, other Spark jobs) commit to the same tables; a cached table would make Spark
        # read a stale snapshot (or fail on a snapshot id it has not seen), so every access asks the catalog.
        f"spark.sql.catalog.{name}.cache-enabled": "false",
        "spark.sql.defaultCatalog": name,
        # Vector columns are validated inside the write (lakehouse.table.spark.iceberg_write), which also makes them
        # non-null; Iceberg's schema-level nullability check would otherwise refuse writing array<float> (nullable
        # elements) into the list<float not null> columns that pyiceberg creates.
        "spark.sql.iceberg.check-nullability": "false",
        "spark.sql.shuffle.partitions": str(settings.spark.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Python workers are reused across tasks, so a model loaded in a worker is loaded once per process.
        "spark.python.worker.reuse": "true",
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={_LOG4J}",
    }
    packages = [p for p in (settings.spark.packages, maven_delta) if p]
    jars = [] if settings.spark.packages else [str(iceberg_runtime_jar())]
    jars += [str(j) for j in local_delta]
    if packages:
        conf["spark.jars.packages"] = ",".join(packages)
    if jars:
        conf["spark.jars"] = ",".join(jars)
    if delta:
        # Delta's catalog takes the session catalog (path tables are spark_catalog.delta.`<location>`); tables
        # named without a catalog still resolve in the Iceberg catalog, which stays the default.
        conf["spark.sql.catalog.spark_catalog"] = DELTA_CATALOG
    # the catalog's bearer auth (credential or token, and the token endpoint): Iceberg's RESTCatalog takes the same
    # properties as pyiceberg (lakehouse.catalog_client.connection.CatalogConnection)
    from lakehouse.catalog_client.connection import catalog_connection

    auth = catalog_connection(settings, catalog_uri).properties()
    if auth:
        auth["rest.auth.type"] = "oauth2"  # named, or Iceberg logs that it inferred it
    conf.update({f"spark.sql.catalog.{name}.{key}": value for key, value in auth.items()})
    conf.update(settings.spark.conf)
    return conf


def delta_requested(settings: Settings) -> bool:
    """Whether the settings ask for native Delta (Delta jars named by coordinates or files)."""
    return bool(delta_packages(settings.spark.delta_packages) or delta_jar_files(settings.spark.delta_jars))


def build_spark(
    settings: Settings | None = None,
    *,
    app_name: str = "lakehouse",
    master: str | None = None,
    catalog_uri: str | None = None,
    conf: Mapping[str, str] | None = None,
) -> SparkSession:
    """Build (or return the active) SparkSession wired to the lakehouse catalog.

    ``catalog_uri`` defaults to the configured external catalog, else the embedded service, started on demand.

    Example::

        spark = build_spark(master="local[2]")
        spark.sql("SELECT count(*) FROM lake.docs.documents").show()
    """
    from pyspark.sql import SparkSession

    from lakehouse.catalog_client.connection import ensure_catalog

    with translate_jvm_death():
        active = SparkSession.getActiveSession()  # a dead JVM fails here, in py4j
    if active is not None:
        # one session per process: a job run inside another (the demo runs ingest, then embed) shares it, and its
        # static settings could not change anyway once the JVM runs
        return active
    settings = settings or load_settings()
    check_java()
    uri = catalog_uri or ensure_catalog(settings)
    builder = SparkSession.builder.appName(app_name)
    applied = {**spark_conf(settings, uri, master=master), **(conf or {})}
    for key, value in applied.items():
        builder = builder.config(key, value)
    with warnings.catch_warnings():
        # Starting the JVM is a fork+exec; lance's at-fork warning does not apply to it.
        warnings.filterwarnings("ignore", message="lance is not fork-safe")
        try:
            spark = builder.getOrCreate()
        except Exception as exc:
            if "spark.jars.packages" not in applied:
                raise
            raise EnvironmentSetupError(
                f"Spark did not start with spark.jars.packages={applied['spark.jars.packages']} ({exc})",
                hint="Maven must be reachable to resolve packages; where it is not, give local jar files instead "
                "(spark.delta_jars for Delta; the Iceberg jar ships with snowpark-connect-deps-iceberg)",
            ) from exc
    spark.sparkContext.setLogLevel("WARN")
    if delta_requested(settings) and not delta_native_available(spark):
        jars = applied.get("spark.jars.packages") or applied.get("spark.jars")
        spark.stop()
        raise EnvironmentSetupError(
            f"native Delta was configured but {DELTA_EXTENSION} does not load in the Spark JVM (jars: {jars})",
            hint="name delta-spark_2.12 3.x and delta-storage jars matching Spark 3.5 in spark.delta_jars, or unset "
            "spark.delta_packages/spark.delta_jars to use the executor-write + delta-rs commit path",
        )
    # PySpark takes the workers' interpreter from $PYSPARK_PYTHON (default "python3" on PATH), not from the
    # spark.pyspark.python setting, when the JVM is started from Python. Point UDFs at this virtualenv's
    # interpreter (or the configured one) without touching os.environ.
    spark.sparkContext.pythonExec = (
        settings.spark.conf.get("spark.pyspark.python") or os.environ.get("PYSPARK_PYTHON") or sys.executable
    )
    # the SQL functions (cosine_similarity, embed...) are the SQL layer's: it registers them on the session it runs
    # on (lakehouse.sql.spark.SparkExecutor), and raw spark.sql users call lakehouse.sql.spark.register_functions
    return spark
