"""The contract every embedding model follows."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from lakehouse.errors import ModelError


class EmbeddingModel(ABC):
    """Turns texts into a float32 matrix of shape ``(len(texts), dim)``.

    ``name`` identifies the model family (``all-MiniLM-L6-v2``); ``version`` changes whenever the produced vectors
    could change (package version, weights hash), so a table can tell stale vectors from current ones.

    Subclasses implement :meth:`_embed_batch`; :meth:`embed` validates the input, batches by ``batch_size`` and
    guarantees the output contract (float32, C-contiguous, ``(0, dim)`` for no input).

    >>> from lakehouse.embed import HashingModel
    >>> HashingModel(dim=8).embed(["hello world"]).shape
    (1, 8)
    """

    name: str
    version: str
    dim: int
    normalized: bool
    max_tokens: int | None = None
    batch_size: int = 32

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` in batches of ``batch_size``; returns float32 of shape ``(n, dim)``, C-contiguous."""
        if isinstance(texts, str):
            raise ModelError(
                "embed() takes a sequence of texts, not a single string", hint="wrap it in a list: embed([text])"
            )
        items = list(texts)
        for i, text in enumerate(items):
            if not isinstance(text, str):
                raise ModelError(
                    f"text #{i} is {type(text).__name__}, not str", hint="convert or drop non-text values first"
                )
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.empty((len(items), self.dim), dtype=np.float32)
        step = max(1, int(self.batch_size))
        for lo in range(0, len(items), step):
            batch = items[lo : lo + step]
            vectors = np.asarray(self._embed_batch(batch), dtype=np.float32)
            if vectors.shape != (len(batch), self.dim):
                raise ModelError(
                    f"model {self.name} returned shape {vectors.shape} for {len(batch)} texts, expected "
                    f"({len(batch)}, {self.dim})"
                )
            out[lo : lo + len(batch)] = vectors
        return out

    @abstractmethod
    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        """Embed one batch (never empty); may return any float dtype of shape ``(len(texts), dim)``."""

    def describe(self) -> dict[str, object]:
        """Provenance to store next to the vectors (table properties, schema metadata)."""
        return {
            "name": self.name,
            "version": self.version,
            "dim": self.dim,
            "normalized": self.normalized,
            "max_tokens": self.max_tokens,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, version={self.version!r}, dim={self.dim})"
