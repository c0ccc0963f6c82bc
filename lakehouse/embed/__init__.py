"""Embedding models and text chunking.

>>> from lakehouse.embed import get_model, chunk_text
>>> model = get_model("hash-32")              # the real default is get_model() -> all-MiniLM-L6-v2
>>> chunks = chunk_text("Some long document text.", chunk_size=1000, overlap=100)
>>> model.embed([c.text for c in chunks]).shape
(1, 32)
"""

from lakehouse.embed.base import EmbeddingModel
from lakehouse.embed.chunking import Chunk, ChunkingError, chunk_text
from lakehouse.embed.hashing import HashingModel
from lakehouse.embed.registry import DEFAULT_MODEL, clear_model_cache, get_model, list_models, register_model

__all__ = [
    "DEFAULT_MODEL",
    "Chunk",
    "ChunkingError",
    "EmbeddingModel",
    "HashingModel",
    "chunk_text",
    "clear_model_cache",
    "get_model",
    "list_models",
    "register_model",
]
