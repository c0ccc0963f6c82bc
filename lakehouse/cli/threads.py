"""A command that embeds one query text loads the model with one torch intra-op thread.

torch defaults to one intra-op thread per core; for one short query those threads spin against each other and
whatever else runs: on 2 shared cores at a load of 25, embedding one query took 650-970 ms with 2 threads and 61 ms
with 1 (at idle both take milliseconds). Batch embedding (``lakehouse embed``, ``embed(column)``) keeps the default.
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
