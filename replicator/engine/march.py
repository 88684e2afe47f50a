"""Walk a source and a target listing side by side, in id order: rclone's `fs/march`.

Both stores stream their images sorted by `records.id_order`; the march hands out each id once,
as a `Pair` that is source-only, target-only, or both. Nothing is held but the two records at
the heads of the streams, so walking two clouds of a million images costs the memory of two
pages, and planning starts with the first page.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass

from replicator.model.errors import ErrorKind, RunError
from replicator.model.records import ImageRecord, id_order
from replicator.model.vocabulary import Role

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
) -> AsyncGenerator[Pair, None]:
    """Every id of either listing once: the lower-case ids in order, then the rest.

    Glance sorts ids as its database compares them: byte by byte on SQLite and PostgreSQL,
    without regard to case on MySQL. The two agree on lower-case UUIDs, which is what Glance
    gives every image it names; an id a client chose with capitals sorts differently on
    each. Those are set aside as they pass (they are rare, so holding them costs nothing) and
    paired by exact id when both walks have ended.
    """
    left, right = _Side(Role.SOURCE, source, on_listed), _Side(Role.TARGET, target, on_listed)
    await left.advance()
    await right.advance()
    while left.head is not None or right.head is not None:
        if right.head is None or (left.head is not None and left.head.id < right.head.id):
            yield Pair(left.head, None)
            await left.advance()
        elif left.head is None or right.head.id < left.head.id:
            yield Pair(None, right.head)
            await right.advance()
        else:
            yield Pair(left.head, right.head)
            await left.advance()
            await right.advance()
    for image_id in sorted(left.set_aside.keys() | right.set_aside.keys()):
        yield Pair(left.set_aside.get(image_id), right.set_aside.get(image_id))


class _Side:
    """One listing's head. Its lower-case ids must go strictly up: a store that repeats or
    reorders them would otherwise pair an image with the wrong counterpart, or never end."""

    def __init__(
        self, name: str, stream: AsyncIterator[ImageRecord], on_listed: Callable[[str, int, bool], None] | None
    ) -> None:
        self.name = name
        self._stream = stream
        self._on_listed = on_listed
        self.head: ImageRecord | None = None
        self.set_aside: dict[str, ImageRecord] = {}
        self.count = 0

    async def advance(self) -> None:
        previous = self.head
        while True:
            record = await anext(self._stream, None)
            if record is None:
                self.head = None
                if self._on_listed is not None:
                    self._on_listed(self.name, self.count, True)
                return
            self.count += 1
            if self._on_listed is not None and self.count % PROGRESS_EVERY == 0:
                self._on_listed(self.name, self.count, False)
            if record.id == id_order(record.id):
                break
            if record.id in self.set_aside:
                raise self._disorder(record, "twice")
            self.set_aside[record.id] = record
        if previous is not None and record.id <= previous.id:
            raise self._disorder(record, f"after {previous.id}")
        self.head = record

    def _disorder(self, record: ImageRecord, where: str) -> RunError:
        return RunError(
            f"the {self.name} listing is not in ascending id order ({record.id} {where}); it cannot be walked",
            kind=ErrorKind.PROTOCOL,
            side=self.name,
        )
