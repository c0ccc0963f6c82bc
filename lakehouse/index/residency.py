"""Which index versions this process holds in memory (:class:`~lakehouse.index.resident.ResidentIVF`), and when.

When a version is loaded is :class:`~lakehouse.config.IndexSettings`' choice: ``resident: auto`` (the default) starts
loading it in a background thread at its ``resident_after``-th search in this process, Lance answering until it is in
memory (seconds: the rows are read and assigned to their partitions), so a one-shot command never pays for it and a
serving process does not stall; ``on`` loads it within the first search; ``off`` never. The copies of one process
share a memory budget (``resident_max_mb``); the least recently used version is dropped first, and a version that
does not fit, or cannot be held (:meth:`ResidentIVF.load` says why), is left to Lance, for good.

The copies are shared by every :class:`~lakehouse.index.VectorIndex` of the process (a serving process's requests
each search their own copy of the index), keyed by the index dataset and its version.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lakehouse.index.resident import ResidentIVF

if TYPE_CHECKING:
    import lance

    from lakehouse.config import IndexSettings

__all__ = ["forget_resident", "resident_version", "wait_for_loads"]

log = logging.getLogger(__name__)

_COUNTED = 4096  # versions whose searches are counted, or that were refused, before the counts start over
_Key = tuple[str, int, str]  # index dataset URI, Lance version, vector column

_lock = threading.Lock()
_loaded: OrderedDict[_Key, ResidentIVF] = OrderedDict()
_refused: dict[_Key, str] = {}
_searches: dict[_Key, int] = {}
_loading: set[_Key] = set()
_threads: list[threading.Thread] = []


def resident_version(
    ds: lance.LanceDataset,
    version: int,
    column: str,
    metric: str,
    columns: Sequence[str],
    settings: IndexSettings,
) -> ResidentIVF | None:
    """The resident copy of this index version when the settings want one now (loading it here), else None."""
    if settings.resident == "off":
        return None
    key = (ds.uri, version, column)
    with _lock:
        found = _loaded.get(key)
        if found is not None:
            _loaded.move_to_end(key)
            return found
        if key in _refused or key in _loading:  # another thread is loading it: Lance answers meanwhile
            return None
        if len(_searches) > _COUNTED:  # versions searched a few times and then left behind
            _searches.clear()
        _searches[key] = seen = _searches.get(key, 0) + 1
        if settings.resident == "auto" and seen < settings.resident_after:
            return None
        _loading.add(key)
    args = (ds, version, column, metric, columns, settings, key)
    if settings.resident != "auto":
        return _load(*args)
    # a warm process: load beside the queries, which Lance answers until it is in
    thread = threading.Thread(target=_load, args=args, name=f"lakehouse-resident-{version}", daemon=True)
    with _lock:
        _threads[:] = [t for t in _threads if t.is_alive()]
        _threads.append(thread)
    thread.start()
    return None


def wait_for_loads(timeout: float = 60.0) -> None:
    """Wait until the versions being loaded in the background are in memory (or were refused)."""
    with _lock:
        threads, _threads[:] = list(_threads), []
    for thread in threads:
        thread.join(timeout)


def _load(
    ds: lance.LanceDataset,
    version: int,
    column: str,
    metric: str,
    columns: Sequence[str],
    settings: IndexSettings,
    key: _Key,
) -> ResidentIVF | None:
    """Load the version within the budget, or record why not; a failure only means Lance keeps answering."""
    try:
        budget = settings.resident_max_mb * 2**20
        estimate = ds.count_rows() * (ds.schema.field(column).type.list_size * 4 + 64)
        if estimate > budget:
            why = f"~{estimate / 2**20:.0f} MB would exceed index.resident_max_mb ({settings.resident_max_mb})"
            _refuse(key, why)
            return None
        loaded = ResidentIVF.load(ds, version, column, metric, columns)
        if isinstance(loaded, str):
            _refuse(key, loaded)
            return None
        with _lock:
            _loaded[key] = loaded
            _searches.pop(key, None)
            while sum(r.nbytes for r in _loaded.values()) > budget and len(_loaded) > 1:
                dropped, _ = _loaded.popitem(last=False)
                log.info("resident index version %s of %s dropped (memory budget)", dropped[1], dropped[0])
        log.info("index version %s of %s held in memory (%.0f MB)", version, ds.uri, loaded.nbytes / 2**20)
        return loaded
    except Exception as exc:  # noqa: BLE001 - say why, and let Lance answer
        _refuse(key, f"loading failed: {exc}")
        return None
    finally:
        with _lock:
            _loading.discard(key)


def _refuse(key: _Key, why: str) -> None:
    with _lock:
        if len(_refused) > _COUNTED:
            _refused.clear()
        _refused[key] = why
        _searches.pop(key, None)
    log.info("index version %s of %s stays with Lance: %s", key[1], key[0], why)


def forget_resident() -> None:
    """Drop every resident version of this process (tests, or to give the memory back)."""
    wait_for_loads()
    with _lock:
        _loaded.clear()
        _refused.clear()
        _searches.clear()
        _loading.clear()
