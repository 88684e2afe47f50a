"""A hostile Glance for the attack tests (issue 12): one mode per attack, each a small class.

Every value a server sends is written by someone the replicator must not trust. The modes here
are servers that send what an attacker (a tenant, a compromised or broken Glance, a proxy)
would: links to other hosts, listings that never end or never fit, ids and names meant to break
out of a path or a terminal, answers that lie about what was stored.

Two families:

* **Sources** (`FakeGlance` and its subclasses): a minimal Glance v2 that lists `images` (records
  plus data, built with `image()`) and serves their records, members and data. A subclass changes
  the one answer its attack needs.
* **Targets** (`GlanceProxy` and its subclasses): a proxy in front of an honest `replicator serve`
  that passes every request through except the one it lies about, so everything else (creating,
  patching, reading back) is the real server's behaviour.

Each mode runs in-process on 127.0.0.1 (a free port) from a thread of its own, and records every
request it receives (`requests`), so a test can tell what reached it: a token, an upload, a
`Range` header. Use one as a context manager: `with ForeignNextLink(...) as source: source.url`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Self

import aiohttp
from aiohttp import web

#: The algorithm Glance 33 records in `os_hash_algo` by default.
HASH_ALGO = "sha512"
#: A loopback address other than the one the modes listen on: "another host" for tests that
#: must show a request never left for a foreign origin (Linux routes all of 127/8 to lo).
FOREIGN_HOST = "127.0.0.2"


@dataclass(frozen=True)
class Recorded:
    """One request a mode received."""

    method: str
    path_qs: str
    headers: dict[str, str]


@dataclass
class FakeImage:
    """An image a fake source lists: its record as sent, and the bytes its `/file` serves."""

    record: dict[str, Any]
    data: bytes = b""

    @property
    def id(self) -> str:
        return str(self.record["id"])


def image(data: bytes | None = b"", **fields: Any) -> FakeImage:
    """An honest record for `data` (None: a queued image without data): right size and hashes,
    a fresh id, raw/bare, private, owned by project `p-source`; `fields` override any of it."""
    record: dict[str, Any] = {
        "id": str(uuid.uuid4()), "name": "image", "status": "queued", "visibility": "private",
        "disk_format": "raw", "container_format": "bare", "owner": "p-source", "protected": False,
        "os_hidden": False, "min_ram": 0, "min_disk": 0, "tags": [], "size": None, "checksum": None,
        "os_hash_algo": None, "os_hash_value": None,
    }  # fmt: skip
    if data is not None:
        record.update(
            status="active", size=len(data), checksum=hashlib.md5(data).hexdigest(),
            os_hash_algo=HASH_ALGO, os_hash_value=hashlib.new(HASH_ALGO, data).hexdigest(),
        )  # fmt: skip
    record.update(fields)
    return FakeImage(record, data or b"")


def unverifiable_image(data: bytes, hash_algo: str | None) -> FakeImage:
    """Defect 8: an active image whose record gives nothing this Python can check its data
    against: no md5 `checksum`, and an `os_hash_algo` no hashlib knows (or none at all)."""
    return image(data, checksum=None, os_hash_algo=hash_algo, os_hash_value="ab" * 32 if hash_algo else None)


def image_with_newline_id(data: bytes) -> FakeImage:
    """Defect 10: an image whose id is a UUID followed by a line break (a `$` in a pattern
    matches before it), which would name a file and a request path."""
    return image(data, id=f"{uuid.uuid4()}\n")


class Listener:
    """One aiohttp application on `host`:<free port>, served from a thread with its own loop.

    Subclasses add their routes in `add_routes`. Every request is recorded before it is handled.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.url = ""
        self.requests: list[Recorded] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """The mode's routes."""

    def start(self) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def requests_to(self, method: str, path_part: str) -> list[Recorded]:
        """The requests received with this method whose path contains `path_part`."""
        return [r for r in self.requests if r.method == method and path_part in r.path_qs]

    async def _start(self) -> None:
        app = web.Application(middlewares=[self._record], client_max_size=1024**3)
        self.add_routes(app.router)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{self.host}:{port}"
        await self.started()

    async def started(self) -> None:
        """Called in the server's loop once it listens (a proxy opens its client session here)."""

    async def _stop(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()
        await self.stopping()

    async def stopping(self) -> None:
        """Called in the server's loop as it stops."""

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(Recorded(request.method, request.path_qs, dict(request.headers)))
        return await handler(request)


class ForeignOrigin(Listener):
    """Defect 2's other host: answers every request with an empty listing and records it, so a
    test can prove that no request (and so no `X-Auth-Token`) ever reached it."""

    def __init__(self) -> None:
        super().__init__(FOREIGN_HOST)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_route("*", "/{tail:.*}", self._answer)

    async def _answer(self, request: web.Request) -> web.Response:
        return web.json_response({"images": []})


# --- Sources ------------------------------------------------------------------------------


class FakeGlance(Listener):
    """An honest, minimal Glance v2 source: `/versions`, one listing page holding every image,
    each image's record, members (`members`: {image id: [member ids]}) and data.

    `images` may be changed between two runs of the replicator (a tenant editing its image).
    """

    def __init__(self, images: list[FakeImage] | None = None, *, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self.images = list(images or [])
        self.members: dict[str, list[str]] = {}

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/versions", self.versions)
        router.add_get("/v2/images", self.listing)
        router.add_get("/v2/images/{image_id}", self.show)
        router.add_get("/v2/images/{image_id}/members", self.list_members)
        router.add_get("/v2/images/{image_id}/file", self.download)

    def find(self, image_id: str) -> FakeImage:
        for candidate in self.images:
            if candidate.id == image_id:
                return candidate
        raise web.HTTPNotFound(text=f"No image found with ID {image_id}")

    async def versions(self, request: web.Request) -> web.Response:
        href = f"{self.url}/v2/"
        return web.json_response(
            {"versions": [{"id": "v2.16", "status": "CURRENT", "links": [{"rel": "self", "href": href}]}]}
        )

    def listed(self, request: web.Request) -> list[dict[str, Any]]:
        """The records a listing shows: hidden images only when asked for (`os_hidden=true`),
        as Glance does."""
        hidden = request.query.get("os_hidden") == "true"
        # In id order, as Glance lists them when asked (`sort_key=id`): the attacks here are in
        # the records, not in their order (which the replicator checks for itself).
        shown = [i.record for i in self.images if bool(i.record.get("os_hidden")) == hidden]
        return sorted(shown, key=lambda record: str(record["id"]))

    async def listing(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"images": self.listed(request), "schema": "/v2/schemas/images"})

    async def show(self, request: web.Request) -> web.Response:
        return web.json_response(self.find(request.match_info["image_id"]).record)

    async def list_members(self, request: web.Request) -> web.Response:
        image_id = request.match_info["image_id"]
        members = [
            {"member_id": member, "image_id": image_id, "status": "accepted"}
            for member in self.members.get(image_id, [])
        ]
        return web.json_response({"members": members, "schema": "/v2/schemas/members"})

    async def download(self, request: web.Request) -> web.StreamResponse:
        found = self.find(request.match_info["image_id"])
        return web.Response(
            body=found.data,
            content_type="application/octet-stream",
            headers={"Content-MD5": hashlib.md5(found.data).hexdigest()},
        )


class ForeignNextLink(FakeGlance):
    """Defect 2: the first listing page's `next` is an absolute link to another origin
    (`foreign_url`), where a replicator that follows it sends its token."""

    def __init__(self, foreign_url: str, images: list[FakeImage]) -> None:
        super().__init__(images)
        self.foreign_url = foreign_url

    async def listing(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"images": self.listed(request), "next": f"{self.foreign_url}/v2/images?marker=stolen"}
        )


