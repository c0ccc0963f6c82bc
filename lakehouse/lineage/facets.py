"""OpenLineage facets for lakehouse tables: standard ones built from Iceberg metadata, plus ``lakehouse_vectorSpec``.

Standard facets come from ``openlineage.client.facet_v2`` (spec 2-0-2): dataset version (the Iceberg snapshot id),
schema, catalog, output statistics, column lineage, error message, parent run, job type and execution parameters.

The one custom facet, ``lakehouse_vectorSpec``, follows the spec's rule for custom facets: a producer-prefixed key, a
class derived from ``DatasetFacet`` and a ``_schemaURL`` naming its JSON schema, which ships with the package
(``lakehouse/lineage/schemas/VectorSpecDatasetFacet.json``).
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import attr
from openlineage.client.facet_v2 import (
    DatasetFacet,
    catalog_dataset,
    column_lineage_dataset,
    dataset_version_dataset,
    error_message_run,
    execution_parameters_run,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    schema_dataset,
)
from openlineage.client.utils import RedactMixin

from lakehouse._version import __version__

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.schema import Schema as IcebergSchema

    from lakehouse.vector import VectorSpec

__all__ = [
    "FACET_SCHEMA_BASE",
    "Derivation",
    "PRODUCER",
    "VECTOR_SPEC_FACET",
    "VectorColumn",
    "VectorSpecDatasetFacet",
    "catalog_facet",
    "column_lineage_facet",
    "embedding_column_lineage",
    "error_facet",
    "job_type_facet",
    "output_statistics_facet",
    "parameters_facet",
    "parent_facet",
    "schema_facet",
    "schema_facet_from_arrow",
    "vector_spec_facet",
    "version_facet",
]

# Where this project's producer and custom facet schemas are published. The schema file itself ships in the package;
# replace the base when the project has a public home (the value only has to be a stable, versioned URI).
PROJECT_URL = "https://lakehouse.example/lakehouse"
PRODUCER = f"{PROJECT_URL}/tree/{__version__}"
FACET_SCHEMA_BASE = f"{PROJECT_URL}/spec/facets/1-0-0"
VECTOR_SPEC_FACET = "lakehouse_vectorSpec"

InputRef = tuple[str, str, str]  # (dataset namespace, dataset name, column)


# -- the custom facet ---------------------------------------------------------------------------------------------
@attr.define
class VectorColumn(RedactMixin):
    """The vector spec of one column, as recorded in ``lakehouse.vector.<column>.*`` table properties."""

    column: str
    dim: int
    metric: str
    model: str | None = attr.field(default=None)
    modelVersion: str | None = attr.field(default=None)  # noqa: N815
    sourceColumn: str | None = attr.field(default=None)  # noqa: N815
    normalized: bool = attr.field(default=False)

    _skip_redact: ClassVar[list[str]] = ["column", "dim", "metric", "model", "modelVersion", "sourceColumn"]


@attr.define
class VectorSpecDatasetFacet(DatasetFacet):
    """``lakehouse_vectorSpec``: the vector columns of a dataset (dimension, metric, model, source column)."""

    vectors: list[VectorColumn] = attr.field(factory=list)

    @staticmethod
    def _get_schema() -> str:
        return f"{FACET_SCHEMA_BASE}/VectorSpecDatasetFacet.json#/$defs/VectorSpecDatasetFacet"


def vector_spec_facet(specs: Iterable[VectorSpec]) -> VectorSpecDatasetFacet:
    return VectorSpecDatasetFacet(
        vectors=[
            VectorColumn(
                column=s.column,
                dim=s.dim,
                metric=s.metric,
                model=s.model,
                modelVersion=s.model_version,
                sourceColumn=s.source_column,
                normalized=s.normalized,
            )
            for s in specs
        ],
        producer=PRODUCER,
    )


# -- dataset facets -----------------------------------------------------------------------------------------------
def version_facet(snapshot_id: int | None) -> dataset_version_dataset.DatasetVersionDatasetFacet | None:
    """The Iceberg snapshot id as the dataset version (None for a table with no snapshot yet)."""
    if snapshot_id is None:
        return None
    return dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=str(snapshot_id), producer=PRODUCER)


def schema_facet(schema: IcebergSchema) -> schema_dataset.SchemaDatasetFacet:
    """A schema facet from an Iceberg schema (nested struct, list and map fields become nested ``fields``)."""
    from pyiceberg.types import ListType, MapType, NestedField, StructType

    def convert(f: NestedField, position: int | None) -> schema_dataset.SchemaDatasetFacetFields:
        children: list[schema_dataset.SchemaDatasetFacetFields] = []
        t = f.field_type
        if isinstance(t, StructType):
            children = [convert(c, None) for c in t.fields]
        elif isinstance(t, ListType):
            children = [convert(t.element_field, None)] if not t.element_field.field_type.is_primitive else []
        elif isinstance(t, MapType) and not t.value_field.field_type.is_primitive:
            children = [convert(t.value_field, None)]
        return schema_dataset.SchemaDatasetFacetFields(
            name=f.name,
            type=str(t),
            description=f.doc,
            ordinal_position=position,
            fields=children,
        )

    return schema_dataset.SchemaDatasetFacet(
        fields=[convert(f, i + 1) for i, f in enumerate(schema.fields)], producer=PRODUCER
    )


def schema_facet_from_arrow(schema: pa.Schema) -> schema_dataset.SchemaDatasetFacet:
    """A flat schema facet from an Arrow schema (for inputs that are not Iceberg tables)."""
    return schema_dataset.SchemaDatasetFacet(
        fields=[
            schema_dataset.SchemaDatasetFacetFields(name=f.name, type=str(f.type), ordinal_position=i + 1)
            for i, f in enumerate(schema)
        ],
        producer=PRODUCER,
    )


def catalog_facet(name: str, *, uri: str | None, warehouse: str | None) -> catalog_dataset.CatalogDatasetFacet:
    return catalog_dataset.CatalogDatasetFacet(
        framework="iceberg", type="rest", name=name, metadataUri=uri, warehouseUri=warehouse, producer=PRODUCER
    )


def output_statistics_facet(
    rows: int | None, size: int | None = None, files: int | None = None
) -> output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet:
    return output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
        rowCount=rows, size=size, fileCount=files, producer=PRODUCER
    )


class Derivation(NamedTuple):
    """How one output column derives from input columns (OpenLineage column lineage, facet 1-2-0)."""

    inputs: Sequence[InputRef]
    type: str = "DIRECT"  # DIRECT | INDIRECT
    subtype: str = "TRANSFORMATION"  # IDENTITY | TRANSFORMATION | AGGREGATION (direct); JOIN | FILTER ... (indirect)
    description: str | None = None
    masking: bool | None = None  # True when the output hides the input (a hash)


def column_lineage_facet(fields: Mapping[str, Derivation]) -> column_lineage_dataset.ColumnLineageDatasetFacet:
    """Column lineage from ``{output column: Derivation}``."""
    out: dict[str, column_lineage_dataset.Fields] = {}
    for column, d in fields.items():
        transformation = column_lineage_dataset.Transformation(
            type=d.type, subtype=d.subtype, description=d.description, masking=d.masking
        )
        out[column] = column_lineage_dataset.Fields(
            inputFields=[
                column_lineage_dataset.InputField(namespace=ns, name=name, field=col, transformations=[transformation])
                for ns, name, col in d.inputs
            ]
        )
    return column_lineage_dataset.ColumnLineageDatasetFacet(fields=out, producer=PRODUCER)


def embedding_column_lineage(
    source_namespace: str,
    source_name: str,
    *,
    text_column: str,
    key_column: str,
    vector_column: str = "embedding",
    model: str,
    model_version: str | None,
    chunk_size: int | None = None,
    chunk_overlap: int | None = None,
) -> column_lineage_dataset.ColumnLineageDatasetFacet:
    """Column lineage of an embeddings table written by ``jobs/embed_table.py``.

    ``embedding`` <- text (chunking + model); ``chunk_text``, ``chunk_*`` spans and ``content_sha256`` <- text;
    ``source_key`` <- key; ``embedding_id`` <- key (hashed with the table, chunk index and model). The constant
    lineage columns (source_table, source_snapshot_id, model, model_version, run_id) have no input column.
    """
    text = [(source_namespace, source_name, text_column)]
    key = [(source_namespace, source_name, key_column)]
    chunking = "chunk_text" + (f"(chunk_size={chunk_size}, overlap={chunk_overlap})" if chunk_size else "")
    embed = f"{chunking} -> {model}" + (f"@{model_version}" if model_version else "")
    return column_lineage_facet(
        {
            vector_column: Derivation(text, description=embed),
            "chunk_text": Derivation(text, description=f"{chunking}: text[chunk_start:chunk_end]"),
            "chunk_index": Derivation(text, description=f"{chunking}: ordinal of the chunk in the row"),
            "chunk_start": Derivation(text, description=f"{chunking}: start offset in characters"),
            "chunk_end": Derivation(text, description=f"{chunking}: end offset in characters, exclusive"),
            "content_sha256": Derivation(
                text, description="sha256(utf-8 of text[chunk_start:chunk_end])", masking=True
            ),
            "source_key": Derivation(key, subtype="IDENTITY", description="cast to string"),
            "embedding_id": Derivation(
                key, description="sha256(source_table|source_key|chunk_index|model)[:32]", masking=True
            ),
        }
    )


# -- run and job facets -------------------------------------------------------------------------------------------
def error_facet(exc: BaseException) -> error_message_run.ErrorMessageRunFacet:
    return error_message_run.ErrorMessageRunFacet(
        message=f"{type(exc).__name__}: {exc}",
        programmingLanguage="PYTHON",
        stackTrace="".join(traceback.format_exception(exc)),
        producer=PRODUCER,
    )


def parent_facet(
    run_id: str, job_namespace: str, job_name: str, *, root: tuple[str, str, str] | None = None
) -> parent_run.ParentRunFacet:
    """The parent run (and the root of the chain, ``(run_id, namespace, name)``, when the parent has a parent)."""
    root_run_id, root_ns, root_name = root or (run_id, job_namespace, job_name)
    return parent_run.ParentRunFacet(
        run=parent_run.Run(runId=run_id),
        job=parent_run.Job(namespace=job_namespace, name=job_name),
        root=parent_run.Root(
            run=parent_run.RootRun(runId=root_run_id), job=parent_run.RootJob(namespace=root_ns, name=root_name)
        ),
        producer=PRODUCER,
    )


def parameters_facet(params: Mapping[str, Any]) -> execution_parameters_run.ExecutionParametersRunFacet:
    """Job parameters as strings (``None`` values are kept as absent values, not the string 'None')."""
    return execution_parameters_run.ExecutionParametersRunFacet(
        parameters=[
            execution_parameters_run.ExecutionParameter(key=str(k), value=None if v is None else str(v))
            for k, v in params.items()
        ],
        producer=PRODUCER,
    )


def job_type_facet(job_type: str = "JOB") -> job_type_job.JobTypeJobFacet:
    return job_type_job.JobTypeJobFacet(
        processingType="BATCH", integration="LAKEHOUSE", jobType=job_type, producer=PRODUCER
    )
