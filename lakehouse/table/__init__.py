"""Tables with vector columns: the catalog connection and ``VectorTable``."""

from lakehouse.catalog_client.connection import ensure_catalog
from lakehouse.catalog_client.names import split_identifier
from lakehouse.table.catalog import load_catalog
from lakehouse.table.vector_table import VectorTable


def __getattr__(name: str) -> object:
    # deltalake is imported only by those who use Delta tables
    if name == "DeltaVectorTable":
        from lakehouse.table.delta import DeltaVectorTable

        return DeltaVectorTable
    raise AttributeError(name)


__all__ = ["DeltaVectorTable", "VectorTable", "ensure_catalog", "load_catalog", "split_identifier"]
