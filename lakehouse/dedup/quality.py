"""Precision and recall of found duplicate pairs against planted ones (pairs of keys, order ignored)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PairQuality:
    found: int
    planted: int
    true_positives: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.planted if self.planted else 1.0

    def __str__(self) -> str:
        return (
            f"precision {self.precision:.3f} ({self.true_positives}/{self.found}), "
            f"recall {self.recall:.3f} ({self.true_positives}/{self.planted})"
        )


def _norm(pairs: Iterable[tuple[Any, Any]]) -> set[frozenset[str]]:
    return {frozenset((str(a), str(b))) for a, b in pairs if str(a) != str(b)}


def pair_quality(found: Iterable[tuple[Any, Any]], planted: Iterable[tuple[Any, Any]]) -> PairQuality:
    """Compare found key pairs with planted ones.

    >>> q = pair_quality([("a", "b"), ("c", "d")], [("b", "a"), ("e", "f")])
    >>> (q.precision, q.recall)
    (0.5, 0.5)
    """
    f, p = _norm(found), _norm(planted)
    return PairQuality(len(f), len(p), len(f & p))


def cluster_pairs(clusters: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    """Every pair of keys that share a cluster (the transitive pairs dedup implies), from RESULT_SCHEMA rows."""
    out: set[tuple[str, str]] = set()
    for c in clusters:
        members = sorted([c["kept_key"], *c["dropped_keys"]])
        out |= {(a, b) for i, a in enumerate(members) for b in members[i + 1 :]}
    return out
