"""``lakehouse serve``: search and similarity SQL over HTTP from one warm process.

The embedding model (loaded at the first text query), the catalog clients, the opened Lance indexes and a pool of
DuckDB sessions stay warm between requests, so a query costs its own work, not a process start and a model load.

Example::

    lakehouse serve --port 8765 &
    TOKEN=$(lakehouse serve token)
    curl -s -H "Authorization: Bearer $TOKEN" -d '{"table": "docs.embeddings", "text": "snapshot isolation", "k": 3}' \\
         http://127.0.0.1:8765/v1/search
"""

from lakehouse.serve.process import DEFAULT_PORT, ServeInfo, call, run, running, stop

__all__ = ["DEFAULT_PORT", "ServeInfo", "call", "run", "running", "stop"]
