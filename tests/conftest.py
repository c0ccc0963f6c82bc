"""Shared fixtures. The catalog service runs once per test session in a temporary folder."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lakehouse.catalog_client.process import CatalogProcess, credential, ensure_running, stop
from lakehouse.config import Settings, load_settings
from lakehouse.spark.runtime import DELTA_EXTENSION, delta_native_available

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class CatalogService:
    """A running catalog service and what it was started with."""

    process: CatalogProcess
    state_dir: Path
    database_url: str

    @property
    def uri(self) -> str:
        return self.process.uri

    @property
    def warehouse(self) -> str:
        return self.process.warehouse

    @property
    def credential(self) -> str:
        """``client_id:secret`` of the service's read-write client (from its 0600 secret file)."""
        return credential(self.state_dir)

    @property
    def reader_credential(self) -> str:
        """The read-only ``analyst`` client's credential."""
        return credential(self.state_dir, "analyst")

    @property
    def catalog_settings(self) -> dict[str, str]:
        """The ``catalog`` settings section that points a client at this service, authenticated."""
        return {"uri": self.uri, "credential": self.credential}

    @property
    def env(self) -> dict[str, str]:
        """``LAKEHOUSE__*`` variables that point a CLI subprocess at this service, authenticated."""
        return {"LAKEHOUSE__CATALOG__URI": self.uri, "LAKEHOUSE__CATALOG__CREDENTIAL": self.credential}

    def headers(self, *, read_only: bool = False) -> dict[str, str]:
        """``Authorization: Bearer`` for raw HTTP calls (a fresh token from the service's token endpoint)."""
        import httpx

        client, _, secret = (self.reader_credential if read_only else self.credential).partition(":")
        form = {"grant_type": "client_credentials", "client_id": client, "client_secret": secret}
        answer = httpx.post(f"{self.uri}/v1/oauth/tokens", data=form, timeout=30)
        answer.raise_for_status()
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def pyiceberg(self, *, read_only: bool = False) -> dict[str, str]:
        """Properties for ``pyiceberg.catalog.load_catalog("lake", type="rest", **props)``."""
        return {
            "uri": self.uri,
            "warehouse": self.warehouse,
            "credential": self.reader_credential if read_only else self.credential,
            "oauth2-server-uri": f"{self.uri}/v1/oauth/tokens",
        }


@pytest.fixture(scope="session")
def catalog_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CatalogService]:
    root = tmp_path_factory.mktemp("catalog")
    (root / "warehouse").mkdir()
    database_url = f"sqlite:///{root / 'catalog.db'}"
    process = ensure_running(
        root / "state", database_url=database_url, warehouse=(root / "warehouse").as_uri(), timeout=60
    )
    try:
        yield CatalogService(process, root / "state", database_url)
    finally:
        stop(root / "state")


def _delta_jars_from_env() -> dict[str, str]:
    """The Delta jars, when the person running the tests names them (they are not on PyPI): with
    LAKEHOUSE__SPARK__DELTA_JARS or LAKEHOUSE__SPARK__DELTA_PACKAGES set, the session runs native Delta and the
    native-mode Delta tests run instead of skipping."""
    names = ("delta_jars", "delta_packages")
    return {
        n: os.environ[f"LAKEHOUSE__SPARK__{n.upper()}"]
        for n in names
        if os.environ.get(f"LAKEHOUSE__SPARK__{n.upper()}")
    }


@pytest.fixture(scope="session")
def lake_settings(catalog_service: CatalogService, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings pointing at the session's catalog service; no user config file or LAKEHOUSE__ variable leaks in
    (except the Delta jars, see :func:`_delta_jars_from_env`)."""
    home = tmp_path_factory.mktemp("lakehouse-home")
    return load_settings(
        project_dir=home,
        environ={},
        home=str(home),
        warehouse=catalog_service.warehouse,
        catalog=catalog_service.catalog_settings,
        spark={"master": "local[2]", "driver_memory": "2g", **_delta_jars_from_env()},
    )


@pytest.fixture(scope="session")
def spark(lake_settings: Settings) -> Iterator[SparkSession]:
    """The one SparkSession of the test session, wired to the session's catalog service."""
    from lakehouse.spark import build_spark
    from lakehouse.sql.spark import register_functions

    session = build_spark(lake_settings, app_name="lakehouse-tests")
    register_functions(session, lake_settings)  # the suite's raw spark.sql calls use the lakehouse functions
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="session")
def architecture():  # noqa: ANN201
    """``infra/archcheck.py``'s analysis of the source tree (imports, layer rules, format branches), made once."""
    import importlib.util

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("archcheck", root / "infra" / "archcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("archcheck", module)  # its dataclasses look their module up while the classes are built
    spec.loader.exec_module(module)
    return module.analyse(root)


# -- from the former delta/ directory's conftest -----------------------------------------------------------------
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


# -- markers from fixtures ------------------------------------------------------------------------------------------
# `make test-fast` runs `-m "not integration and not spark and not slow"`: what needs no JVM and no service, wherever
# its file lives. A test whose fixtures reach the catalog service (lake_settings does) is marked `integration` here,
# one that reaches the session's SparkSession `spark` too; tests that start a JVM or a service themselves (a
# subprocess, a notebook kernel) carry the marker in their module.
_MARKS_BY_FIXTURE = {"catalog_service": ("integration",), "spark": ("spark", "integration")}


@pytest.hookimpl(tryfirst=True)  # before the -m selection, which runs in the same hook
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        for fixture, marks in _MARKS_BY_FIXTURE.items():
            if fixture in fixtures:
                for mark in marks:
                    item.add_marker(mark)