class EndlessEmptyPages(FakeGlance):
    """Defect 7: every listing page is empty and carries a `next` link that is new each time,
    so no loop check on repeated links or repeated images ever fires.

    Ends (a page without `next`) after `give_up_after` pages, so that a replicator which follows
    it does not run forever in a test; the test then shows how many pages it asked for.
    """

    def __init__(self, give_up_after: int = 2000) -> None:
        super().__init__()
        self.give_up_after = give_up_after
        self.pages_served = 0

    async def listing(self, request: web.Request) -> web.StreamResponse:
        self.pages_served += 1
        if self.pages_served >= self.give_up_after:
            return web.json_response({"images": []})
        return web.json_response({"images": [], "next": f"/v2/images?marker={uuid.uuid4()}"})


class EndlessNewImages(FakeGlance):
    """Defect 7 (`--max-images`): every page lists one image never seen before and a fresh
    `next` link: a listing that grows without end (a runaway or malicious server).

    Ends after `give_up_after` pages, as `EndlessEmptyPages` does.
    """

    def __init__(self, give_up_after: int = 2000) -> None:
        super().__init__()
        self.give_up_after = give_up_after
        self.pages_served = 0

    async def listing(self, request: web.Request) -> web.StreamResponse:
        self.pages_served += 1
        flood = image(None, name=f"flood-{self.pages_served}").record
        # Ids that go up, page after page, as a sorted listing's do: nothing but its length is wrong.
        flood["id"] = f"{self.pages_served:08x}-{flood['id'][9:]}"
        page = [flood]
        if self.pages_served >= self.give_up_after:
            return web.json_response({"images": page})
        return web.json_response({"images": page, "next": f"/v2/images?marker={page[0]['id']}"})


