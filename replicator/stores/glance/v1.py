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

import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from replicator.engine.actions import MISSING, AttributeChange, MemberChange
from replicator.errors import ErrorKind, ImageError
from replicator.records import (
    SETTABLE_BASE,
    ImageRecord,
    int_or_none,
    is_image_id,
    is_replicable,
    text_or_none,
    without_null_properties,
)
from replicator.settings import Settings
from replicator.stores.glance.core import PAGE_LIMIT, GlanceCore
from replicator.transport import ApiPath, Transport, api_path

META = "x-image-meta-"
PROPERTY = "x-image-meta-property-"
#: Tells a v1 `PUT` that the properties it names are all the image keeps.
PURGE_PROPS = "x-glance-registry-purge-props"
#: v1's own settable attributes: everything else a record carries travels as a property.
V1_BASE = frozenset({"name", "disk_format", "container_format", "min_ram", "min_disk", "owner", "protected"})
#: v2 attributes a v1 Glance has no place for.
NOT_HELD = frozenset({"tags", "os_hidden"})
#: The v2 status every v1 member reads as (see the module docstring).
MEMBER_STATUS = "accepted"
#: v1 headers whose values are numbers or booleans in its JSON listing.
_INTEGERS = ("size", "virtual_size", "min_ram", "min_disk")
_BOOLEANS = ("is_public", "protected", "deleted")
#: What a header name may hold (RFC 9110 `token`): anything else would end the header, start
#: another, or be read as another property.
_HEADER_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


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

    def walk(self) -> AsyncIterator[ImageRecord]:
        """v1 has no `next` link: a page's last id is the next page's marker, until a page is empty."""

        def follow(body: Mapping[str, Any], entries: list[Any]) -> ApiPath | None:
            return listing_path(self._decode(entries[-1]).id) if entries else None

        return self._core.pages(listing_path(None), follow, self._decode)

    def _decode(self, raw: Any) -> ImageRecord:
        if not isinstance(raw, dict) or not is_image_id(raw.get("id")):
            raise self._core.refuse(f"the image listing holds a record without a valid image id: {str(raw)[:80]!r}")
        try:
            return record_from_v1(raw)
        except (TypeError, ValueError, AttributeError) as exc:
            raise self._core.refuse(f"bad record for image {raw.get('id')} in the listing: {exc}") from None

    def known_members(self, image: ImageRecord) -> ImageRecord | None:
        """Only a non-public image has members to copy, so only it costs a request."""
        return replace(image, members=()) if image.attributes.get("visibility") == "public" else None

    async def with_members(self, image: ImageRecord) -> ImageRecord:
        member_ids = await self._core.members(image_path(image, "members"), image, _member_ids)
        return with_members(image, [member for member, _ in member_ids])

    def as_held(self, image: ImageRecord) -> ImageRecord:
        members = None if image.members is None else [member for member, _ in image.members]
        held = replace(image, attributes=held_attributes(image.attributes), members=None)
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

    def can_pull(self, image: ImageRecord) -> bool:
        return False

    async def pull(self, image: ImageRecord, on_status: Callable[[str], None]) -> None:
        raise ImageError(f"{self.description} cannot fetch image data itself", kind=ErrorKind.UNSUPPORTED)

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
        except (TypeError, ValueError, AttributeError):
            raise ImageError(
                f"look up image {image.id}: its headers are not a v1 image record",
                kind=ErrorKind.PROTOCOL,
                side=self._transport.side,
            ) from None

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
                if held is not None and held.status == "killed":
                    # What v1 does to an image whose upload failed: it never takes data again.
                    raise exc.again(
                        f"{what}: the target Glance v1 marked it 'killed' after an earlier upload "
                        "failed, and takes no data for it again; delete it there to copy it anew"
                    ) from None
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

    async def set_status(self, image: ImageRecord, status: str) -> None:
        raise ImageError(
            f"image {image.id}: Glance v1 cannot deactivate or reactivate an image",
            kind=ErrorKind.UNSUPPORTED,
            side=self._transport.side,
        )

    async def close(self) -> None:
        await self._core.close()


def _member_ids(body: Any) -> tuple[tuple[str, str], ...] | None:
    entries = body.get("members") if isinstance(body, dict) else None
    if not isinstance(entries, list) or not all(
        isinstance(entry, dict) and isinstance(entry.get("member_id"), str) for entry in entries
    ):
        return None
    return tuple((entry["member_id"], MEMBER_STATUS) for entry in entries)


def with_members(record: ImageRecord, member_ids: Sequence[str]) -> ImageRecord:
    """`record` (from a v1 listing) with its members, in v2 terms: a non-public image with
    members is `shared`, every member `accepted`."""
    members = tuple(sorted((member, MEMBER_STATUS) for member in set(member_ids)))
    attributes = dict(record.attributes)
    if members and attributes.get("visibility") == "private":
        attributes["visibility"] = "shared"
    return replace(record, attributes=attributes, members=members)


