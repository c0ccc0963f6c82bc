"""Tables with vector columns: the one table protocol ``VectorTable`` and its Iceberg and Delta implementations.

``load_table``/``create_table`` (and ``VectorTable.load``/``VectorTable.create``) are the only places that pick a
format; everything else calls the protocol's methods.
"""

from lakehouse.catalog_client.connection import ensure_catalog
from lakehouse.catalog_client.names import split_identifier
from lakehouse.table.catalog import load_catalog
from lakehouse.table.delta import DeltaVectorTable
from lakehouse.table.iceberg import IcebergVectorTable
from lakehouse.table.vector_table import VectorTable, create_table, load_table

__all__ = [
    "DeltaVectorTable",
    "IcebergVectorTable",
    "VectorTable",
    "create_table",
    "ensure_catalog",
    "load_catalog",
    "load_table",
    "split_identifier",
]