class OversizedPage(FakeGlance):
    """Defect 18 (answers are bounded): a listing page holds `factor` times the `limit` the
    replicator asked for (a server that ignores `limit`: the issue saw 1,000,000 records and 2 GB
    for a `limit` of 1,000)."""

    def __init__(self, factor: int = 5) -> None:
        super().__init__()
        self.factor = factor
        self.records_served = 0

    async def listing(self, request: web.Request) -> web.StreamResponse:
        limit = int(request.query.get("limit") or 25)
        page = [image(None, name=f"extra-{n}").record for n in range(limit * self.factor)]
        self.records_served += len(page)
        return web.json_response({"images": page})


class OversizedBody(FakeGlance):
    """Defect 18 (answers are bounded): a listing page whose body is `total` bytes long (valid
    JSON, padded with whitespace), sent chunked so no `Content-Length` warns of it.

    `sent` holds, per answer, how much of it the replicator read before it hung up: a bounded
    reader stops far short of `total`.
    """

    def __init__(self, total: int = 256 * 2**20) -> None:
        super().__init__()
        self.total = total
        self.sent: list[int] = []

    async def listing(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        head, tail = b'{"images": [], "padding": "', b'"}'
        block = b" " * 2**20
        answer = len(self.sent)  # two listings may be answered at once
        self.sent.append(0)
        try:
            await response.write(head)
            remaining = self.total - len(head) - len(tail)
            while remaining > 0:
                piece = block[: min(len(block), remaining)]
                await response.write(piece)
                self.sent[answer] += len(piece)
                remaining -= len(piece)
            await response.write(tail)
            await response.write_eof()
        except (ConnectionError, RuntimeError):  # aiohttp's ways of saying the client hung up
            pass  # what a bounded reader does
        return response


class DeeplyNested(FakeGlance):
    """Defect 16: a listing page whose JSON nests lists `depth` deep (a parser that recurses
    per level dies with RecursionError)."""

    def __init__(self, depth: int = 100_000) -> None:
        super().__init__()
        self.depth = depth

    async def listing(self, request: web.Request) -> web.StreamResponse:
        body = b'{"images": ' + b"[" * self.depth + b"]" * self.depth + b"}"
        return web.Response(body=body, content_type="application/json")


class RangeIgnored(FakeGlance):
    """Defect 12: the first download of each image is cut halfway; the resumed download (with a
    `Range` header) is answered `200` with the whole image from byte 0, as a server or proxy
    that ignores `Range` does. The bytes are always the image's own: nothing is corrupt.
    """

    def __init__(self, images: list[FakeImage]) -> None:
        super().__init__(images)
        self.cut: set[str] = set()

    async def download(self, request: web.Request) -> web.StreamResponse:
        found = self.find(request.match_info["image_id"])
        if found.id in self.cut:
            return await super().download(request)  # Range or not: 200 and everything
        self.cut.add(found.id)
        response = web.StreamResponse(
            headers={"Content-Length": str(len(found.data)), "Content-Type": "application/octet-stream"}
        )
        await response.prepare(request)
        await response.write(found.data[: len(found.data) // 2])
        assert request.transport is not None
        request.transport.close()  # sends what is buffered, then cuts the connection
        return response


class EscapingErrors(FakeGlance):
    """Defect 9 (errors): every download is refused with a 403 whose message holds terminal
    escapes and line breaks (clear the screen, set the window title, forge a log line), which
    reach the terminal through the FAILED line and the summary."""

    MESSAGE = '\x1b[2J\x1b[H\x1b]0;owned\x07denied\r\nFAILED  00000000-0000-0000-0000-000000000000 "forged": fake'

    async def download(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"message": self.MESSAGE, "code": 403, "title": "Forbidden"}, status=403)


# --- Targets ------------------------------------------------------------------------------

#: Headers a proxy must not copy from one connection to another.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "host",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "proxy-authenticate",
        "content-encoding",
    }
)


