"""The embed job, in one place: parameters and options (:mod:`~lakehouse.embedding.params`,
:mod:`~lakehouse.embedding.options`), what it reads of the source (:mod:`~lakehouse.embedding.source`), chunking and
embedding (:mod:`~lakehouse.embedding.chunks`), the per-chunk plan (:mod:`~lakehouse.embedding.plan`), where it
writes (:class:`~lakehouse.embedding.target.EmbeddingsTarget`) and the run itself (:mod:`~lakehouse.embedding.job`).

``lakehouse embed`` and the spark-submit entry point ``jobs/embed_table.py`` both call :func:`run`.
"""

from lakehouse.embedding.job import EmbedResult, run
from lakehouse.embedding.params import EmbedParams

__all__ = ["EmbedParams", "EmbedResult", "run"]
