"""A Glance reached through the v1 API, for the clouds that still run one (removed from Glance
in 2018, so every cloud migrating off it needs this side).

v1 lists images as JSON with custom properties nested under `properties` and `is_public` in
place of `visibility`; it reads and writes one image's metadata as `x-image-meta-*` headers.
Records are mapped to the neutral record on the way in (`records.record_from_v1`) and back to
headers on the way out, so a v1 source and a v2 target compare attribute by attribute.

What v1 cannot express is folded away by `as_held` (no tags, no `os_hidden`, public or not
public, property names lower-cased with `-` read as `_`, members without a status): the
engine compares a v1 target's copies with the source in that form, instead of finding them
different on every run.

Members: v1 shared a non-public image with projects that needed no step of their own to see
it. Read into v2 terms, such an image is `shared` and each member `accepted` (the v2 status
under which the image is listed for the member, as it was under v1).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, AsyncIterator, Mapping, Sequence
from urllib.parse import urlencode

from replicator.errors import ImageError, RunError
from replicator.http import GlanceHttp
from replicator.records import MEMBERS, SETTABLE_BASE, ImageRecord, is_image_id, record_from_v1
from replicator.retry import with_retries
from replicator.settings import Settings
from replicator.engine.actions import MISSING, AttributeChange, MemberChange
from replicator.stores.streaming import send_body

#: The largest page asked for; a v1 Glance cuts it to its own api_limit_max.
PAGE_LIMIT = 1000
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
#: Member lookups in flight while listing: one small GET per non-public image.
LISTING_REQUESTS = 32
#: v1 headers whose values are numbers or booleans in its JSON listing.
_INTEGERS = ("size", "virtual_size", "min_ram", "min_disk")
_BOOLEANS = ("is_public", "protected", "deleted")


class GlanceV1Store:
    """Images of one Glance, through `/v1/images`."""

    def __init__(self, http: GlanceHttp, settings: Settings) -> None:
        self._http = http
        self._settings = settings
        self.description = f"Glance (v1 API) at {http.base_url}"

    async def list_images(self) -> list[ImageRecord]:
        records = await self._list()
        if MEMBERS in self._settings.dont_replicate:
            return records
        return await self._with_members(records)

    async def _list(self) -> list[ImageRecord]:
        """Every image of any visibility (`is_public=None`), paged by marker until a page is empty."""
        records: dict[str, ImageRecord] = {}
        marker: str | None = None
        while True:
            query = {"is_public": "None", "limit": str(PAGE_LIMIT), **({"marker": marker} if marker else {})}
            page = await self._get(f"/v1/images/detail?{urlencode(query)}", f"list images on {self._http.base_url}")
            images = page.get("images") if isinstance(page, dict) else None
            if not isinstance(images, list):
                raise RunError(f"{self.description}: the image listing is not a Glance v1 answer (no 'images' list)")
            if not images:
                return list(records.values())
            for raw in images:
                record = _record(raw, self.description)
                if record.id in records:
                    raise RunError(f"{self.description}: the image listing loops (image {record.id} listed twice)")
                records[record.id] = record
            marker = str(images[-1]["id"])

    async def _with_members(self, records: list[ImageRecord]) -> list[ImageRecord]:
        """Attach each non-public image's members (a public image has none to copy)."""
        gate = asyncio.Semaphore(max(LISTING_REQUESTS, self._settings.concurrency * 2))

        async def attach(record: ImageRecord) -> ImageRecord:
            if record.attributes.get("visibility") == "public":
                return replace(record, members=())
            async with gate:
                body = await self._get(f"/v1/images/{record.id}/members", f"list members of image {record.id}")
            entries = body.get("members") if isinstance(body, dict) else None
            if not isinstance(entries, list) or not all(
                isinstance(entry, dict) and isinstance(entry.get("member_id"), str) for entry in entries
            ):
                raise RunError(f"{self.description}: the members of image {record.id} are not a Glance v1 answer")
            return with_members(record, [entry["member_id"] for entry in entries])

        return list(await asyncio.gather(*(attach(record) for record in records)))

    async def _get(self, url: str, what: str) -> Any:
        """A GET the plan depends on: retried, and fatal to the run if it still fails."""
        try:
            return await with_retries(lambda: self._http.json("GET", url, what=what), self._settings.retries)
        except ImageError as exc:
            raise RunError(str(exc)) from None

    def as_held(self, image: ImageRecord) -> ImageRecord:
        members = None if image.members is None else [member for member, _ in image.members]
        held = replace(image, attributes=held_attributes(image.attributes), members=None)
        return held if members is None else with_members(held, members)

    async def read_data(self, image: ImageRecord, offset: int = 0) -> AsyncIterator[bytes]:
        """The data from `offset` on. A v1 Glance ignores `Range` and sends the whole image (200):
        then the bytes before `offset` are read and dropped, a restart the consumer never sees."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        async with self._http.request(
            "GET", f"/v1/images/{image.id}", headers=headers, expected=(200, 206), what=f"download image {image.id}"
        ) as response:
            skip = offset if response.status == 200 else 0
            async for chunk in response.content.iter_chunked(self._settings.chunk_size):
                if skip:
                    dropped = min(skip, len(chunk))
                    chunk, skip = chunk[dropped:], skip - dropped
                    if not chunk:
                        continue
                yield chunk

    async def create_image(self, image: ImageRecord, attributes: dict[str, Any]) -> None:
        """Create the record alone (it stays `queued`); `write_data` then sends the data.

        A 409 means the id is taken: by this image, created by an earlier attempt whose answer
        was lost (then the next steps bring it in line), or by a deleted one (an error)."""
        _refuse_deactivated(image)
        headers = {META + "id": image.id, **_headers_for(image, attributes)}
        try:
            await self._http.send(
                "POST", "/v1/images", headers=headers, expected=(201,), what=f"create image {image.id}"
            )
        except ImageError as exc:
            if exc.status != 409:
                raise
            status = await self._status(image)
            if status in (None, "deleted"):
                raise ImageError(f"{exc}; the id belonged to an image deleted on the target, "
                                 "and Glance never reuses ids") from None

    async def _status(self, image: ImageRecord) -> str | None:
        """The target copy's status from `HEAD` (v1's metadata call), None when there is none."""
        async with self._http.request(
            "HEAD", f"/v1/images/{image.id}", expected=(200, 404), what=f"look up image {image.id}"
        ) as response:
            if response.status == 404:
                return None
            return str(v1_from_headers(response.headers).get("status") or "") or None

    async def write_data(self, image: ImageRecord, chunks: AsyncIterator[bytes]) -> None:
        """v1 takes the data of a queued image as the body of a `PUT` of that image."""
        _refuse_deactivated(image)
        headers = {"Content-Type": "application/octet-stream"}
        if image.size is not None:
            headers["Content-Length"] = headers[META + "size"] = str(image.size)
        what = f"upload image {image.id}"
        try:
            await send_body(self._http, "PUT", f"/v1/images/{image.id}", chunks, headers=headers,
                            expected=(200,), what=what)
        except ImageError as exc:
            if exc.status == 409 and await self._status(image) == "killed":
                # What v1 does to an image whose upload failed: it never takes data again.
                raise ImageError(f"{what}: the target Glance v1 marked it 'killed' after an earlier upload "
                                 "failed, and takes no data for it again; delete it there to copy it anew") from None
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
        await self._http.send(
            "PUT", f"/v1/images/{image.id}", headers=headers, expected=(200,), what=f"update image {image.id}"
        )

    async def apply_members(self, image: ImageRecord, changes: Sequence[MemberChange]) -> None:
        """Add and remove shares; a v1 member has no status to change (`as_held` reads them alike)."""
        for change in changes:
            path, what = f"/v1/images/{image.id}/members/{change.member}", f"share image {image.id} with {change.member}"
            if change.new is MISSING:
                await self._http.send("DELETE", path, expected=(204,), what=what)
            elif change.old is MISSING:
                await self._http.send("PUT", path, expected=(204,), what=what)

    async def set_status(self, image: ImageRecord, status: str) -> None:
        raise ImageError(f"image {image.id}: Glance v1 cannot deactivate or reactivate an image")

    async def close(self) -> None:
        await self._http.close()


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

    ValueError for a value no header can carry (a line break)."""
    headers = {}
    for key, value in attributes.items():
        if key in NOT_HELD:
            continue
        if key == "visibility":
            headers[META + "is_public"] = str(value == "public")
        elif key in V1_BASE:
            headers[META + key] = _header_value(key, value)
        elif key not in SETTABLE_BASE:
            headers[PROPERTY + key] = _header_value(key, value)
    return headers