class GlanceProxy(Listener):
    """A target that passes every request to the honest Glance at `upstream` and its answer back.

    Subclasses lie about one thing by overriding `listing_records` or `upload`.
    """

    def __init__(self, upstream: str) -> None:
        super().__init__()
        self.upstream = upstream
        self._session: aiohttp.ClientSession | None = None

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_put("/v2/images/{image_id}/file", self.upload)
        router.add_get("/v2/images", self.listing)
        router.add_route("*", "/{tail:.*}", self.forward)

    async def started(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)

    async def stopping(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def forward(self, request: web.Request, body: bytes | None = None) -> web.Response:
        """Send the request (or it with another `body`) upstream; answer what upstream answered."""
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        data = await request.read() if body is None else body
        async with self._session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=data, allow_redirects=False
        ) as answer:
            content = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
            return web.Response(status=answer.status, body=content, headers=kept)

    async def listing(self, request: web.Request) -> web.Response:
        answer = await self.forward(request)
        if answer.status != 200:
            return answer
        assert isinstance(answer.body, bytes)
        page = json.loads(answer.body)
        page["images"] = self.listing_records(page["images"])
        return web.json_response(page)

    def listing_records(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The records a listing page shows (all of them, for an honest proxy)."""
        return records

    async def upload(self, request: web.Request) -> web.Response:
        return await self.forward(request)


class HidingTarget(GlanceProxy):
    """Defect 14: the ids in `hidden` exist on the target but are left out of its listings, as
    Glance leaves out another project's private images: creating one answers 409, and what the
    id holds (another owner, public, active with data) is only seen by asking for it."""

    def __init__(self, upstream: str, hidden: set[str]) -> None:
        super().__init__(upstream)
        self.hidden = hidden

    def listing_records(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [record for record in records if record["id"] not in self.hidden]


class UploadStoresNothing(GlanceProxy):
    """Defect 18: uploads are read and answered 204, but nothing reaches the Glance behind:
    the image stays `queued` there, without data, while the replicator is told it succeeded."""

    async def upload(self, request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)


class UploadStoresOtherBytes(GlanceProxy):
    """Defect 18: uploads reach the Glance behind with their last byte changed (a faulty store or
    proxy): it answers 204 and holds an active image with another checksum than the source's."""

    async def upload(self, request: web.Request) -> web.Response:
        data = bytearray(await request.read())
        if data:
            data[-1] ^= 0xFF
        return await self.forward(request, bytes(data))


class IngressNotFound(HidingTarget):
    """Issue 20: a proxy (an ingress, a lagging replica behind a load balancer) in front of a
    source Glance that answers each GET of one image's record (and, with `downloads`, of its
    data) with its own HTML 404 page, not Glance's; with `hidden`, its listings leave those ids
    out too (a listing short for a while). Glance itself still holds every image."""

    PAGE = b"<html><head><title>404 Not Found</title></head><body><h1>404 Not Found</h1></body></html>"

    def __init__(self, upstream: str, hidden: set[str] | None = None, *, downloads: bool = False) -> None:
        super().__init__(upstream, hidden or set())
        self.downloads = downloads

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/v2/images/{image_id}", self.not_found)
        router.add_get("/v2/images/{image_id}/file", self.download)
        super().add_routes(router)

    async def not_found(self, request: web.Request) -> web.Response:
        return web.Response(status=404, body=self.PAGE, content_type="text/html")

    async def download(self, request: web.Request) -> web.Response:
        return await (self.not_found(request) if self.downloads else self.forward(request))


class SlowDestruction(GlanceProxy):
    """Issue 20: a target that holds each `DELETE` and deactivation for `seconds` before passing
    it on, so that a stop signal can land while one is in flight."""

    def __init__(self, upstream: str, seconds: float = 2.0) -> None:
        super().__init__(upstream)
        self.seconds = seconds

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_delete("/v2/images/{image_id}", self.held)
        router.add_post("/v2/images/{image_id}/actions/deactivate", self.held)
        super().add_routes(router)

    async def held(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.seconds)
        return await self.forward(request)


class DribblingListing(FakeGlance):
    """Issue 20: a listing sent one byte every `pause` seconds: no read ever waits long, and
    the whole answer would take hours."""

    def __init__(self, images: list[FakeImage], pause: float = 0.2) -> None:
        super().__init__(images)
        self.pause = pause

    async def listing(self, request: web.Request) -> web.StreamResponse:
        body = json.dumps({"images": self.listed(request), "schema": "/v2/schemas/images"}).encode()
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for index in range(len(body)):
            await response.write(body[index : index + 1])
            await asyncio.sleep(self.pause)
        await response.write_eof()
        return response
