"""A Glance reached through the v2 API, the one every Glance serves since 2018."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, AsyncIterator, Sequence

from replicator.errors import ImageError, RunError, VerificationError
from replicator.http import GlanceHttp
from replicator.records import MEMBERS, ImageRecord, members_from, record_from_v2
from replicator.retry import with_retries
from replicator.settings import Settings
from replicator.engine.actions import MISSING, AttributeChange, MemberChange
from replicator.stores.streaming import send_body

#: Ask for the largest page; Glance cuts `limit` to its own cap (api_limit_max, 1000 by default).
PAGE_LIMIT = 1000

#: Everything the credentials can see: all visibilities, shares in any state. Hidden images
#: appear only in a listing that asks for them, so a second listing fetches those.
_LIST_QUERIES = (
    "visibility=all&member_status=all",
    "visibility=all&member_status=all&os_hidden=true",
)

JSON_PATCH = "application/openstack-images-v2.1-json-patch"

#: Member lookups in flight while listing: small GETs, one per shared image (the default
#: visibility). `compare` of 1,000 images at 10 ms per answer took 2.1 s with 8 at a time, 1.0 s
#: with 32 (benchmarks, scenario 5).
LISTING_REQUESTS = 32

def import_wait_seconds(size: int | None) -> float:
    """How long an import may take once Glance has the staged data: a minute, plus time to copy
    the data into its store at a slow 10 MiB/s."""
    return 60.0 + (size or 0) / (10 * 2**20)


class GlanceV2Store:
    """Images of one Glance, through `/v2/images`."""

    def __init__(self, http: GlanceHttp, settings: Settings) -> None:
        self._http = http
        self._settings = settings
        self.description = f"Glance at {http.base_url}"
        self._upload_method = settings.upload_method

    async def list_images(self) -> list[ImageRecord]:
        pages = await asyncio.gather(*(self._list(query) for query in _LIST_QUERIES))
        merged: dict[str, ImageRecord] = {}
        for records in pages:
            for record in records:
                merged.setdefault(record.id, record)
        if MEMBERS in self._settings.dont_replicate:
            return list(merged.values())
        return await self._with_members(list(merged.values()))

    async def _with_members(self, records: list[ImageRecord]) -> list[ImageRecord]:
        """Attach each image's members: only `shared` images can have any, so only they cost a request."""
        gate = asyncio.Semaphore(max(LISTING_REQUESTS, self._settings.concurrency * 2))

        async def attach(record: ImageRecord) -> ImageRecord:
            if record.attributes.get("visibility") != "shared":
                return replace(record, members=())
            async with gate:
                body = await self._get(f"/v2/images/{record.id}/members", f"list members of image {record.id}")
            entries = body.get("members") if isinstance(body, dict) else None
            if not isinstance(entries, list):
                raise RunError(f"{self.description}: the members of image {record.id} are not a Glance answer")
            try:
                return replace(record, members=members_from(entries))
            except (KeyError, TypeError):
                raise RunError(f"{self.description}: bad member record for image {record.id}") from None

        return list(await asyncio.gather(*(attach(record) for record in records)))

    async def _list(self, query: str) -> list[ImageRecord]:
        url: str | None = f"/v2/images?limit={PAGE_LIMIT}&{query}"
        visited: set[str] = set()
        records: dict[str, ImageRecord] = {}
        while url:
            if url in visited:
                raise RunError(f"{self.description}: the image listing loops (next link {url} seen twice)")
            visited.add(url)
            body = await self._get_page(url)
            page = body["images"]
            new = 0
            for raw in page:
                record = self._record(raw)
                if record.id not in records:
                    records[record.id] = record
                    new += 1
            url = body.get("next")
            if url is not None and not isinstance(url, str):
                raise RunError(f"{self.description}: the image listing has a 'next' link that is not a string")
            if url and page and new == 0:
                raise RunError(f"{self.description}: the image listing loops (a page repeats images already listed)")
        return list(records.values())

    async def _get(self, url: str, what: str) -> Any:
        """A GET the plan depends on: retried, and fatal to the run if it still fails."""

        async def fetch() -> Any:
            return await self._http.json("GET", url, what=what)

        try:
            return await with_retries(fetch, self._settings.retries)
        except ImageError as exc:
            raise RunError(str(exc)) from None

    async def _get_page(self, url: str) -> dict[str, Any]:
        body = await self._get(url, f"list images on {self._http.base_url}")
        if not isinstance(body, dict) or not isinstance(body.get("images"), list):
            raise RunError(f"{self.description}: the image listing is not a Glance v2 answer (no 'images' list)")
        return body

    def _record(self, raw: Any) -> ImageRecord:
        if not isinstance(raw, dict):
            raise RunError(f"{self.description}: the image listing holds an entry that is not an object")
        try:
            return record_from_v2(raw)
        except (ValueError, TypeError) as exc:
            raise RunError(f"{self.description}: bad image record in the listing: {exc}") from None

    async def read_data(self, image: ImageRecord, offset: int = 0) -> AsyncIterator[bytes]:
        headers = {"Range": f"bytes={offset}-"} if offset else None
        expected = (206,) if offset else (200,)
        async with self._http.request(
            "GET", f"/v2/images/{image.id}/file", expected=expected, headers=headers,
            what=f"download image {image.id}",
        ) as response:
            async for chunk in response.content.iter_chunked(self._settings.chunk_size):
                yield chunk

    async def create_image(self, image: ImageRecord, attributes: dict[str, Any]) -> None:
        body = {"id": image.id, **attributes}
        try:
            await self._http.send(
                "POST", "/v2/images", json=body, expected=(201,), what=f"create image {image.id}"
            )
        except ImageError as exc:
            if not str(exc).startswith(f"create image {image.id}: 409"):
                raise
            await self._explain_taken_id(image, exc)

    async def _explain_taken_id(self, image: ImageRecord, conflict: ImageError) -> None:
        """A 409 on create: the image exists (an earlier attempt whose answer was lost, or another
        run) and the next steps bring it in line, or the id belonged to a deleted image."""
        async with self._http.request(
            "GET", f"/v2/images/{image.id}", expected=(200, 404), what=f"look up image {image.id}"
        ) as response:
            if response.status == 200:
                return
        raise ImageError(
            f"{conflict}; the id belonged to an image deleted on the target, and Glance never reuses ids"
        ) from None

    async def write_data(self, image: ImageRecord, chunks: AsyncIterator[bytes]) -> None:
        if self._upload_method == "glance-direct":
            await self._stream(image, chunks, "PUT", f"/v2/images/{image.id}/stage", f"stage image {image.id}")
            await self._import(image)
            return
        try:
            await self._stream(image, chunks, "PUT", f"/v2/images/{image.id}/file", f"upload image {image.id}")
        except ImageError as exc:
            if self._upload_method == "auto" and str(exc).startswith(f"upload image {image.id}: 403"):
                # This Glance refuses direct upload: use the interoperable import from now on, and
                # have this image sent again (the source stream is spent).
                self._upload_method = "glance-direct"
                raise ImageError(f"{exc}; switching to the glance-direct import", retryable=True, retry_after=0) from None
            raise

    async def _stream(self, image: ImageRecord, chunks: AsyncIterator[bytes], method: str, path: str, what: str) -> None:
        """Send the image's bytes as one request body; a failure of the source side is the reason given."""
        headers = {"Content-Type": "application/octet-stream"}
        if image.size is not None:
            # Glance 31+ fails an upload whose body is not this long: a short stream can
            # never become an active image.
            headers["Content-Length"] = str(image.size)
            headers["x-openstack-image-size"] = str(image.size)
        if self._settings.store and method == "PUT" and path.endswith("/file"):
            headers["X-Image-Meta-Store"] = self._settings.store
        await send_body(self._http, method, path, chunks, headers=headers, expected=(204, 201, 200), what=what)

    async def _import(self, image: ImageRecord) -> None:
        """Ask Glance to import the staged data, and wait until the image is active."""
        body: dict[str, Any] = {"method": {"name": "glance-direct"}}
        if self._settings.store:
            body["stores"] = [self._settings.store]
        await self._http.send(
            "POST", f"/v2/images/{image.id}/import", json=body, expected=(202,), what=f"import image {image.id}"
        )
        deadline = asyncio.get_running_loop().time() + import_wait_seconds(image.size)
        delay = 0.2
        while True:
            record = await self._http.json("GET", f"/v2/images/{image.id}", what=f"check import of image {image.id}")
            if not isinstance(record, dict):
                raise ImageError(f"check import of image {image.id}: the answer is not an image record")
            status = record.get("status")
            failed = record.get("os_glance_failed_import")
            if failed and not record.get("os_glance_importing_to_stores"):
                # Glance names the stores an import failed for; the status may never leave "importing".
                raise ImageError(f"import image {image.id}: Glance failed to import it into store {failed} (status {status})")
            if status == "active":
                if image.checksum and record.get("checksum") and record["checksum"] != image.checksum:
                    raise VerificationError(f"image {image.id}: Glance's checksum after import differs from the source's")
                return
            if status not in ("uploading", "importing"):
                raise ImageError(f"import image {image.id}: Glance ended it as {status}")
            if asyncio.get_running_loop().time() > deadline:
                raise ImageError(f"import image {image.id}: still {status} after {import_wait_seconds(image.size):.0f}s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def update_metadata(
        self, image: ImageRecord, current: ImageRecord, changes: Sequence[AttributeChange]
    ) -> None:
        ops = [_patch_op(change) for change in changes]
        await self._http.send(
            "PATCH", f"/v2/images/{image.id}", json=ops, headers={"Content-Type": JSON_PATCH},
            expected=(200,), what=f"update image {image.id}",
        )

    async def apply_members(self, image: ImageRecord, changes: Sequence[MemberChange]) -> None:
        for change in changes:
            base = f"/v2/images/{image.id}/members"
            what = f"share image {image.id} with {change.member}"
            if change.new is MISSING:
                await self._http.send("DELETE", f"{base}/{change.member}", expected=(204,), what=what)
                continue
            if change.old is MISSING:
                await self._http.send("POST", base, json={"member": change.member}, expected=(200,), what=what)
                if change.new == "pending":
                    continue
            await self._http.send(
                "PUT", f"{base}/{change.member}", json={"status": change.new}, expected=(200,), what=what
            )

    async def set_status(self, image: ImageRecord, status: str) -> None:
        verb = "deactivate" if status == "deactivated" else "reactivate"
        await self._http.send(
            "POST", f"/v2/images/{image.id}/actions/{verb}", expected=(204,), what=f"{verb} image {image.id}"
        )

    def as_held(self, image: ImageRecord) -> ImageRecord:
        return image  # the neutral record is the v2 form

    async def close(self) -> None:
        await self._http.close()


def _patch_op(change: AttributeChange) -> dict[str, Any]:
    path = "/" + change.key.replace("~", "~0").replace("/", "~1")
    if change.new is MISSING:
        return {"op": "remove", "path": path}
    if change.old is MISSING:
        return {"op": "add", "path": path, "value": change.new}
    return {"op": "replace", "path": path, "value": change.new}
