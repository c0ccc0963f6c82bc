"""Name -> model factory, with a per-process cache so each model loads once per process (and per Spark worker).

>>> get_model("hash-16").dim
16
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from lakehouse.embed.base import EmbeddingModel
from lakehouse.errors import ModelError

DEFAULT_MODEL = "all-MiniLM-L6-v2"

Factory = Callable[..., EmbeddingModel]

_FACTORIES: dict[str, Factory] = {}
_DISPLAY: dict[str, str] = {}  # lower-case key -> the name as registered
_ALIASES: dict[str, str] = {}
_SIZED: set[str] = set()  # names that also accept "<name>-<dim>", e.g. hash-64
_CACHE: dict[tuple[str, tuple[tuple[str, Any], ...]], EmbeddingModel] = {}
_KEY_LOCKS: dict[tuple[str, tuple[tuple[str, Any], ...]], threading.Lock] = {}
_LOCK = threading.RLock()
_SIZED_NAME = re.compile(r"^(?P<base>.+)-(?P<dim>\d+)$")


def register_model(name: str, factory: Factory, *, aliases: Iterable[str] = (), sized: bool = False) -> None:
    """Make ``factory(**options)`` available as ``name`` (case-insensitive).

    ``sized`` lets ``name-<n>`` pass ``dim=n``.
    """
    key = name.lower()
    with _LOCK:
        _FACTORIES[key] = factory
        _DISPLAY[key] = name
        _ALIASES[key] = key
        for alias in aliases:
            _ALIASES[alias.lower()] = key
        if sized:
            _SIZED.add(key)


def list_models() -> list[str]:
    """Registered model names as registered (``hash`` also answers to ``hash-<dim>``)."""
    with _LOCK:
        return sorted(_DISPLAY.values(), key=str.lower)


def _resolve(name: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    key = name.lower()
    if key in _ALIASES:
        return _ALIASES[key], options
    match = _SIZED_NAME.match(key)
    if match and _ALIASES.get(match["base"]) in _SIZED:
        return _ALIASES[match["base"]], {**options, "dim": int(match["dim"])}
    names = [_DISPLAY[k] for k in _FACTORIES] + [a for a, k in _ALIASES.items() if a != k]
    known = ", ".join(sorted(names + [f"{s}-<dim>" for s in _SIZED], key=str.lower))
    raise ModelError(f"unknown embedding model {name!r}", hint=f"known models: {known}", model=name)


def get_model(name: str | None = None, **options: Any) -> EmbeddingModel:
    """The model called ``name`` (default all-MiniLM-L6-v2), built once per process for each name + options.

    Thread-safe: concurrent callers for the same key wait for one load; different keys load in parallel.
    """
    canonical, opts = _resolve(name or DEFAULT_MODEL, dict(options))
    try:
        cache_key = (canonical, tuple(sorted(opts.items())))
        hash(cache_key)
    except TypeError as exc:
        raise ModelError(f"model options must be hashable values, got {opts!r}") from exc
    with _LOCK:
        model = _CACHE.get(cache_key)
        if model is not None:
            return model
        key_lock = _KEY_LOCKS.setdefault(cache_key, threading.Lock())
        factory = _FACTORIES[canonical]
    with key_lock:
        with _LOCK:
            model = _CACHE.get(cache_key)
        if model is None:
            try:
                model = factory(**opts)
            except TypeError as exc:
                raise ModelError(f"bad options for model {canonical!r}: {exc}", model=canonical) from exc
            with _LOCK:
                _CACHE[cache_key] = model
    return model


def clear_model_cache() -> None:
    """Forget loaded models (tests, or to free memory)."""
    with _LOCK:
        _CACHE.clear()
        _KEY_LOCKS.clear()


def _minilm(**options: Any) -> EmbeddingModel:
    from lakehouse.embed.minilm import MiniLMModel  # lazy: torch is heavy and optional for most callers

    return MiniLMModel(**options)


def _hashing(**options: Any) -> EmbeddingModel:
    from lakehouse.embed.hashing import HashingModel

    return HashingModel(**options)


register_model(DEFAULT_MODEL, _minilm, aliases=("minilm", "all-minilm-l6-v2", "sentence-transformers/all-MiniLM-L6-v2"))
register_model("hash", _hashing, sized=True)
