"""A tiny deterministic embedding for fast unit tests. Never a default; it knows nothing of meaning.

Feature hashing: lower-cased word tokens and the character trigrams of each word (padded with ``#``) are hashed
with BLAKE2b (stable across processes, unlike ``hash()``) into ``dim`` buckets with a +/-1 sign, then the
vector is L2-normalised. A text with no word characters (or whose features cancel out) maps to the unit vector of
one fixed sentinel feature rather than to the zero vector, which a cosine column refuses.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

import numpy as np

from lakehouse.embed.base import EmbeddingModel
from lakehouse.errors import ModelError

_WORD = re.compile(r"\w+")
_NO_FEATURES = "<no-features>"  # the one feature of a text that has none (a zero vector has no cosine)


@lru_cache(maxsize=65536)
def _bucket(feature: str, dim: int) -> tuple[int, float]:
    digest = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")
    return digest % dim, (1.0 if (digest >> 63) & 1 else -1.0)


def _features(text: str) -> list[str]:
    features: list[str] = []
    for word in _WORD.findall(text.lower()):
        features.append("w:" + word)
        padded = f"#{word}#"
        features.extend("c:" + padded[i : i + 3] for i in range(len(padded) - 2))
    return features


class HashingModel(EmbeddingModel):
    """``hash-<dim>``: word + character-trigram feature hashing, L2-normalised. For fast unit tests only.

    >>> m = HashingModel(dim=64)
    >>> m.name, m.embed(["a b"]).shape
    ('hash-64', (1, 64))
    """

    VERSION = "1"

    def __init__(self, dim: int = 64, *, batch_size: int = 256) -> None:
        if not isinstance(dim, int) or dim < 2:
            raise ModelError(f"hashing model dim must be an integer >= 2, got {dim!r}")
        self.dim = dim
        self.name = f"hash-{dim}"
        self.version = f"lakehouse-hashing-v{self.VERSION}"
        self.normalized = True
        self.max_tokens = None
        self.batch_size = batch_size

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in _features(text):
                bucket, sign = _bucket(feature, self.dim)
                out[row, bucket] += sign
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        empty = np.flatnonzero(norms[:, 0] == 0)
        if empty.size:
            bucket, sign = _bucket(_NO_FEATURES, self.dim)
            out[empty, bucket] = sign
        return out
