"""Configuration layers: keyword arguments > project lakehouse.yaml > $LAKEHOUSE_HOME/lakehouse.yaml > env vars."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.config import load_settings
from lakehouse.errors import ConfigError


def test_defaults_live_under_the_project_home(tmp_path: Path) -> None:
    s = load_settings(project_dir=tmp_path, environ={})
    assert s.home == tmp_path / ".lakehouse"
    assert s.warehouse == f"file://{tmp_path / '.lakehouse' / 'warehouse'}"
    assert s.catalog_database == f"sqlite:///{tmp_path / '.lakehouse' / 'state' / 'catalog.db'}"
    assert (s.catalog.host, s.catalog.uri, s.spark.master, s.embed.model) == (
        "127.0.0.1",
        None,
        "local[*]",
        "all-MiniLM-L6-v2",
    )


def test_precedence_kwargs_over_project_file_over_home_file_over_env(tmp_path: Path) -> None:
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    (home / "lakehouse.yaml").write_text("spark:\n  master: local[1]\n  driver_memory: 1g\nembed:\n  batch_size: 8\n")
    (project / "lakehouse.yaml").write_text("spark:\n  master: local[3]\n")
    env = {
        "LAKEHOUSE_HOME": str(home),
        "LAKEHOUSE__SPARK__SHUFFLE_PARTITIONS": "7",
        "LAKEHOUSE__EMBED__BATCH_SIZE": "64",
    }
    s = load_settings(project_dir=project, environ=env)
    assert s.home == home
    assert s.spark.master == "local[3]"  # project file beats home file
    assert s.spark.driver_memory == "1g"  # home file
    assert s.embed.batch_size == 8  # home file beats env
    assert s.spark.shuffle_partitions == 7  # env, coerced to int
    s = load_settings(project_dir=project, environ=env, spark={"master": "spark://m:7077"})
    assert s.spark.master == "spark://m:7077"


def test_unknown_and_malformed_settings_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown setting spark.mastr"):
        load_settings(project_dir=tmp_path, environ={"LAKEHOUSE__SPARK__MASTR": "x"})
    with pytest.raises(ConfigError, match="must be an integer"):
        load_settings(project_dir=tmp_path, environ={"LAKEHOUSE__CATALOG__PORT": "eighty"})
    (tmp_path / "lakehouse.yaml").write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(project_dir=tmp_path, environ={})
