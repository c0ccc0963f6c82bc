"""The embed job's parameters, built once from the command line (either one) and the settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from lakehouse.lineage.events import new_run_id

if TYPE_CHECKING:
    from lakehouse.config import Settings, TableFormat


@dataclass(frozen=True, kw_only=True)
class EmbedParams:
    """What one embed run does. Build it with :meth:`from_settings` (the settings fill what is not given)."""

    source: str  # e.g. docs.documents
    column: str = "text"
    key: str = "key"
    output: str | None = None  # default: <namespace>.embeddings
    model: str = "all-MiniLM-L6-v2"
    chunk_size: int = 800
    chunk_overlap: int = 80
    batch_size: int = 32
    partitions: int | None = None
    reembed: bool = False  # allow a model change: re-embed everything of this source with ``model``
    full: bool = False  # read and compare the whole source even where an incremental read is possible
    plan_only: bool = False  # decide and report; write nothing
    format: TableFormat | None = None  # the output table's format (default: the ``format`` setting)
    run_id: str = field(default_factory=new_run_id)  # the OpenLineage run id (UUIDv7), also written on every row

    @property
    def chunking(self) -> str:
        return f"{self.chunk_size}/{self.chunk_overlap}"

    @classmethod
    def from_settings(cls, settings: Settings, *, source: str, **options: Any) -> EmbedParams:
        """``options`` as given on a command line (None or missing: not given), the rest from ``settings.embed``.

        Unknown options (``master``: the Spark session's, not the run's) are ignored.
        """
        given = {k: v for k, v in options.items() if v is not None and k in _FIELDS}
        embed = settings.embed
        return cls(
            source=source,
            **{
                "model": embed.model,
                "chunk_size": embed.chunk_size,
                "chunk_overlap": embed.chunk_overlap,
                "batch_size": embed.batch_size,
                **given,
            },
        )

    def job_parameters(self) -> Mapping[str, Any]:
        """The parameters as lineage records them (the run id is the run's own)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "run_id"}


_FIELDS = frozenset(f.name for f in fields(EmbedParams)) - {"source", "run_id"}
