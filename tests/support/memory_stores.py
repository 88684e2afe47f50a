"""Stores in memory for the engine's unit tests: the core `ImageStore` alone (`MemoryStore`),
and one that is also a `Puller` and a `Deactivator` (`PullingStore`). Each image holds `DATA`."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import replace
from typing import Any

from replicator.model.changes import AttributeChange, MemberChange
from replicator.model.records import ImageRecord

DATA = b"x" * 1000


class MemoryStore:
    """The core `ImageStore` alone, in memory: neither a `Puller` nor a `Deactivator`."""

    description = "memory store"

    def __init__(self, images: Sequence[ImageRecord] = ()) -> None:
        self.images = {image.id: image for image in images}
        self.data: dict[str, bytes] = {}
        self.written: list[str] = []

    async def walk(self) -> AsyncGenerator[ImageRecord, None]:
        for key in sorted(self.images):
            yield self.images[key]

    def known_members(self, image: ImageRecord) -> ImageRecord | None:
        return replace(image, members=())

    async def with_members(self, image: ImageRecord) -> ImageRecord:
        return replace(image, members=())

    def as_held(self, image: ImageRecord) -> ImageRecord:
        return image

    async def read_data(self, image: ImageRecord, offset: int = 0) -> AsyncGenerator[bytes, None]:
        yield DATA[offset:]

    async def create_image(self, image: ImageRecord, attributes: dict[str, Any]) -> None:
        self.images[image.id] = replace(image, status="queued", size=None, checksum=None)

    async def write_data(self, image: ImageRecord, chunks: AsyncIterator[bytes]) -> None:
        self.data[image.id] = b"".join([chunk async for chunk in chunks])
        self.written.append(image.id)
        self.images[image.id] = replace(image, status="active")

    async def stat(self, image: ImageRecord) -> ImageRecord | None:
        return self.images.get(image.id)

    async def update_metadata(
        self, image: ImageRecord, current: ImageRecord, changes: Sequence[AttributeChange]
    ) -> None:
        return None

    async def apply_members(self, image: ImageRecord, changes: Sequence[MemberChange]) -> None:
        return None

    async def gone(self, image: ImageRecord) -> bool:
        """The store's own word that it no longer holds `image`."""
        return image.id not in self.images

    async def delete_image(self, image: ImageRecord) -> None:
        self.images.pop(image.id, None)

    async def close(self) -> None:
        return None


class PullingStore(MemoryStore):
    """A store that fetches data itself (`Puller`) and deactivates copies (`Deactivator`)."""

    def __init__(self) -> None:
        super().__init__()
        self.pulled: list[str] = []
        self.statuses: list[tuple[str, str]] = []

    def can_pull(self, image: ImageRecord) -> bool:
        return True

    async def pull(self, image: ImageRecord, on_status: Callable[[str], None]) -> None:
        on_status("importing")
        self.pulled.append(image.id)
        self.images[image.id] = replace(image, status="active")

    async def set_status(self, image: ImageRecord, status: str) -> None:
        self.statuses.append((image.id, status))


def image_record(status: str = "active") -> ImageRecord:
    return ImageRecord(
        id=str(uuid.uuid4()),
        status=status,
        attributes={"name": "n"},
        size=len(DATA),
        checksum=hashlib.md5(DATA).hexdigest(),
    )
