"""Layered, explicit configuration.

Precedence (highest first): keyword arguments to :func:`load_settings` > ``lakehouse.yaml`` in the project
directory > ``lakehouse.yaml`` in ``$LAKEHOUSE_HOME`` > ``LAKEHOUSE__SECTION__KEY`` environment variables >
built-in defaults. Nothing is read at import time and nothing is written back to ``os.environ``.

The embedded default needs no file at all: everything lives under ``<home>`` (``$LAKEHOUSE_HOME`` or
``./.lakehouse``): ``warehouse/`` for table data, ``state/`` for the catalog database, pid files and logs.

Example ``lakehouse.yaml``::

    catalog:
      uri: http://catalog.internal:8181      # use an external REST catalog; nothing is started locally
    spark:
      master: spark://spark-master:7077
      packages: org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:1.10.2
      delta_packages: io.delta:delta-spark_2.12:3.3.2   # native Delta in Spark (or delta_jars: local jar files)
    embed:
      model: all-MiniLM-L6-v2
    lineage:
      transport: http                        # file (default) | http | console | none
      url: http://marquez.internal:5000      # a Marquez-compatible POST /api/v1/lineage

OpenLineage's own configuration (``OPENLINEAGE__*`` variables, ``openlineage.yml``, ``OPENLINEAGE_DISABLED``) takes
precedence over the ``lineage`` section when present; see :mod:`lakehouse.lineage.emitter`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from lakehouse.errors import ConfigError

ENV_PREFIX = "LAKEHOUSE__"
CONFIG_FILE = "lakehouse.yaml"


@dataclass(frozen=True)
class CatalogSettings:
    uri: str | None = None  # an external Iceberg REST catalog; None = start the embedded service on demand
    host: str = "127.0.0.1"
    port: int = 0  # 0 = pick a free port at start and record it in the state directory
    database: str | None = None  # SQLAlchemy URL; default sqlite:///<state>/catalog.db
    name: str = "lake"  # the Spark catalog name and the default pyiceberg catalog name
    # Auth (issue 12). The embedded service needs nothing here: clients read its generated secret file
    # (<state>/catalog.secret). For an external catalog, or another principal (the read-only "analyst"), give
    # credential "client_id:secret" (exchanged at <uri>/v1/oauth/tokens, or oauth2_server_uri) or a bearer token.
    credential: str | None = field(default=None, repr=False)  # never printed with the settings
    token: str | None = field(default=None, repr=False)
    oauth2_server_uri: str | None = None
    # The embedded service refuses table locations outside the warehouse unless this is set (takes effect at start)
    allow_external_locations: bool = False
    # Seconds a client may reuse a table's metadata after the catalog last confirmed it, without asking again
    # (lakehouse.table.loads). 0: every table load asks (a 304 while unchanged), so no answer misses a commit.
    metadata_max_age_s: float = 0.0


@dataclass(frozen=True)
class SparkSettings:
    master: str = "local[*]"
    packages: str | None = None  # Maven coordinates; replaces the jar shipped in the wheel when set
    # Native Delta in Spark (issue 6): the delta-spark jars are not on PyPI, so they come from the user, either as
    # Maven coordinates ("io.delta:delta-spark_2.12:3.3.2", or "pip": the version of the installed delta-spark
    # package) or as local jar files / folders of jars (comma-separated, or a YAML list). With either set, the
    # session gets the Delta extension and catalog, and Delta tables are written, read and merged by Delta itself.
    # Environment: LAKEHOUSE__SPARK__DELTA_PACKAGES / LAKEHOUSE__SPARK__DELTA_JARS.
    delta_packages: str | None = None
    delta_jars: str | Sequence[str] | None = None
    driver_memory: str = "4g"
    shuffle_partitions: int = 4
    conf: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EmbedSettings:
    model: str = "all-MiniLM-L6-v2"
    batch_size: int = 32
    chunk_size: int = 800  # characters: ~225 MiniLM tokens, inside its 256-token window (1000 averaged 281)
    chunk_overlap: int = 80


ResidentMode = Literal["auto", "on", "off"]
RESIDENT_MODES: tuple[str, ...] = ("auto", "on", "off")


@dataclass(frozen=True)
class IndexSettings:
    # An index version searched often in one process is held in memory and probed with numpy instead of asking Lance
    # (lakehouse.index.resident): "auto" from its resident_after-th search, "on" from the first, "off" never.
    resident: ResidentMode = "auto"
    resident_after: int = 16
    resident_max_mb: int = 1024  # for all the resident versions of one process together
    # decoded row groups of data files that reads by key (payload columns of the ANN path, a hit's chunk text) keep
    # in memory, for the whole process (lakehouse.table.row_groups); 0 keeps none
    payload_cache_mb: int = 256

    def __post_init__(self) -> None:
        if self.resident not in RESIDENT_MODES:
            raise ConfigError(
                f"unknown setting value index.resident={self.resident!r}",
                hint=f"use one of {', '.join(RESIDENT_MODES)}",
            )
        if self.resident_after < 1 or self.resident_max_mb < 0 or self.payload_cache_mb < 0:
            raise ConfigError(
                "index.resident_after must be >= 1, index.resident_max_mb and index.payload_cache_mb >= 0",
                hint="e.g. resident_after: 16, resident_max_mb: 1024, payload_cache_mb: 256",
            )


TableFormat = Literal["iceberg", "delta"]
TABLE_FORMATS: tuple[TableFormat, ...] = ("iceberg", "delta")
LineageTransport = Literal["file", "http", "console", "none"]
LINEAGE_TRANSPORTS: tuple[str, ...] = ("file", "http", "console", "none")


@dataclass(frozen=True)
class LineageSettings:
    transport: LineageTransport = "file"  # used only when OpenLineage's own config is absent
    path: str | None = None  # JSONL file for the file transport; default <state_dir>/lineage.jsonl
    url: str | None = None  # Marquez-compatible base URL (POST <url>/api/v1/lineage); with "file", events go to both
    namespace: str = "lakehouse"  # the OpenLineage job namespace

    def __post_init__(self) -> None:
        if self.transport not in LINEAGE_TRANSPORTS:
            raise ConfigError(
                f"unknown setting value lineage.transport={self.transport!r}",
                hint=f"use one of {', '.join(LINEAGE_TRANSPORTS)}",
            )
        if self.transport == "http" and not self.url:
            raise ConfigError("lineage.transport is 'http' but lineage.url is not set", hint="set lineage.url")


@dataclass(frozen=True)
class Settings:
    home: Path
    warehouse: str  # a URI: file:///..., s3://...
    state_dir: Path
    namespace: str = "docs"
    # Delta Lake support (issue 6): the format new tables get when none is named, and where Delta tables live
    # (default <warehouse>/_delta; a Delta table is <delta_root>/<namespace>/<table>, no registry needed).
    format: TableFormat = "iceberg"
    delta_root: str | None = None
    catalog: CatalogSettings = field(default_factory=CatalogSettings)
    spark: SparkSettings = field(default_factory=SparkSettings)
    embed: EmbedSettings = field(default_factory=EmbedSettings)
    lineage: LineageSettings = field(default_factory=LineageSettings)
    index: IndexSettings = field(default_factory=IndexSettings)

    @property
    def lineage_path(self) -> Path:
        """The JSONL file the embedded lineage default appends to."""
        return Path(self.lineage.path).expanduser().resolve() if self.lineage.path else self.state_dir / "lineage.jsonl"

    @property
    def catalog_database(self) -> str:
        return self.catalog.database or f"sqlite:///{self.state_dir / 'catalog.db'}"

    @property
    def warehouse_path(self) -> Path | None:
        """The local warehouse folder, or None when the warehouse is not on the local file system."""
        if self.warehouse.startswith("file://"):
            return Path(self.warehouse[len("file://") :])
        if "://" not in self.warehouse:
            return Path(self.warehouse)
        return None


_SECTIONS: dict[str, type] = {
    "catalog": CatalogSettings,
    "spark": SparkSettings,
    "embed": EmbedSettings,
    "lineage": LineageSettings,
    "index": IndexSettings,
}
_TOP_LEVEL = {"home", "warehouse", "state_dir", "namespace", "format", "delta_root"}


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}", hint="fix the file or remove it") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of sections, got {type(data).__name__}")
    return data


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        parts = key[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) == 1:
            out[parts[0]] = value
        elif len(parts) == 2:
            out.setdefault(parts[0], {})[parts[1]] = value
        else:
            raise ConfigError(f"environment variable {key} has too many levels", hint="use LAKEHOUSE__SECTION__KEY")
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        elif value is not None:
            merged[key] = value
    return merged


def _coerce(section: str, cls: type, values: Mapping[str, Any]) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        key = key.replace("-", "_")
        if key not in known:
            raise ConfigError(
                f"unknown setting {section}.{key}", hint=f"known settings of [{section}]: {', '.join(sorted(known))}"
            )
        default = known[key].default
        if isinstance(default, bool):
            value = str(value).lower() in {"1", "true", "yes", "on"} if isinstance(value, str) else bool(value)
        elif isinstance(default, int) and not isinstance(value, int):
            try:
                value = int(value)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"setting {section}.{key} must be an integer, got {value!r}") from exc
        kwargs[key] = value
    return cls(**kwargs)


def load_settings(
    project_dir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Resolve settings from keyword overrides, ``lakehouse.yaml`` files and ``LAKEHOUSE__*`` variables.

    >>> s = load_settings(home="/tmp/lh-doc", environ={})
    >>> s.warehouse, s.catalog.host
    ('file:///tmp/lh-doc/warehouse', '127.0.0.1')
    """
    env = dict(os.environ if environ is None else environ)
    layers: list[dict[str, Any]] = [_from_env(env)]
    env_home = env.get("LAKEHOUSE_HOME")
    if env_home and (Path(env_home) / CONFIG_FILE).is_file():
        layers.append(_read_yaml(Path(env_home) / CONFIG_FILE))
    project = Path(project_dir) if project_dir is not None else Path.cwd()
    if (project / CONFIG_FILE).is_file():
        layers.append(_read_yaml(project / CONFIG_FILE))
    layers.append(overrides)

    values: dict[str, Any] = {}
    for layer in layers:
        values = _merge(values, layer)

    unknown = set(values) - _TOP_LEVEL - set(_SECTIONS)
    if unknown:
        raise ConfigError(
            f"unknown setting(s): {', '.join(sorted(unknown))}",
            hint=f"top-level settings are {', '.join(sorted(_TOP_LEVEL))}; sections are {', '.join(_SECTIONS)}",
        )
    home = Path(values.get("home") or env_home or project / ".lakehouse").expanduser().resolve()
    state_dir = Path(values.get("state_dir") or home / "state").expanduser().resolve()
    warehouse = str(values.get("warehouse") or (home / "warehouse"))
    if "://" not in warehouse:
        warehouse = f"file://{Path(warehouse).expanduser().resolve()}"
    sections = {name: _coerce(name, cls, values.get(name) or {}) for name, cls in _SECTIONS.items()}
    written = str(values.get("format") or "iceberg").lower()
    table_format = next((f for f in TABLE_FORMATS if f == written), None)
    if table_format is None:
        raise ConfigError(f"unknown setting value format={written!r}", hint=f"use one of {', '.join(TABLE_FORMATS)}")
    delta_root = values.get("delta_root")
    if delta_root and "://" not in str(delta_root):
        delta_root = f"file://{Path(str(delta_root)).expanduser().resolve()}"
    return Settings(
        home=home,
        warehouse=warehouse,
        state_dir=state_dir,
        namespace=str(values.get("namespace") or "docs"),
        format=table_format,
        delta_root=str(delta_root) if delta_root else None,
        **sections,
    )
