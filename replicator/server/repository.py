"""The one image model both APIs share: create, change, delete, share and page through images.

v1 and v2 are two ways of saying the same things to it (`v1.py` and `v2.py` only translate), so
a rule such as "a deleted image's id is never free again" or "deleting removes the data" holds
for both. Every image is held in memory, indexed by id; listings go through sorted indexes
(`paging.SortedIndex`), one per order a client has asked for, built on first use and kept up to
date on every change, so a page costs time in proportion to the page, not to the server.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from replicator.server import schema
from replicator.server.paging import Ordering, SortedIndex
from replicator.server.problems import Problem
from replicator.server.storage import ImageFiles, StoredImage

#: How many orders keep an index; the least recently listed one goes first.
MAX_INDEXES = 8


class ImageRepository:
    """The images of one server, in memory and under `root`."""

    def __init__(self, root: Path) -> None:
        self.files = ImageFiles(root)
        self._images: dict[str, StoredImage] = {image.id: image for image in self.files.load()}
        self._indexes: OrderedDict[Any, SortedIndex] = OrderedDict()

    # --- reading ---------------------------------------------------------------------------

    def get(self, image_id: str) -> StoredImage | None:
        """The live image with this id, or None (never a deleted one)."""
        image = self._images.get(image_id)
        return None if image is None or image.deleted else image

    def ever_existed(self, image_id: str) -> bool:
        return image_id in self._images

    def page(
        self, ordering: Ordering, matches: Callable[[StoredImage], bool], after: StoredImage | None, limit: int
    ) -> list[StoredImage]:
        """At most `limit` live images that `matches`, in `ordering`, from just after `after`."""
        page: list[StoredImage] = []
        if limit <= 0:
            return page
        for image_id in self._index(ordering).ids_after(after, ordering):
            image = self._images[image_id]
            if matches(image):
                page.append(image)
                if len(page) == limit:
                    break
        return page

    def _index(self, ordering: Ordering) -> SortedIndex:
        key = ordering.index_key
        index = self._indexes.get(key)
        if index is None:
            index = SortedIndex(ordering, (image for image in self._images.values() if not image.deleted))
            self._indexes[key] = index
            if len(self._indexes) > MAX_INDEXES:
                self._indexes.popitem(last=False)
        self._indexes.move_to_end(key)
        return index

    # --- changing --------------------------------------------------------------------------

    def create(self, record: dict[str, Any]) -> StoredImage:
        """A new image from a record `schema.new_record` made; 409 if its id was ever used."""
        if self.ever_existed(record["id"]):
            raise Problem(409, f"Image ID {record['id']} already exists!")
        image = StoredImage(record)
        self._images[image.id] = image
        self.save(image)
        return image

    def save(self, image: StoredImage) -> None:
        """Keep a change to the image: on disk, and in every index that orders by what changed."""
        self.files.save(image)
        for index in self._indexes.values():
            if image.deleted:
                index.discard(image.id)
            else:
                index.put(image)

    def delete(self, image: StoredImage) -> None:
        """Soft-delete: the record stays (its id is never free again), its data goes."""
        if image.record.get("protected"):
            raise Problem(403, f"Image {image.id} is protected and cannot be deleted.")
        image.deleted = True
        image.record.update(status="deleted", updated_at=schema.now())
        self.save(image)
        for path in (self.data_path(image.id), self.staging_path(image.id)):
            path.unlink(missing_ok=True)

    def share(self, image: StoredImage, member_id: str) -> dict[str, Any]:
        """Make project `member_id` a member of the image, `pending` as Glance starts it; 409 if it is one."""
        if member_id in image.members:
            raise Problem(409, f"Member {member_id} already associated with image {image.id}.")
        stamp = schema.now()
        member = {"member_id": member_id, "status": "pending", "created_at": stamp, "updated_at": stamp}
        image.members[member_id] = member
        self.save(image)
        return member

    def member(self, image: StoredImage, member_id: str) -> dict[str, Any]:
        """The membership of `member_id`; 404 if it has none."""
        member = image.members.get(member_id)
        if member is None:
            raise Problem(404, f"{member_id} is not a member of image {image.id}")
        return member

    def unshare(self, image: StoredImage, member_id: str) -> None:
        self.member(image, member_id)
        del image.members[member_id]
        self.save(image)

    def add_generated(self, records: Iterable[dict[str, Any]]) -> None:
        """Hold many records at once, in memory only (never written under `root`): listings at
        a scale that creating images one request at a time would take minutes to reach. An
        image saved before under the same id (a generated one a client changed) stays as saved."""
        for record in records:
            self._images.setdefault(record["id"], StoredImage(record))
        self._indexes.clear()  # rebuilt, with the new images, by the next listing

    # --- data files ------------------------------------------------------------------------

    def data_path(self, image_id: str) -> Path:
        return self.files.data_path(image_id)

    def partial_path(self, image_id: str) -> Path:
        return self.files.partial_path(image_id)

    def staging_path(self, image_id: str) -> Path:
        return self.files.staging_path(image_id)