def v1_from_headers(headers: Mapping[str, str]) -> dict[str, Any]:
    """A v1 record (as its listing gives it) from the headers of a `HEAD` or `GET`."""
    record: dict[str, Any] = {"properties": {}}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith(PROPERTY):
            record["properties"][lowered[len(PROPERTY):]] = value
        elif lowered.startswith(META):
            key = lowered[len(META):]
            record[key] = int(value) if key in _INTEGERS and value.isdigit() else value
            if key in _BOOLEANS:
                record[key] = value.strip().lower() == "true"
    return record


def _headers_for(image: ImageRecord, attributes: Mapping[str, Any]) -> dict[str, str]:
    try:
        return to_headers(attributes)
    except ValueError as exc:
        raise ImageError(f"image {image.id}: {exc}") from None


def _header_value(key: str, value: Any) -> str:
    """A value as v1 carries it: a string (v1 properties had no other type)."""
    text = "" if value is None else value if isinstance(value, str) else str(value)
    if "\r" in text or "\n" in text:
        raise ValueError(f"attribute {key!r} holds a line break, which a v1 header cannot carry")
    return text


def _record(raw: Any, description: str) -> ImageRecord:
    if not isinstance(raw, dict) or not is_image_id(raw.get("id")):
        raise RunError(f"{description}: the image listing holds a record without a valid image id: {str(raw)[:80]!r}")
    try:
        return record_from_v1(raw)
    except (TypeError, ValueError, AttributeError) as exc:
        raise RunError(f"{description}: bad record for image {raw.get('id')} in the listing: {exc}") from None


def _refuse_deactivated(image: ImageRecord) -> None:
    """v1 has no call to deactivate an image: its copy would be usable where the source's is not."""
    if image.status == "deactivated":
        raise ImageError(f"image {image.id} is deactivated on the source, and Glance v1 cannot deactivate "
                         "its copy: not copied")
