"""A command that embeds one query text loads the model with one torch intra-op thread.

torch defaults to one intra-op thread per core; for one short query those threads spin against each other and
whatever else runs: on shared, busy cores one thread embedded a query many times faster than one per core (at idle
both are quick; figures: BENCHMARKS.md, design measurements, 'one torch thread per query'). Batch embedding
(``lakehouse embed``, ``embed(column)``) keeps the default.
"""

from __future__ import annotations

import sys

__all__ = ["load_query_model"]


def load_query_model(name: str | None) -> None:
    """Load model ``name`` now (a model that does not exist is reported as usual by the search), and give torch one
    intra-op thread when the model runs on it."""
    if not name:
        return
    from lakehouse.embed import get_model
    from lakehouse.errors import ModelError

    try:
        get_model(name)
    except ModelError:
        return  # the search itself says what is wrong, with its usual hint
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)
