"""DuckDB attached to the project's Iceberg REST catalog, working offline.

DuckDB would download its extensions on first use; here they come from the ``duckdb-extension-*`` wheels, loaded by
path, with autoinstall off and the extension directory inside the project's state folder.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import duckdb

from lakehouse.errors import EnvironmentSetupError

__all__ = ["connect_duckdb"]

# httpfs carries the HTTP client the iceberg extension uses to talk to a REST catalog; avro reads manifests.
_EXTENSIONS = ("httpfs", "avro", "iceberg")


def connect_duckdb(
    uri: str,
    warehouse: str,
    extension_dir: str | os.PathLike[str],
    *,
    alias: str = "lake",
    database: str = ":memory:",
) -> duckdb.DuckDBPyConnection:
    """Open DuckDB with the Iceberg REST catalog at ``uri`` attached as ``alias``.

    Example:
        >>> con = connect_duckdb(proc.uri, proc.warehouse, ".lakehouse/duckdb_extensions")  # doctest: +SKIP
        >>> con.sql("SELECT count(*) FROM lake.docs.chunks").fetchone()  # doctest: +SKIP
    """
    Path(extension_dir).mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        database,
        config={
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "false",
            "extension_directory": str(extension_dir),
        },
    )
    try:
        for name in _EXTENSIONS:
            con.load_extension(str(_extension_file(name)))
        con.execute(
            f"ATTACH {_quote(warehouse)} AS {_identifier(alias)} "
            f"(TYPE iceberg, ENDPOINT {_quote(uri)}, AUTHORIZATION_TYPE 'none')"
        )
    except BaseException:
        con.close()
        raise
    return con


def _extension_file(name: str) -> Path:
    version = duckdb.__version__
    package = f"duckdb_extension_{name}"
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            candidate = Path(root) / "extensions" / f"v{version}" / f"{name}.duckdb_extension"
            if candidate.is_file():
                return candidate
    raise EnvironmentSetupError(
        f"The DuckDB {name} extension for duckdb {version} is not installed",
        hint=f"pip install 'duckdb-extension-{name}=={version}'",
        extension=name,
        duckdb_version=version,
    )


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _identifier(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'
