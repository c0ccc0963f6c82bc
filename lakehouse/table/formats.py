"""Which table format a table uses, and where Delta tables live.

Iceberg tables are found through the REST catalog. Delta tables need no registry: a table ``<ns>.<name>`` lives at
``<delta_root>/<ns>/<name>`` (``delta_root`` defaults to ``<warehouse>/_delta``), so every engine that can read a Delta
log (delta-rs, DuckDB ``delta_scan``, Spark with or without the Delta jars) finds it from the identifier alone.
"""

from __future__ import annotations

from lakehouse.catalog_client.names import split_identifier
from lakehouse.config import TABLE_FORMATS, Settings, TableFormat
from lakehouse.errors import ConfigError

__all__ = ["TABLE_FORMATS", "TableFormat", "check_format", "delta_location", "delta_root"]


def check_format(value: str | None, settings: Settings) -> TableFormat:
    """``value`` (or the configured default) as a known table format."""
    written = (value or settings.format).lower()
    fmt = next((f for f in TABLE_FORMATS if f == written), None)
    if fmt is None:
        raise ConfigError(f"unknown table format {value!r}", hint=f"use one of {', '.join(TABLE_FORMATS)}")
    return fmt


def delta_root(settings: Settings) -> str:
    """The URI under which Delta tables live (``delta_root`` setting, else ``<warehouse>/_delta``)."""
    return (settings.delta_root or f"{settings.warehouse.rstrip('/')}/_delta").rstrip("/")


def delta_location(identifier: str, settings: Settings) -> str:
    """``docs.embeddings`` -> ``file:///.../warehouse/_delta/docs/embeddings``."""
    ns, name = split_identifier(identifier, settings)
    return f"{delta_root(settings)}/{ns.replace('.', '/')}/{name}"
