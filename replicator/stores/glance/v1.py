"""A Glance reached through the v1 API, for the clouds that still run one (removed from Glance
in 2018, so every cloud migrating off it needs this side), and the v1 record codec.

v1 lists images as JSON with custom properties nested under `properties` and `is_public` in
place of `visibility`; it reads and writes one image's metadata as `x-image-meta-*` headers.
Records are mapped to the neutral record on the way in (`record_from_v1`) and back to headers
on the way out, so a v1 source and a v2 target compare attribute by attribute. The old
glance-replicator's dumps hold v1 records too; the dump directory reads them with this codec.

What v1 cannot express is folded away by `as_held` (no tags, no `os_hidden`, public or not
public, property names lower-cased with `-` read as `_`, members without a status): the
engine compares a v1 target's copies with the source in that form, instead of finding them
different on every run.

Members: v1 shared a non-public image with projects that needed no step of their own to see
it. Read into v2 terms, such an image is `shared` and each member `accepted` (the v2 status
under which the image is listed for the member, as it was under v1).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from replicator.model.changes import MISSING, AttributeChange, MemberChange
from replicator.model.errors import ErrorKind, ImageError
from replicator.model.records import (
    DELETED_STATUSES,
    ImageRecord,
    RecordError,
    is_image_id,
)
from replicator.model.settings import Settings
from replicator.model.vocabulary import ImageStatus
from replicator.stores.glance.core import PAGE_LIMIT, GlanceCore
from replicator.stores.glance.transport import ApiPath, Transport, api_path
from replicator.stores.glance.v1_codec import (
    META,
    PURGE_PROPS,
    folded_away,
    held_attributes,
    member_ids,
    record_from_v1,
    to_headers,
    v1_from_headers,
    with_members,
)


def listing_path(marker: str | None) -> ApiPath:
    """Every image of any visibility (`is_public=None`), by id, from `marker` on."""
    query = {"is_public": "None", "limit": str(PAGE_LIMIT), "sort_key": "id", "sort_dir": "asc"}
    if marker:
        query["marker"] = marker
    return api_path("v1", "images", "detail", query=query)


def image_path(image: ImageRecord, *rest: str) -> ApiPath:
    return api_path("v1", "images", image.id, *rest)


class GlanceV1Store:
    """Images of one Glance, through `/v1/images`."""

    def __init__(self, transport: Transport, settings: Settings) -> None:
        self._core = GlanceCore(transport, settings, f"Glance (v1 API) at {transport.base_url}", "v1")
        self._transport = transport
        self._settings = settings
        self.description = self._core.description

    def walk(self) -> AsyncGenerator[ImageRecord, None]:
        """v1 has no `next` link: a page's last id is the next page's marker, until a page is empty."""

        def follow(body: Mapping[str, Any], entries: list[Any]) -> ApiPath | None:
            return listing_path(self._decode(entries[-1]).id) if entries else None

        return self._core.pages(listing_path(None), follow, self._decode)

    def _decode(self, raw: Any) -> ImageRecord:
        if not isinstance(raw, dict) or not is_image_id(raw.get("id")):
            raise self._core.refuse(f"the image listing holds a record without a valid image id: {str(raw)[:80]!r}")
        try:
            return record_from_v1(raw)
        except RecordError as exc:
            raise self._core.refuse(f"bad record for image {raw.get('id')} in the listing: {exc}") from exc

    def known_members(self, image: ImageRecord) -> ImageRecord | None:
        """Only a non-public image has members to copy, so only it costs a request."""
        return replace(image, members=()) if image.attributes.get("visibility") == "public" else None

    async def with_members(self, image: ImageRecord) -> ImageRecord:
        members = await self._core.members(image_path(image, "members"), image, member_ids)
        return with_members(image, [member for member, _ in members])

    def as_held(self, image: ImageRecord) -> ImageRecord:
        members = None if image.members is None else [member for member, _ in image.members]
        dropped = tuple(sorted({*image.dropped, *folded_away(image.attributes)}))  # said in its reason
        held = replace(image, attributes=held_attributes(image.attributes), members=None, dropped=dropped)
        return held if members is None else with_members(held, members)

    def read_data(self, image: ImageRecord, offset: int = 0) -> AsyncGenerator[bytes, None]:
        return self._core.read(image_path(image), image, offset, f"download image {image.id}")

    async def create_image(self, image: ImageRecord, attributes: dict[str, Any]) -> None:
        """Create the record alone (it stays `queued`); `write_data` then sends the data."""
        _refuse_deactivated(image)
        headers = {META + "id": image.id, **_headers_for(image, attributes)}

        async def create() -> None:
            await self._transport.send(
                "POST", api_path("v1", "images"), headers=headers, expected=(201,), what=f"create image {image.id}"
            )

        await self._core.create_or_adopt(image, attributes, create, lambda: self.stat(image))

    async def stat(self, image: ImageRecord) -> ImageRecord | None:
        """The target copy as `HEAD` (v1's metadata call) describes it; None when there is none."""
        async with self._transport.request(
            "HEAD", image_path(image), expected=(200, 404), what=f"look up image {image.id}"
        ) as response:
            if response.status == 404:
                return None
            raw = v1_from_headers(response.headers)
        raw["id"] = image.id
        try:
            return record_from_v1(raw)
        except RecordError as exc:
            raise ImageError(
                f"look up image {image.id}: its headers are not a v1 image record",
                kind=ErrorKind.PROTOCOL,
                side=self._transport.side,
            ) from exc

    async def gone(self, image: ImageRecord) -> bool:
        """v1 describes a deleted image to an admin by its status; a 404 counts only as a `GET`
        answers it, with a body in the API's own shape (a `HEAD` answer has none to judge)."""
        try:
            held = await self.stat(image)
        except ImageError:
            return False
        if held is not None:
            return held.status in DELETED_STATUSES
        try:
            async with self._transport.request("GET", image_path(image), what=f"look up image {image.id}"):
                return False  # it is there after all: its data is not read
        except ImageError as exc:
            return exc.kind is ErrorKind.NOT_FOUND and exc.from_api

    async def write_data(self, image: ImageRecord, chunks: AsyncIterator[bytes]) -> None:
        """v1 takes the data of a queued image as the body of a `PUT` of that image."""
        _refuse_deactivated(image)
        headers = {"Content-Type": "application/octet-stream"}
        if image.size is not None:
            headers["Content-Length"] = headers[META + "size"] = str(image.size)
        what = f"upload image {image.id}"
        try:
            await self._transport.send_body(
                "PUT", image_path(image), chunks, headers=headers, expected=(200,), what=what
            )
        except ImageError as exc:
            if exc.kind is ErrorKind.CONFLICT:
                held = await self.stat(image)
                if held is not None and held.status == ImageStatus.KILLED:
                    # What v1 does to an image whose upload failed: it never takes data again.
                    raise exc.again(
                        f"{what}: the target Glance v1 marked it 'killed' after an earlier upload "
                        "failed, and takes no data for it again; delete it there to copy it anew"
                    ) from exc
            raise

    async def update_metadata(
        self, image: ImageRecord, current: ImageRecord, changes: Sequence[AttributeChange]
    ) -> None:
        """A v1 `PUT` replaces the image's properties with the ones it names: send them all."""
        wanted = dict(current.attributes)
        for change in changes:
            if change.new is MISSING:
                wanted.pop(change.key, None)
            else:
                wanted[change.key] = change.new
        headers = {**_headers_for(image, held_attributes(wanted)), PURGE_PROPS: "true"}
        await self._transport.send(
            "PUT", image_path(image), headers=headers, expected=(200,), what=f"update image {image.id}"
        )

    async def apply_members(self, image: ImageRecord, changes: Sequence[MemberChange]) -> None:
        """Add and remove shares; a v1 member has no status to change (`as_held` reads them alike)."""
        for change in changes:
            path, what = image_path(image, "members", change.member), f"share image {image.id} with {change.member}"
            if change.new is MISSING:
                await self._transport.send("DELETE", path, expected=(204,), what=what)
            elif change.old is MISSING:
                await self._transport.send("PUT", path, expected=(204,), what=what)

    async def delete_image(self, image: ImageRecord) -> None:
        await self._transport.send("DELETE", image_path(image), expected=(200, 204), what=f"delete image {image.id}")

    async def close(self) -> None:
        await self._core.close()


def _headers_for(image: ImageRecord, attributes: Mapping[str, Any]) -> dict[str, str]:
    try:
        return to_headers(attributes)
    except RecordError as exc:
        raise ImageError(f"image {image.id}: {exc}", kind=ErrorKind.UNSAFE) from exc


def _refuse_deactivated(image: ImageRecord) -> None:
    """v1 has no call to deactivate an image: its copy would be usable where the source's is not."""
    if image.status == ImageStatus.DEACTIVATED:
        raise ImageError(
            f"image {image.id} is deactivated on the source, and Glance v1 cannot deactivate its copy: not copied",
            kind=ErrorKind.UNSUPPORTED,
        )