def held_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """v2-form attributes as a v1 Glance keeps them (and gives them back in its listing)."""
    held = {}
    for key, value in attributes.items():
        if key in NOT_HELD:
            continue
        if key == "visibility":
            value = "public" if value == "public" else "private"  # v1 knew only is_public
        elif key not in SETTABLE_BASE:
            key = key.lower().replace("-", "_")  # v1 read property names from header names so
        held[key] = value
    return held


def to_headers(attributes: Mapping[str, Any]) -> dict[str, str]:
    """v2-form attributes as v1 request headers: `visibility` becomes `is_public`, custom
    properties `x-image-meta-property-*`; what v1 cannot hold is left out. An unset value
    (None) is sent empty, which v1 reads as unset.

    ValueError for a name or value no header can carry (a line break, a colon)."""
    headers = {}
    for key, value in attributes.items():
        if key in NOT_HELD:
            continue
        if key == "visibility":
            headers[META + "is_public"] = str(value == "public")
        elif key in V1_BASE:
            headers[META + key] = _header_value(key, value)
        elif key not in SETTABLE_BASE:
            if not _HEADER_TOKEN.fullmatch(key):
                raise ValueError(
                    f"property name {key!r} cannot be a v1 header name (it holds a character "
                    "a header name cannot carry)"
                )
            headers[PROPERTY + key] = _header_value(key, value)
    return headers


def v1_from_headers(headers: Mapping[str, str]) -> dict[str, Any]:
    """A v1 record (as its listing gives it) from the headers of a `HEAD` or `GET`."""
    record: dict[str, Any] = {"properties": {}}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith(PROPERTY):
            record["properties"][lowered[len(PROPERTY) :]] = value
        elif lowered.startswith(META):
            key = lowered[len(META) :]
            record[key] = int(value) if key in _INTEGERS and value.isdigit() else value
            if key in _BOOLEANS:
                record[key] = value.strip().lower() == "true"
    return record


def is_v1_record(raw: Mapping[str, Any]) -> bool:
    """Whether a record has the v1 shape (the old glance-replicator's dumps, a v1 listing)."""
    return isinstance(raw.get("properties"), dict) or "is_public" in raw


def record_from_v1(raw: Mapping[str, Any]) -> ImageRecord:
    """Map a v1 record (nested `properties`, `is_public`) onto v2 attributes.

    v1 had no `visibility`: `is_public` true means public, false private. v1 custom
    properties sit in `properties`; v2 keeps them at the top level.
    """
    if not is_image_id(raw.get("id")):
        raise ValueError(f"image id {raw.get('id')!r} is not a UUID")
    attributes: dict[str, Any] = {}
    for key in ("name", "disk_format", "container_format", "owner"):
        if key in raw:
            attributes[key] = raw[key]
    for key in ("min_ram", "min_disk"):
        if raw.get(key) is not None:
            attributes[key] = int(raw[key])
    if "protected" in raw:
        attributes["protected"] = _v1_bool(raw["protected"])
    if "is_public" in raw:
        attributes["visibility"] = "public" if _v1_bool(raw["is_public"]) else "private"
    properties = raw.get("properties") or {}
    for key, value in properties.items():
        if is_replicable(key) and key not in SETTABLE_BASE:
            attributes[key] = value
    if raw.get("tags"):
        attributes["tags"] = list(raw["tags"])
    return ImageRecord(
        id=str(raw["id"]),
        status=str(raw.get("status") or "queued"),
        attributes=without_null_properties(attributes),
        size=int_or_none(raw.get("size")),
        checksum=text_or_none(raw, "checksum"),
        raw=dict(raw),
    )


def _headers_for(image: ImageRecord, attributes: Mapping[str, Any]) -> dict[str, str]:
    try:
        return to_headers(attributes)
    except ValueError as exc:
        raise ImageError(f"image {image.id}: {exc}", kind=ErrorKind.UNSAFE) from None


def _header_value(key: str, value: Any) -> str:
    """A value as v1 carries it: a string (v1 properties had no other type)."""
    text = "" if value is None else value if isinstance(value, str) else str(value)
    if "\r" in text or "\n" in text or "\0" in text:
        raise ValueError(f"attribute {key!r} holds a line break, which a v1 header cannot carry")
    return text


def _v1_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)


def _refuse_deactivated(image: ImageRecord) -> None:
    """v1 has no call to deactivate an image: its copy would be usable where the source's is not."""
    if image.status == "deactivated":
        raise ImageError(
            f"image {image.id} is deactivated on the source, and Glance v1 cannot deactivate its copy: not copied",
            kind=ErrorKind.UNSUPPORTED,
        )
