"""Lineage datasets of tables of either format, for jobs that reach their tables through
:class:`lakehouse.table.spark.io.SparkTable` (``table.dataset(TableDatasets(settings), output=True)``).

Iceberg datasets carry the Iceberg schema, catalog and snapshot summary statistics
(:func:`~lakehouse.lineage.events.iceberg_input` / :func:`~lakehouse.lineage.events.iceberg_output`); Delta ones the
same namespace and name, the Delta version as the dataset version and an Arrow schema facet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lakehouse.lineage import facets as f
from lakehouse.lineage.events import dataset_name, dataset_namespace, iceberg_input, iceberg_output

if TYPE_CHECKING:
    from lakehouse.config import Settings

__all__ = ["TableDatasets"]


class TableDatasets:
    """A :class:`~lakehouse.table.spark.io.DatasetBuilder`. ``refresh=False``: an Iceberg output's metadata was
    loaded after the commit already (saves a catalog round trip)."""

    def __init__(self, settings: Settings, *, refresh: bool = True) -> None:
        self.settings = settings
        self.refresh = refresh

    def iceberg(
        self, table: Any, *, output: bool, snapshot_id: int | None, extra_facets: Mapping[str, Any] | None
    ) -> Any:
        if not output:
            return iceberg_input(table, self.settings, snapshot_id=snapshot_id)
        return iceberg_output(
            table, self.settings, snapshot_id=snapshot_id, extra_facets=extra_facets, refresh=self.refresh
        )

    def delta(
        self, table: Any, *, output: bool, snapshot_id: int | None, extra_facets: Mapping[str, Any] | None
    ) -> Any:
        from openlineage.client.event_v2 import InputDataset, OutputDataset

        version = table.snapshot_id if snapshot_id is None else snapshot_id
        facets: dict[str, Any] = {"schema": f.schema_facet_from_arrow(table.arrow_schema())}
        version_facet = f.version_facet(version)
        if version_facet is not None:
            facets["version"] = version_facet
        facets.update(extra_facets or {})
        cls = OutputDataset if output else InputDataset
        return cls(
            namespace=dataset_namespace(self.settings),
            name=dataset_name(table.identifier, self.settings),
            facets=facets,
        )
