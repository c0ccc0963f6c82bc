"""Native Delta settings -> Spark configuration, and the pure helpers of the Delta paths (no JVM, no jars)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from lakehouse.config import load_settings
from lakehouse.errors import EnvironmentSetupError
from lakehouse.spark import runtime
from lakehouse.spark.runtime import (
    DELTA_CATALOG,
    DELTA_EXTENSION,
    DELTA_MAVEN,
    delta_native_available,
    iceberg_runtime_jar,
)
from lakehouse.spark.session import ICEBERG_EXTENSIONS, delta_requested, spark_conf
from lakehouse.table.spark.delta_merge import changed_keys
from lakehouse.table.spark.delta_native import _path_literal, is_delta_conflict
from lakehouse.table.spark.delta_read import delta_sql_identifier
from lakehouse.table.spark.sql_text import quote_string as _sql_string

URI = "http://127.0.0.1:1/catalog"


def _conf(tmp_path: Path, environ: dict[str, str] | None = None, **spark: object) -> dict[str, str]:
    settings = load_settings(project_dir=tmp_path, environ=environ or {}, home=str(tmp_path), spark=spark or None)
    return spark_conf(settings, URI)


def _jars(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "delta-jars"
    folder.mkdir()
    jars = [folder / "delta-spark_2.12-3.3.2.jar", folder / "delta-storage-3.3.2.jar"]
    for jar in jars:
        jar.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip: only existence matters here
    return jars


def test_without_delta_settings_the_session_is_iceberg_only(tmp_path: Path) -> None:
    conf = _conf(tmp_path)
    assert conf["spark.sql.extensions"] == ICEBERG_EXTENSIONS
    assert conf["spark.jars"] == str(iceberg_runtime_jar())
    assert "spark.jars.packages" not in conf and "spark.sql.catalog.spark_catalog" not in conf
    assert not delta_requested(load_settings(project_dir=tmp_path, environ={}, home=str(tmp_path)))


def test_maven_coordinates_add_the_package_extension_and_catalog(tmp_path: Path) -> None:
    conf = _conf(tmp_path, delta_packages=DELTA_MAVEN)
    assert conf["spark.jars.packages"] == DELTA_MAVEN
    assert conf["spark.jars"] == str(iceberg_runtime_jar()), "the shipped Iceberg jar is kept"
    assert conf["spark.sql.extensions"].split(",") == [ICEBERG_EXTENSIONS, DELTA_EXTENSION]
    assert conf["spark.sql.catalog.spark_catalog"] == DELTA_CATALOG
    assert conf["spark.sql.defaultCatalog"] == "lake", "tables named without a catalog stay in Iceberg"


def test_iceberg_and_delta_coordinates_are_joined(tmp_path: Path) -> None:
    iceberg = "org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:1.10.2"
    conf = _conf(tmp_path, packages=iceberg, delta_packages=f" {DELTA_MAVEN} ")
    assert conf["spark.jars.packages"] == f"{iceberg},{DELTA_MAVEN}"
    assert "spark.jars" not in conf


def test_local_jar_files_and_folders_go_to_spark_jars(tmp_path: Path) -> None:
    jars = _jars(tmp_path)
    by_files = _conf(tmp_path, delta_jars=",".join(str(j) for j in jars))
    by_folder = _conf(tmp_path, delta_jars=str(jars[0].parent))
    by_list = _conf(tmp_path, delta_jars=[str(j) for j in jars])  # a YAML list
    expected = ",".join([str(iceberg_runtime_jar()), *(str(j.resolve()) for j in jars)])
    assert by_files["spark.jars"] == by_folder["spark.jars"] == by_list["spark.jars"] == expected
    assert "spark.jars.packages" not in by_files
    assert DELTA_EXTENSION in by_folder["spark.sql.extensions"]
    assert by_folder["spark.sql.catalog.spark_catalog"] == DELTA_CATALOG


def test_environment_variables_and_yaml_configure_delta(tmp_path: Path) -> None:
    jars = _jars(tmp_path)
    conf = _conf(tmp_path, environ={"LAKEHOUSE__SPARK__DELTA_JARS": str(jars[0].parent)})
    assert str(jars[1].resolve()) in conf["spark.jars"]
    conf = _conf(tmp_path, environ={"LAKEHOUSE__SPARK__DELTA_PACKAGES": DELTA_MAVEN})
    assert conf["spark.jars.packages"] == DELTA_MAVEN
    project = tmp_path / "project"
    project.mkdir()
    (project / "lakehouse.yaml").write_text(f"spark:\n  delta_jars:\n    - {jars[0]}\n    - {jars[1]}\n")
    settings = load_settings(project_dir=project, environ={}, home=str(tmp_path))
    assert delta_requested(settings) and spark_conf(settings, URI)["spark.jars"].endswith("delta-storage-3.3.2.jar")
    # an empty variable means "not set"
    assert "spark.sql.catalog.spark_catalog" not in _conf(tmp_path, environ={"LAKEHOUSE__SPARK__DELTA_JARS": ""})


def test_explicit_spark_conf_still_wins(tmp_path: Path) -> None:
    conf = _conf(tmp_path, delta_packages=DELTA_MAVEN, conf={"spark.sql.catalog.spark_catalog": "x.Y"})
    assert conf["spark.sql.catalog.spark_catalog"] == "x.Y"


def test_missing_jars_and_bad_coordinates_are_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "delta-spark_2.12-3.3.2.jar"
    with pytest.raises(EnvironmentSetupError, match="does not exist") as err:
        _conf(tmp_path, delta_jars=str(missing))
    assert str(missing) in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(EnvironmentSetupError, match="holds no .jar"):
        _conf(tmp_path, delta_jars=str(tmp_path / "empty"))
    with pytest.raises(EnvironmentSetupError, match="not Maven coordinates"):
        _conf(tmp_path, delta_packages="delta-spark_2.12-3.3.2.jar")


def test_pip_takes_the_installed_delta_spark_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    versions = {"delta-spark": "3.2.1"}

    def version(name: str) -> str:
        if name not in versions:
            raise runtime.metadata.PackageNotFoundError(name)
        return versions[name]

    monkeypatch.setattr(runtime.metadata, "version", version)
    assert _conf(tmp_path, delta_packages="pip")["spark.jars.packages"] == "io.delta:delta-spark_2.12:3.2.1"
    versions["delta-spark"] = "4.0.0"
    with pytest.raises(EnvironmentSetupError, match="needs a delta-spark 3.x"):
        _conf(tmp_path, delta_packages="pip")
    versions.clear()
    with pytest.raises(EnvironmentSetupError, match="not installed"):
        _conf(tmp_path, delta_packages="pip")


class _Jvm:
    """Stands in for ``spark._jvm``: ``org.apache.spark.util.Utils.classForName`` loads only ``known`` classes."""

    def __init__(self, known: set[str]) -> None:
        self.calls: list[str] = []

        def class_for_name(name: str, initialize: bool, no_spark_loader: bool) -> str:
            self.calls.append(name)
            if name not in known:
                raise RuntimeError(f"java.lang.ClassNotFoundException: {name}")
            return name

        self.org = SimpleNamespace(
            apache=SimpleNamespace(
                spark=SimpleNamespace(util=SimpleNamespace(Utils=SimpleNamespace(classForName=class_for_name)))
            )
        )


def _session(app: str, extensions: str, known: set[str]) -> SimpleNamespace:
    conf = {"spark.sql.extensions": extensions}
    context = SimpleNamespace(applicationId=app, getConf=lambda: SimpleNamespace(get=lambda k, d=None: conf.get(k, d)))
    return SimpleNamespace(sparkContext=context, _jvm=_Jvm(known))


def test_native_delta_needs_the_extension_configured_and_loadable() -> None:
    both = f"{ICEBERG_EXTENSIONS},{DELTA_EXTENSION}"
    assert delta_native_available(_session("app-1", both, {DELTA_EXTENSION}))
    missing_jar = _session("app-2", both, set())  # Spark only logs an extension it cannot load
    assert not delta_native_available(missing_jar) and missing_jar._jvm.calls == [DELTA_EXTENSION]
    not_configured = _session("app-3", ICEBERG_EXTENSIONS, {DELTA_EXTENSION})
    assert not delta_native_available(not_configured) and not_configured._jvm.calls == []
    again = _session("app-2", both, {DELTA_EXTENSION})
    assert not delta_native_available(again) and again._jvm.calls == [], "one answer per Spark application"


def test_delta_sql_identifier_and_string_literals() -> None:
    assert delta_sql_identifier("/lake/t") == "spark_catalog.delta.`file:///lake/t`"
    assert delta_sql_identifier("s3://b/we`ird") == "spark_catalog.delta.`s3://b/we``ird`"
    assert _sql_string("it's a \\ path") == "'it\\'s a \\\\ path'"
    assert _path_literal("/lake/t") == "'file:///lake/t'" and _path_literal("s3://b/t") == "'s3://b/t'"


def test_delta_conflicts_are_recognised_by_name() -> None:
    assert is_delta_conflict(RuntimeError("io.delta.exceptions.ConcurrentAppendException: Files were added"))
    assert is_delta_conflict(RuntimeError("[DELTA_CONCURRENT_DELETE_READ] ConcurrentDeleteReadException"))
    assert is_delta_conflict(RuntimeError("io.delta.exceptions.MetadataChangedException: the metadata changed"))
    assert not is_delta_conflict(RuntimeError("[TABLE_OR_VIEW_NOT_FOUND] the table cannot be found"))


def test_changed_keys_compares_the_change_sets_rows_between_versions() -> None:
    versions = {
        1: [{"id": "a", "v": 1}, {"id": "b", "v": 1}],
        2: [{"id": "a", "v": 1}, {"id": "b", "v": 2}, {"id": "c", "v": 1}],
        3: [{"id": "b", "v": 1}, {"id": "a", "v": 1}],  # same rows, other order
        4: [{"id": "a", "v": 1}, {"id": "a", "v": 1}, {"id": "b", "v": 1}],  # a duplicated
    }
    assert changed_keys(versions.__getitem__, "id", 1, 2) == ["b", "c"]
    assert changed_keys(versions.__getitem__, "id", 1, 3) == []
    assert changed_keys(versions.__getitem__, "id", 1, 4) == ["a"]


def test_spark_sql_names_are_quoted_once_for_both_formats() -> None:
    from lakehouse.table.spark.sql_text import quote_name

    assert quote_name("source`table") == "`source``table`"
