"""Which source images a run works on, and in what order: filters, shards and ordering.

Applied to the source listing before planning, so the plan, the totals, `--dry-run` and
`compare` all speak of the same images. Pure functions of the records: no I/O.

Shards split one migration across machines: an image belongs to shard `hash(id) mod N`, a
hash of its id alone, so N runs with `--shard 0/N` … `--shard N-1/N` are disjoint, together
cover every image, and agree without talking to each other (or to anything that changes
between runs, such as listing order).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TypeVar

from replicator.model.records import ImageRecord

T = TypeVar("T")

ORDER_KEYS = ("size", "name", "created_at")


@dataclass(frozen=True)
class Selection:
    """What the user asked to keep. Empty fields keep everything."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    ids: frozenset[str] = frozenset()
    visibility: frozenset[str] = frozenset()
    status: frozenset[str] = frozenset()
    #: An image must carry every one of these tags.
    tags: frozenset[str] = frozenset()
    owner: str | None = None
    min_size: int | None = None
    max_size: int | None = None
    #: (attribute, descending), or None for the source's listing order.
    order_by: tuple[str, bool] | None = None
    #: (K, N): keep shard K of N, 0 <= K < N.
    shard: tuple[int, int] | None = None

    def keeps(self, image: ImageRecord) -> bool:
        name = image.name or ""
        size = image.size or 0
        checks = (
            not self.include or any(fnmatchcase(name, pattern) for pattern in self.include),
            not any(fnmatchcase(name, pattern) for pattern in self.exclude),
            not self.ids or image.id in self.ids,
            not self.visibility or image.attributes.get("visibility") in self.visibility,
            not self.status or image.status in self.status,
            self.tags <= set(image.attributes.get("tags") or ()),
            self.owner is None or image.attributes.get("owner") == self.owner,
            self.min_size is None or size >= self.min_size,
            self.max_size is None or size <= self.max_size,
            self.shard is None or shard_of(image.id, self.shard[1]) == self.shard[0],
        )
        return all(checks)

    def ordered(self, items: list[T], image_of: Callable[[T], ImageRecord]) -> list[T]:
        """`items` (records, actions) in the order asked for (`order_by`), or as they are."""
        if self.order_by is None:
            return items
        key, descending = self.order_by
        return sorted(items, key=lambda item: _sort_value(image_of(item), key), reverse=descending)


def _sort_value(image: ImageRecord, key: str) -> tuple[int, str]:
    if key == "size":
        return (image.size or 0, "")
    if key == "name":
        return (0, image.name or "")
    return (0, str(image.raw.get("created_at") or ""))


def shard_of(image_id: str, shards: int) -> int:
    """The shard of an image: stable across runs, machines and Python versions."""
    digest = hashlib.sha256(image_id.lower().encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards
