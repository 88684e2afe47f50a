"""The image store protocols: what the engine needs from a Glance or a dump directory.

The engine plans and copies against these interfaces only, so a new kind of store (Glance v1,
an object store for dumps) is one new module and no change to the engine.

rclone's shape (`fs.Fs` and its optional interfaces): `ImageStore` is the core every store
implements; what only some stores can do is an optional protocol of its own, implemented only
by the stores that can do it, and asked for with `isinstance` (the protocols are
`runtime_checkable`):

- `Puller`: the store fetches an image's data itself from the source (a Glance v2 importing
  from another region); without it the engine streams the data, as it always can;
- `Deactivator`: the store deactivates and reactivates its copies; without it the engine reports
  that the target cannot (`engine/transfer.cannot_deactivate`), where a step needs it.

A store never implements an optional protocol by raising: it leaves the protocol out.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from replicator.model.changes import AttributeChange, MemberChange
from replicator.model.records import ImageRecord


class ImageStore(Protocol):
    """A place images live: listed, read, created, written and updated by id (the core every
    store implements; see `Puller` and `Deactivator` for what only some can do)."""

    #: Shown in messages: "Glance at http://host:9292", "dump directory /srv/dump".
    description: str

    def walk(self) -> AsyncGenerator[ImageRecord, None]:
        """Every image this store holds, in ascending `records.id_order`, one at a time.

        The engine walks a source and a target side by side in this order (rclone's march), so
        it never holds a whole listing: a store streams its records page by page.
        """

    def known_members(self, image: ImageRecord) -> ImageRecord | None:
        """`image` with its members when they are known without asking (it cannot have any, or
        its record carries them); None when `with_members` must ask the server."""

    async def with_members(self, image: ImageRecord) -> ImageRecord:
        """`image` with its members (`ImageRecord.members`), asking the server: the engine asks
        only for the images it plans, with bounded parallelism."""

    def as_held(self, image: ImageRecord) -> ImageRecord:
        """`image` with its attributes as a copy in this store would read back.

        The plan compares a target's copies with the source's images in this form, so what a
        store cannot express (a Glance v1 has no tags, and no "shared" beside "private") is
        neither copied nor reported different on every run.
        """

    def read_data(self, image: ImageRecord, offset: int = 0) -> AsyncGenerator[bytes, None]:
        """The image's bytes from `offset` on, as chunks; closing the iterator frees the source."""

    async def create_image(self, image: ImageRecord, attributes: dict[str, Any]) -> None:
        """Create an image under `image.id` with the given replicated attributes."""

    async def write_data(self, image: ImageRecord, chunks: AsyncIterator[bytes]) -> None:
        """Store `image.size` bytes from `chunks`.

        If `chunks` raises, the write must be abandoned so that no partial or unverified data
        ever becomes a usable image (Glance: the upload is cut; a dump: the file is not renamed).
        """

    async def stat(self, image: ImageRecord) -> ImageRecord | None:
        """The stored copy of `image` as the store describes it now (None if there is none):
        read back after every upload, so success is what the target holds, not what it said."""

    async def gone(self, image: ImageRecord) -> bool:
        """Whether the store itself says now that it no longer has `image`: a deleted status, or
        (a Glance) a 404 in the API's own shape (`ReplicatorError.from_api`). An answer from
        anything else (a proxy's page), an image it still has, or a failure is False: this is
        the evidence every deletion and deactivation of a copy rests on (`engine.transfer`)."""

    async def update_metadata(
        self, image: ImageRecord, current: ImageRecord, changes: Sequence[AttributeChange]
    ) -> None:
        """Apply `changes` to the stored copy `current` so it matches the source `image`."""

    async def apply_members(self, image: ImageRecord, changes: Sequence[MemberChange]) -> None:
        """Share `image` with projects, stop sharing it, or change a share's status."""

    async def delete_image(self, image: ImageRecord) -> None:
        """Delete the stored copy (pruning; or an empty record whose source vanished mid-run).
        A Glance never gives the id back: never used to start an image over."""

    async def close(self) -> None:
        """Release connections and files."""


@runtime_checkable
class Puller(Protocol):
    """A store that can fetch images' data itself from the source (a Glance v2 given, when it was
    made, a source region it may import from with `glance-download`)."""

    def can_pull(self, image: ImageRecord) -> bool:
        """Whether this store is to fetch `image`'s data itself, so its bytes need not cross this
        machine (False: the engine streams it)."""

    async def pull(self, image: ImageRecord, on_status: Callable[[str], None]) -> None:
        """Fetch the data server-side, telling `on_status` each status the store reports for the
        image on the way ("queued", "importing", "active"); an ImageError leaves the image as it
        was, to be streamed."""


@runtime_checkable
class Deactivator(Protocol):
    """A store whose copies can be deactivated (nothing can read their data) and reactivated."""

    async def set_status(self, image: ImageRecord, status: str) -> None:
        """Deactivate (`status="deactivated"`) or reactivate (`"active"`) the stored copy."""


@runtime_checkable
class StagedImports(Protocol):
    """A store that can hold data staged and not yet imported (Glance v2's `glance-direct`)."""

    async def import_staged(self, image: ImageRecord) -> None:
        """Import the data staged for `image` (all of it: see `engine.plan.staged_whole`) and
        wait until the image is active; what it holds is read back after, as for any copy."""


@runtime_checkable
class ImportTasks(Protocol):
    """A store that runs imports as tasks it can be asked about (Glance v2, Wallaby and later)."""

    async def import_task_state(self, image: ImageRecord) -> str | None:
        """What the newest import task of `image` says (its status and message), for an image
        left `importing`, `saving` or `uploading`; None when the store keeps no such task."""


@runtime_checkable
class NamedStores(Protocol):
    """A store with backends of its own to choose from (a multi-store Glance)."""

    async def store_ids(self) -> frozenset[str] | None:
        """The ids of the backends it lists; None when it lists none (no multi-store API)."""
