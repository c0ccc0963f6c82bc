"""Where tables may live: inside the warehouse, and never inside (or around) another table.

Locations are compared after normalising them: ``file://`` and bare paths are resolved on the local file system
(``..`` and symbolic links followed), other schemes (``s3://bucket/...``) compare scheme, bucket and the path with
``.``/``..`` segments folded. A table location must lie strictly inside the warehouse, unless the service was started
with ``--allow-external-locations`` (``catalog.allow_external_locations``).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from catalog.errors import BadRequest

__all__ = ["Locations", "local_path"]

# table properties that send files the service writes (metadata) or deletes on purge (data) somewhere else
PATH_PROPERTIES = ("write.metadata.path", "write.data.path", "write.object-storage.path", "write.folder-storage.path")


def local_path(uri: str) -> Path | None:
    """The local path of a ``file://`` URI or an absolute path; None for other schemes."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" and uri.startswith("/"):
        return Path(uri)
    return None


def _key(uri: str) -> tuple[str, str, str]:
    """A comparable form of a location: (scheme, authority, normalised path)."""
    if any(ord(c) < 0x20 for c in uri):
        raise BadRequest(f"Location {uri!r} contains control characters")
    local = local_path(uri)
    if local is not None:
        return "file", "", str(local.resolve(strict=False))
    parsed = urlparse(uri)
    if not parsed.scheme:
        raise BadRequest(
            f"Location {uri!r} is relative: give an absolute path or a URI such as file:///... or s3://..."
        )
    return parsed.scheme.lower(), parsed.netloc, posixpath.normpath("/" + unquote(parsed.path))


def _within(inner: tuple[str, str, str], outer: tuple[str, str, str], *, strictly: bool) -> bool:
    if inner[:2] != outer[:2]:
        return False
    if inner[2] == outer[2]:
        return not strictly
    return inner[2].startswith(outer[2].rstrip("/") + "/")


@dataclass(frozen=True)
class Locations:
    warehouse: str
    allow_external: bool = False

    def inside_warehouse(self, location: str) -> bool:
        return _within(_key(location), _key(self.warehouse), strictly=True)

    def check(self, location: str, what: str = "table location") -> None:
        """Refuse (400) a location outside the warehouse, unless external locations are allowed."""
        if self.allow_external:
            _key(location)  # still refuse control characters and relative paths
            return
        if not self.inside_warehouse(location):
            raise BadRequest(
                f"The {what} {location!r} is outside the warehouse {self.warehouse!r}; "
                "omit it to get the default location, or start the service with catalog.allow_external_locations"
            )

    def check_properties(self, properties: dict[str, str], what: str = "table") -> None:
        for name in PATH_PROPERTIES if what == "table" else ("location",):
            if properties.get(name):
                self.check(properties[name], f"{what} property {name}")

    @staticmethod
    def contains(outer: str, inner: str) -> bool:
        """Whether ``inner`` is ``outer`` or lies below it."""
        return _within(_key(inner), _key(outer), strictly=False)


def table_location_of(metadata_location: str) -> str:
    """The table folder a metadata file belongs to (``<location>/metadata/<file>``), as far as its path tells."""
    parent = posixpath.dirname(metadata_location.rstrip("/"))
    return posixpath.dirname(parent) if posixpath.basename(parent) == "metadata" else parent
