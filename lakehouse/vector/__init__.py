"""Vector columns: the spec kept in table properties, Arrow conversions, validation and exact kernels."""

from lakehouse.vector.arrow import storage_type, to_fixed_size_list, to_numpy, to_storage_list, vector_type
from lakehouse.vector.distance import scores, top_k
from lakehouse.vector.spec import KEY_COLUMN_PROPERTY, METRICS, Metric, VectorSpec, specs_from_properties
from lakehouse.vector.validate import check_keys, check_table, check_vectors, refuse_empty

__all__ = [
    "KEY_COLUMN_PROPERTY",
    "METRICS",
    "Metric",
    "VectorSpec",
    "check_keys",
    "check_table",
    "check_vectors",
    "refuse_empty",
    "scores",
    "specs_from_properties",
    "storage_type",
    "to_fixed_size_list",
    "to_numpy",
    "to_storage_list",
    "top_k",
    "vector_type",
]
