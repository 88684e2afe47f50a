"""What every Glance store shares, whatever its API version: the client core under `v2` and `v1`.

rclone's `lib/rest` shape: the two stores keep only what differs (paths, headers, record
codecs) and compose this core for the rest:

- `get_json`: a GET the plan depends on, retried, and fatal to the run if it still fails;
- `pages`: a listing walked page by page in ascending id order, within bounds, because a
  listing is written by the server: a page larger than the `limit` asked for, an empty page that
  points to another, ids that repeat or go backwards, or more images than `max_images` end it
  with a clear error instead of looping or filling memory;
- `members`: one image's shares, looked up with bounded parallelism;
- `create_or_adopt`: a 409 on create is looked at before anything is written: the image is
  adopted only when it is what an earlier attempt of ours left (queued, no data, the owner we
  asked for); anything else fails the image, naming what was found;
- `read`: an image's data from an offset, whether or not the server honours `Range`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any

from replicator.model.errors import ErrorKind, ImageError, RunError
from replicator.model.records import DELETED_STATUSES, ImageRecord, id_order, not_ours
from replicator.model.retry import with_retries
from replicator.model.settings import Settings
from replicator.model.tasks import Ahead
from replicator.model.vocabulary import ImageStatus
from replicator.stores.glance.transport import ApiPath, Transport

#: Ask for the largest page; Glance cuts `limit` to its own cap (api_limit_max, 1000 by default).
PAGE_LIMIT = 1000

#: Member lookups in flight: small GETs, one per image that may be shared. `compare` of 1,000
#: images at 10 ms per answer took 2.1 s with 8 at a time, 1.0 s with 32 (benchmarks, scenario 5).
LISTING_REQUESTS = 32

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class GlanceCore:
    """One Glance's transport, with the steps both API versions take the same way."""

    def __init__(self, transport: Transport, settings: Settings, description: str, api: str) -> None:
        self.transport = transport
        #: "v1" or "v2", for messages about answers that are not that API's.
        self.api = api
        self.settings = settings
        self.description = description
        self._lookups = asyncio.Semaphore(max(LISTING_REQUESTS, settings.concurrency * 2))

    async def get_json(self, path: ApiPath, what: str) -> Any:
        """A GET the plan depends on: retried, and fatal to the run if it still fails."""
        try:
            return await with_retries(lambda: self.transport.json("GET", path, what=what), self.settings.retries)
        except ImageError as exc:
            raise exc.as_run_error() from exc

    def refuse(self, message: str) -> RunError:
        """A listing this Glance answered that no Glance would: the run stops, naming the server."""
        return RunError(f"{self.description}: {message}", kind=ErrorKind.PROTOCOL, side=self.transport.side)

    async def pages(
        self,
        first: ApiPath,
        follow: Callable[[Mapping[str, Any], list[Any]], ApiPath | None],
        decode: Callable[[Any], ImageRecord],
    ) -> AsyncGenerator[ImageRecord, None]:
        """Every record of one listing, in ascending id order, page by page.

        `follow(body, entries)` gives the next page's path (None at the end); `decode` turns an
        entry into a record (raising RunError for one that is not an image record).

        The next page is asked for as soon as its link is known, before this page's records are
        handed out: the server prepares it while the caller decodes and plans this one (walking
        two listings one request at a time left both servers and the caller waiting on each
        other in turn). One page ahead is held, never more; the request for it is owned by this
        listing (`model/tasks.Ahead`): when the walk ends early or fails, it is cancelled and
        waited for before the listing is closed, so no request outlives it.
        """
        what = f"list images on {self.transport.base_url}"
        ahead: Ahead[Any] = Ahead()  # the page asked for ahead: cancelled and awaited however the walk ends
        following: asyncio.Task[Any] | None = ahead.start(self.get_json(first, what))
        previous: str | None = None
        capitals: set[str] = set()  # ids with capitals sort apart (see engine.march): held, they are rare
        listed = 0
        try:
            while following is not None:
                body = await ahead.result(following)
                following = None
                entries = body.get("images") if isinstance(body, dict) else None
                if not isinstance(entries, list):
                    raise self.refuse(f"the image listing is not a Glance {self.api} answer (no 'images' list)")
                if len(entries) > PAGE_LIMIT:
                    raise self.refuse(
                        f"a page of the image listing holds {len(entries)} records, more than the {PAGE_LIMIT} "
                        "asked for"
                    )
                path = follow(body, entries)
                if not entries and path is not None:
                    raise self.refuse("the image listing sent an empty page that points to another; not followed")
                if path is not None:
                    following = ahead.start(self.get_json(path, what))
                for raw in entries:
                    record = decode(raw)
                    if record.id != id_order(record.id):
                        repeated = record.id in capitals
                        capitals.add(record.id)
                    else:
                        repeated = previous is not None and record.id <= previous
                        previous = record.id if not repeated else previous
                    if repeated:
                        raise self.refuse(
                            f"the image listing loops or ignores the order asked for ({record.id} "
                            "came after a later id); not followed further"
                        )
                    listed += 1
                    limit = self.settings.max_images
                    if limit is not None and listed > limit:
                        raise RunError(
                            f"{self.description}: the image listing goes past {limit} images "
                            "(the maximum set for this run); stopped",
                            kind=ErrorKind.INPUT,
                            side=self.transport.side,
                        )
                    yield record
        finally:
            await ahead.close()

    async def members(
        self, path: ApiPath, image: ImageRecord, parse: Callable[[Any], tuple[tuple[str, str], ...] | None]
    ) -> tuple[tuple[str, str], ...]:
        """An image's (member, status) pairs; `parse` turns the answer into pairs, or None when it
        is not a member list."""
        async with self._lookups:
            body = await self.get_json(path, f"list members of image {image.id}")
        pairs = parse(body)
        if pairs is None:
            raise self.refuse(f"the members of image {image.id} are not a Glance {self.api} answer")
        return pairs

    async def create_or_adopt(
        self,
        image: ImageRecord,
        attributes: Mapping[str, Any],
        create: Callable[[], Awaitable[None]],
        look_up: Callable[[], Awaitable[ImageRecord | None]],
    ) -> None:
        """Create `image`; on a 409 (the id is taken) adopt what holds the id only if it is ours."""
        try:
            await create()
        except ImageError as exc:
            if exc.kind is not ErrorKind.CONFLICT:
                raise
            found = await look_up()
            if found is None or found.status in DELETED_STATUSES:
                raise exc.again(
                    f"{exc}; the id belonged to an image deleted on the target, and Glance never reuses ids",
                    retryable=False,
                ) from exc
            foreign = foreign_holder(found, attributes, self.settings)
            if foreign:
                raise exc.again(
                    f"create image {image.id}: the id is taken on the target by {foreign}; not ours, so not touched",
                    retryable=False,
                ) from exc

    async def read(self, path: ApiPath, image: ImageRecord, offset: int, what: str) -> AsyncGenerator[bytes, None]:
        """The data at `path` from byte `offset` on.

        A server that ignores `Range` answers 200 with the whole image: the bytes before
        `offset` are read and dropped, a restart the consumer never sees. A 206 must start where
        it was asked to: anything else would shift the data.
        """
        headers = {"Range": f"bytes={offset}-"} if offset else None
        async with self.transport.request(
            "GET", path, expected=(200, 206) if offset else (200,), headers=headers, what=what
        ) as response:
            skip = offset if response.status == 200 else 0
            if response.status == 206:
                _check_range(response.headers.get("Content-Range"), offset, what, self.transport.side)
            async for chunk in response.content.iter_chunked(self.settings.chunk_size):
                if skip:
                    dropped = min(skip, len(chunk))
                    chunk, skip = chunk[dropped:], skip - dropped
                    if not chunk:
                        continue
                yield chunk

    async def close(self) -> None:
        await self.transport.close()


