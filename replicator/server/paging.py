"""How Glance orders a listing and pages through it, for v1 and v2 alike.

Glance's database layer (`_image_get_all` and `_paginate_query`) sorts by the keys asked for,
then adds `created_at` and `id` where they are missing, in the direction of the only direction
given (or `desc`), so that every order is total. A page is the images that come after the
marker image's place in that order, whatever the listing's filters, and at most `limit` of
them, cut to the server's cap. Ids compare as byte strings (SQLite's default collation), so an
upper-case id sorts before a lower-case one.

`SortedIndex` keeps one such order of the live images, so a page is a lookup from the marker
and not a sort of every image on every request.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sortedcontainers import SortedList

from replicator.server.problems import Problem
from replicator.server.storage import StoredImage

#: The attributes Glance sorts by (v1 and v2 accept the same ones).
SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id", "created_at", "updated_at")
DIRECTIONS = ("asc", "desc")


def one_of(value: str, allowed: tuple[str, ...], refusal: str) -> str:
    """`value` if the listing accepts it, else the 400 each API words its own way."""
    if value not in allowed:
        raise Problem(400, refusal)
    return value


DEFAULT_KEY = "created_at"
DEFAULT_DIRECTION = "desc"
#: Keys whose missing value compares as 0 (any other as ""): Glance's pagination reads NULL as
#: the column's default.
_NUMERIC_KEYS = frozenset({"size"})


@dataclass(frozen=True)
class Ordering:
    """A total order of images: the keys, each ascending or descending, ending at `id`."""

    keys: tuple[str, ...]
    descending: tuple[bool, ...]

    @classmethod
    def of(cls, keys: Sequence[str], directions: Sequence[str]) -> Ordering:
        """Glance's reading of the keys and directions a client asked for (both already valid).

        No direction: `desc` for every key; one: that one for every key; else one per key.
        `created_at` and `id` follow where missing, in the one direction given (else `desc`).
        Keys after `id` can never decide anything (ids are unique) and are left out.
        """
        keys = list(keys) or [DEFAULT_KEY]
        directions = list(directions) or [DEFAULT_DIRECTION]
        default = directions[0] if len(directions) == 1 else DEFAULT_DIRECTION
        if len(directions) == 1:
            directions = directions * len(keys)
        for key in ("created_at", "id"):
            if key not in keys:
                keys.append(key)
                directions.append(default)
        last = keys.index("id") + 1
        return cls(tuple(keys[:last]), tuple(d == "desc" for d in directions[:last]))

    @property
    def reverse(self) -> bool:
        """Whether the index (ascending in the first key) is walked backwards."""
        return self.descending[0]

    @property
    def index_key(self) -> tuple[tuple[str, ...], tuple[bool, ...]]:
        """What tells indexes apart: an order and its mirror image share one index."""
        return self.keys, tuple(d != self.descending[0] for d in self.descending)

    def entry(self, image: StoredImage) -> tuple[Any, ...]:
        """The image's place in the index: its sort values (flipped where the order turns
        against the first key), then its id to find it by."""
        flips = self.index_key[1]
        values = tuple(_Flipped(_value(image, key)) if flip else _value(image, key)
                       for key, flip in zip(self.keys, flips, strict=True))  # fmt: skip
        return (*values, image.id)


def _value(image: StoredImage, key: str) -> Any:
    value = image.id if key == "id" else image.record.get(key)
    if value is None:
        return 0 if key in _NUMERIC_KEYS else ""
    return value


class _Flipped:
    """A value that sorts in the opposite direction: a descending key inside an ascending index."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Flipped) -> bool:
        return bool(other.value < self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Flipped) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)


def page_limit(value: str | None, default: int, cap: int) -> int:
    """The `limit` query parameter as both APIs read it, cut to the server's cap."""
    if value is None:
        return min(default, cap)
    try:
        limit = int(value)
    except ValueError as exc:
        raise Problem(400, "limit param must be an integer") from exc
    if limit < 0:
        raise Problem(400, "limit param must be positive")
    return min(limit, cap)


class SortedIndex:
    """The live images in one `Ordering`, kept sorted as they are created, changed and deleted."""

    def __init__(self, ordering: Ordering, images: Iterable[StoredImage]) -> None:
        self._ordering = ordering
        self._entries: dict[str, tuple[Any, ...]] = {image.id: ordering.entry(image) for image in images}
        self._sorted = SortedList(self._entries.values())

    def put(self, image: StoredImage) -> None:
        """Add the image, or move it to where its changed values now place it."""
        entry = self._ordering.entry(image)
        old = self._entries.get(image.id)
        if old == entry:
            return
        if old is not None:
            self._sorted.remove(old)
        self._entries[image.id] = entry
        self._sorted.add(entry)

    def discard(self, image_id: str) -> None:
        old = self._entries.pop(image_id, None)
        if old is not None:
            self._sorted.remove(old)

    def ids_after(self, marker: StoredImage | None, ordering: Ordering) -> Iterator[str]:
        """Image ids in `ordering` (this index's order or its mirror), from just after `marker`."""
        # A live marker is in the index; its entry there is where the page starts.
        bound = None if marker is None else self._entries.get(marker.id) or self._ordering.entry(marker)
        if ordering.reverse:
            entries = self._sorted.irange(maximum=bound, inclusive=(True, False), reverse=True)
        else:
            entries = self._sorted.irange(minimum=bound, inclusive=(False, True))
        return (entry[-1] for entry in entries)
