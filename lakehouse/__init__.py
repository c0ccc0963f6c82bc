"""lakehouse: a lakehouse-native AI data layer.

Vector columns live in Iceberg tables beside structured data (spec in table properties), Spark jobs write them
through one REST catalog that Spark, pyiceberg and DuckDB share.

>>> from lakehouse import VectorSpec
>>> VectorSpec("embedding", dim=384).metric
'cosine'
"""

from lakehouse.config import Settings, load_settings
from lakehouse.errors import LakehouseError
from lakehouse.vector import VectorSpec

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # VectorTable pulls in pyiceberg; keep `import lakehouse` light.
    if name == "VectorTable":
        from lakehouse.table import VectorTable

        return VectorTable
    raise AttributeError(name)


__all__ = ["LakehouseError", "Settings", "VectorSpec", "VectorTable", "__version__", "load_settings"]