def foreign_holder(found: ImageRecord, attributes: Mapping[str, Any], settings: Settings) -> str | None:
    """What makes the image `found` under our id not ours to fill, or None when it is ours.

    Ours is what an earlier attempt of this replicator leaves when its answer was lost: a
    `queued` record with no data that carries our mark or is owned by the owner we asked for
    (`records.not_ours`, the rule the plan holds every existing target image to as well).
    """
    owner = found.attributes.get("owner")
    described = f"an image in status {found.status}" + (f" owned by {owner}" if owner else "")
    if found.size or found.checksum:
        return described + " that holds data"
    if found.status != ImageStatus.QUEUED:
        return described
    name = settings.mark_property
    mark = (name, attributes[name]) if name and name in attributes else None
    if not_ours(found, attributes.get("owner"), mark):
        return described + " that carries no mark of this mirror"
    return None


def _check_range(header: str | None, offset: int, what: str, side: str | None) -> None:
    match = _CONTENT_RANGE.fullmatch((header or "").strip())
    if match is None or int(match.group(1)) != offset:
        raise ImageError(
            f"{what}: the server answered the resumed download from another byte "
            f"({header or 'no Content-Range'}, asked for {offset})",
            kind=ErrorKind.PROTOCOL,
            side=side,
        )


async def merge_by_id(*streams: AsyncGenerator[ImageRecord, None]) -> AsyncGenerator[ImageRecord, None]:
    """Records of several id-ordered listings as one id-ordered stream; an image listed by more
    than one (a Glance that ignores a filter) is given once. The streams are this merge's: it
    closes every one of them when it ends, however it ends.

    Once means the same id exactly: two ids that differ only in case are two images (Glance
    takes a caller-chosen id, and its schema allows capitals), so a tenant's case-twin of an
    image never hides it. Ids with capitals sort apart (`engine.march` pairs them at the end):
    each is handed out as soon as it heads its listing, so it never holds back the lower-case
    ids behind it, and those it has given are held as a set (they are rare).
    """
    try:
        heads: dict[int, ImageRecord] = {}
        for index, stream in enumerate(streams):
            if (first := await anext(stream, None)) is not None:
                heads[index] = first
        previous: str | None = None
        capitals: set[str] = set()
        while heads:
            index = min(heads, key=lambda i: _merge_key(heads[i].id))
            record = heads.pop(index)
            if (following := await anext(streams[index], None)) is not None:
                heads[index] = following
            if record.id != id_order(record.id):
                if record.id not in capitals:
                    capitals.add(record.id)
                    yield record
            elif record.id != previous:
                previous = record.id
                yield record
    finally:
        for stream in streams:
            await stream.aclose()


def _merge_key(image_id: str) -> tuple[bool, str]:
    """Ids with capitals first (in any order: they are paired apart), then the lower-case ids."""
    return image_id == id_order(image_id), image_id
