"""Similarity SQL: one ``lakehouse`` dialect, run on DuckDB or Spark, sped up by the ANN index, transpiled faithfully.

Pipeline: :mod:`.dialect` -> :mod:`.parse` (read-only check) -> :mod:`.resolve` (catalog, ``embed``,
``vector_search``) -> :mod:`.plan` (ANN or exact, and why) -> :mod:`.execute` (:mod:`.duckdb`, :mod:`.spark`; on the
ANN path the rows come from :mod:`.candidates` and :mod:`.payload`); :mod:`.transpile` renders the same tree for
other engines through :mod:`.targets`.

>>> from lakehouse.sql import transpile
>>> transpile("SELECT cosine_distance(v, [1, 0]) FROM t", to="snowflake").sql
'SELECT (1 - VECTOR_COSINE_SIMILARITY(v, [1, 0]::VECTOR(FLOAT, 2))) FROM t'
"""

from typing import TYPE_CHECKING

from lakehouse.sql.transpile import TRANSPILE_TARGETS, Transpiled, transpile

if TYPE_CHECKING:
    from lakehouse.sql.api import Engine, SqlSession, explain, query


def __getattr__(name: str) -> object:
    # the executors pull in the index, DuckDB and the payload readers: transpiling needs none of them
    if name in ("Engine", "SqlSession", "explain", "query"):
        import lakehouse.sql.api as api

        return getattr(api, name)
    raise AttributeError(name)


__all__ = ["TRANSPILE_TARGETS", "Engine", "SqlSession", "Transpiled", "explain", "query", "transpile"]
