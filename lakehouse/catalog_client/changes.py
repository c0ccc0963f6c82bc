"""The embedded catalog service's change counter: a small file it bumps after every write it commits.

A warm client asks the catalog at every table load whether the table moved (``If-None-Match``, a 304 while it has
not: :mod:`lakehouse.table.loads`). That round trip to another process is most of what a similarity query pays for
freshness (figures: BENCHMARKS.md, design measurements, 'catalog change counter'). A client on the same machine as
the embedded service can learn the same thing from a file: the service writes ``<state>/catalog.changes`` when it
starts (a random epoch and a counter of 0) and increments the counter after every successful write request, *before*
its answer leaves (:class:`ChangeCounter`, an ASGI middleware in ``catalog``). So a commit whose answer a writer has
seen has already moved the counter, and a client that reads the counter unchanged since it last heard from the
catalog holds metadata that is still current: no commit has finished in between. Any change of the counter, or of
the epoch (a restarted service), and the client asks the catalog again, as before.

The file is read with one ``open``/``read`` per check (tens of microseconds); a missing, short or unreadable file
means "ask the catalog". Clients trust it only for the embedded service of their own state folder; an external
catalog is always asked.
"""

from __future__ import annotations

import os
import secrets
import struct
from pathlib import Path

__all__ = ["CHANGES_FILE", "ChangeCounter", "read_changes"]

CHANGES_FILE = "catalog.changes"
_FORMAT = "<16sQ"  # epoch (16 random bytes, new at every service start), counter (little-endian u64)
_SIZE = struct.calcsize(_FORMAT)


def read_changes(path: str | os.PathLike[str]) -> bytes | None:
    """The counter's current value (epoch and count, as bytes to compare), or None when it cannot be read."""
    try:
        with open(path, "rb", buffering=0) as f:
            raw = f.read(_SIZE)
    except OSError:
        return None
    return raw if len(raw) == _SIZE else None


class ChangeCounter:
    """The service side: creates the file with a new epoch, then :meth:`bump` after each committed write.

    The file is replaced atomically at start (a client never reads a half-written one) and then updated in place
    with one 8-byte write per bump; a reader that catches a write halfway sees a value that differs from the one it
    kept, so it asks the catalog, which is always safe.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.count = 0
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        tmp.write_bytes(struct.pack(_FORMAT, secrets.token_bytes(16), 0))
        tmp.chmod(0o644)
        os.replace(tmp, self.path)
        self._fd = os.open(self.path, os.O_WRONLY)

    def bump(self) -> None:
        self.count += 1
        os.pwrite(self._fd, struct.pack("<Q", self.count), 16)

    def close(self) -> None:
        os.close(self._fd)
