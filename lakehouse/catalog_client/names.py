"""What a namespace or table name may be, checked by the service on every request and by clients before sending one.

A name part becomes a folder in the warehouse (``<warehouse>/<ns>.db/<table>``), a key in the SQL catalog (namespace
parts joined by ``.``) and a path segment in REST URLs (namespace parts joined by 0x1F). So a part is one to 128
characters from ``[A-Za-z0-9_-]``, starting with a letter, digit or underscore: no ``.``/``..``, ``/``, quotes,
``;``, whitespace, NUL or other control characters (0x1F inside a part would split it into two namespace levels).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lakehouse.errors import InvalidIdentifierError

if TYPE_CHECKING:
    from lakehouse.config import Settings

__all__ = [
    "MAX_NAMESPACE_DEPTH",
    "MAX_PART_LENGTH",
    "NAME_PATTERN",
    "check_identifier",
    "check_namespace",
    "check_part",
    "split_identifier",
]

MAX_PART_LENGTH = 128
MAX_NAMESPACE_DEPTH = 8
NAME_PATTERN = f"[A-Za-z0-9_][A-Za-z0-9_-]{{0,{MAX_PART_LENGTH - 1}}}"
_NAME = re.compile(NAME_PATTERN)

_HINT = (
    f"use 1 to {MAX_PART_LENGTH} characters matching {NAME_PATTERN} "
    "(letters, digits, '_' and '-', not starting with '-'), e.g. docs.embeddings_v2"
)


def _describe(value: str) -> str:
    if not value:
        return "is empty"
    if len(value) > MAX_PART_LENGTH:
        return f"is {len(value)} characters long (at most {MAX_PART_LENGTH})"
    bad = next((c for c in value if not (c.isascii() and (c.isalnum() or c in "_-"))), None)
    if bad is not None:
        shown = repr(bad) if bad.isprintable() and bad != " " else f"U+{ord(bad):04X}"
        return f"contains {shown}"
    return "starts with '-'"


def check_part(kind: str, value: object) -> str:
    """Return ``value`` if it is a valid name part, else raise :class:`InvalidIdentifierError` saying why."""
    if not isinstance(value, str):
        raise InvalidIdentifierError(f"The {kind} name must be a string, got {type(value).__name__}", kind=kind)
    if _NAME.fullmatch(value) is None:
        shown = value if len(value) <= 60 else value[:57] + "..."
        raise InvalidIdentifierError(
            f"Invalid {kind} name {shown!r}: it {_describe(value)}", hint=_HINT, kind=kind, name=value[:200]
        )
    return value


def check_namespace(parts: Sequence[object]) -> tuple[str, ...]:
    """Validate every level of a namespace (1 to ``MAX_NAMESPACE_DEPTH`` parts)."""
    if isinstance(parts, str | bytes) or not 1 <= len(parts) <= MAX_NAMESPACE_DEPTH:
        raise InvalidIdentifierError(
            f"A namespace has 1 to {MAX_NAMESPACE_DEPTH} levels, got {parts!r}"[:300], hint=_HINT, kind="namespace"
        )
    return tuple(check_part("namespace", part) for part in parts)


def check_identifier(namespace: Sequence[object], table: object) -> tuple[str, ...]:
    """Validate a table identifier: its namespace levels, then its name."""
    return (*check_namespace(namespace), check_part("table", table))


def split_identifier(identifier: str, settings: Settings | None = None) -> tuple[str, str]:
    """``lake.docs.embeddings`` / ``docs.embeddings`` / ``embeddings`` -> ("docs", "embeddings").

    Every part must be a valid name (:func:`check_identifier`): a bad one raises
    :class:`~lakehouse.errors.InvalidIdentifierError` here, before any request or folder is made.
    """
    from lakehouse.config import load_settings

    settings = settings or load_settings()
    parts = identifier.split(".")
    if parts[0] == settings.catalog.name and len(parts) > 2:
        parts = parts[1:]
    if len(parts) == 1:
        parts = [*settings.namespace.split("."), parts[0]]
    check_identifier(parts[:-1], parts[-1])
    return ".".join(parts[:-1]), parts[-1]
