"""A listing's next page is asked for while the current one is handed out.

Walking two listings side by side one request at a time left both servers and the replicator
waiting on each other in turn (scenario 8 of the benchmarks); with one page asked ahead, the
server prepares the next page while the walk plans this one. Errors keep their place: a page
that fails is reported when the walk reaches it, after every image before it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager

import pytest
from aiohttp import web

from replicator.model.errors import RunError
from replicator.model.settings import Settings
from replicator.openstack.connect import transport_for
from replicator.stores.glance.v2 import GlanceV2Store

FIRST_PAGE = [f"{digit * 8}-{digit * 4}-4{digit * 3}-8{digit * 3}-{digit * 12}" for digit in "124"]
SECOND_PAGE = ["55555555-5555-4555-8555-555555555555"]

Answer = Callable[[], Awaitable[web.Response]]


def listing(ids: list[str], marker: str | None = None) -> web.Response:
    body: dict = {"images": [{"id": i, "status": "queued", "name": i[:1]} for i in ids]}
    if marker:
        body["next"] = (
            f"/v2/images?limit=1000&sort_key=id&sort_dir=asc&visibility=all&member_status=all&marker={marker}"
        )
    return web.json_response(body)


@asynccontextmanager
async def glance(second_page: Answer) -> AsyncIterator[GlanceV2Store]:
    """A Glance whose listing has two pages (the hidden images' listing is empty); the second
    page answers as `second_page` says."""

    async def images(request: web.Request) -> web.Response:
        if request.query.get("os_hidden") == "true":
            return listing([])
        if "marker" in request.query:
            return await second_page()
        return listing(FIRST_PAGE, marker=FIRST_PAGE[-1])

    app = web.Application()
    app.router.add_get("/v2/images", images)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    settings = Settings(retries=0)
    store = GlanceV2Store(transport_for(f"http://127.0.0.1:{port}", settings, True, None, None), settings)
    try:
        yield store
    finally:
        await store.close()
        await runner.cleanup()


async def test_the_next_page_is_asked_for_before_the_walk_reaches_it():
    second_asked = asyncio.Event()

    async def second_page() -> web.Response:
        second_asked.set()
        return listing(SECOND_PAGE)

    async with glance(second_page) as store:
        walk = store.walk()
        first = await anext(walk)
        # The walk holds the first page's first image; were pages asked for only when reached,
        # the second would never be asked for here (the wait is cut short below, not timed).
        await asyncio.wait_for(second_asked.wait(), timeout=30)
        rest = [record.id async for record in walk]

    assert [first.id, *rest] == FIRST_PAGE + SECOND_PAGE


async def test_a_page_asked_ahead_that_fails_stops_the_walk_only_where_it_is_reached():
    async def second_page() -> web.Response:
        return web.json_response({"message": "broken"}, status=500)

    seen: list[str] = []
    async with glance(second_page) as store:
        with pytest.raises(RunError):
            async for record in store.walk():
                seen.append(record.id)

    # The merge of the two listings (hidden images apart) holds one image ahead of the walk.
    assert seen == FIRST_PAGE[:-1]


async def test_a_walk_closed_early_leaves_no_page_request_running():
    release = asyncio.Event()

    async def second_page() -> web.Response:
        await release.wait()  # asked for ahead, never answered while the walk is open
        return listing(SECOND_PAGE)

    def page_requests() -> list[asyncio.Task]:
        return [task for task in asyncio.all_tasks() if "get_json" in getattr(task.get_coro(), "__qualname__", "")]

    async with glance(second_page) as store:
        async with aclosing(store.walk()) as walk:
            await anext(walk)
            assert page_requests()  # the second page is being asked for
        # Closed: the request asked ahead was cancelled and has ended before the close returned.
        assert page_requests() == []
        release.set()
