"""Tables with vector columns: the catalog connection and ``VectorTable``."""

from lakehouse.table.catalog import ensure_catalog, load_catalog, split_identifier
from lakehouse.table.vector_table import VectorTable

__all__ = ["VectorTable", "ensure_catalog", "load_catalog", "split_identifier"]
