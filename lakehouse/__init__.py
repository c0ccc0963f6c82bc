"""lakehouse: a lakehouse-native AI data layer.

Vector columns live in Iceberg tables beside structured data (spec in table properties), Spark jobs write them
through one REST catalog that Spark, pyiceberg and DuckDB share.

>>> from lakehouse import VectorSpec
>>> VectorSpec("embedding", dim=384).metric
'cosine'
"""

from typing import TYPE_CHECKING

from lakehouse.config import Settings, load_settings
from lakehouse.errors import LakehouseError

if TYPE_CHECKING:
    from lakehouse.table import VectorTable
    from lakehouse.vector import VectorSpec

from lakehouse._version import __version__


def __getattr__(name: str) -> object:
    # VectorTable pulls in pyiceberg, VectorSpec numpy and pyarrow: keep `import lakehouse` (every CLI start) light
    if name == "VectorTable":
        import lakehouse.index  # noqa: F401  (registers table.index(column): tables know nothing of indexes)
        from lakehouse.table import VectorTable

        return VectorTable
    if name == "VectorSpec":
        from lakehouse.vector import VectorSpec

        return VectorSpec
    raise AttributeError(name)


def _load_index_support() -> None:
    """Import lakehouse.index, which registers ``table.index(column)`` (called by a table whose opener is unset:
    ``from lakehouse.table import VectorTable`` imports no index, and tables may not import one themselves)."""
    import lakehouse.index  # noqa: F401


__all__ = ["LakehouseError", "Settings", "VectorSpec", "VectorTable", "__version__", "load_settings"]
