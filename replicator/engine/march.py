"""Walk a source and a target listing side by side, in id order: rclone's `fs/march`.

Both stores stream their images sorted by `records.id_order`; the march hands out each id once,
as a `Pair` that is source-only, target-only, or both. Nothing is held but the two records at
the heads of the streams, so walking two clouds of a million images costs the memory of two
pages, and planning starts with the first page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterator, Callable

from replicator.errors import ErrorKind, RunError
from replicator.records import ImageRecord, id_order

#: Report walking progress every this many images per side.
PROGRESS_EVERY = 1000


@dataclass(frozen=True)
class Pair:
    """One id as the two sides hold it; None where a side has no image of that id."""

    source: ImageRecord | None
    target: ImageRecord | None


async def march(
    source: AsyncIterator[ImageRecord],
    target: AsyncIterator[ImageRecord],
    on_listed: Callable[[str, int, bool], None] | None = None,
) -> AsyncIterator[Pair]:
    """Every id of either listing once, in id order."""
    sides = (_Side("source", source, on_listed), _Side("target", target, on_listed))
    left, right = sides
    await left.advance()
    await right.advance()
    while left.head is not None or right.head is not None:
        if right.head is None or (left.head is not None and left.key < right.key):
            yield Pair(left.head, None)
            await left.advance()
        elif left.head is None or right.key < left.key:
            yield Pair(None, right.head)
            await right.advance()
        else:
            yield Pair(left.head, right.head)
            await left.advance()
            await right.advance()


class _Side:
    """One listing's head, checked to go strictly up: a store that repeats or reorders ids
    would otherwise pair an image with the wrong counterpart, or never end."""

    def __init__(self, name: str, stream: AsyncIterator[ImageRecord],
                 on_listed: Callable[[str, int, bool], None] | None) -> None:
        self.name = name
        self._stream = stream
        self._on_listed = on_listed
        self.head: ImageRecord | None = None
        self.key = ""
        self.count = 0

    async def advance(self) -> None:
        record = await anext(self._stream, None)
        if record is None:
            self.head = None
            if self._on_listed is not None:
                self._on_listed(self.name, self.count, True)
            return
        key = id_order(record.id)
        if self.count and key <= self.key:
            raise RunError(f"the {self.name} listing is not in ascending id order ({record.id} after "
                           f"{self.head.id if self.head else self.key}); it cannot be walked",
                           kind=ErrorKind.PROTOCOL, side=self.name)
        self.head, self.key = record, key
        self.count += 1
        if self._on_listed is not None and self.count % PROGRESS_EVERY == 0:
            self._on_listed(self.name, self.count, False)
