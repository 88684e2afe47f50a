"""An upload's request reaches the target before the source has sent a byte.

The target then does its per-request work (auth, image lookup) while the download is still
waiting for its first answer, instead of after it: one round trip less per image.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from replicator.model.records import ImageRecord
from replicator.model.settings import Settings
from replicator.model.vocabulary import UploadMethod
from replicator.openstack.connect import transport_for
from replicator.stores.glance.v2 import GlanceV2Store

DATA = b"x" * 100_000
IMAGE = ImageRecord(id="0c43eaca-c2a8-4f79-8f2a-b265655883d3", status="active", attributes={}, size=len(DATA))


async def test_upload_request_is_sent_before_the_first_byte_of_data():
    upload_started = asyncio.Event()
    received = bytearray()

    async def put_file(request: web.Request) -> web.Response:
        upload_started.set()
        received.extend(await request.read())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_put("/v2/images/{image_id}/file", put_file)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    settings = Settings(upload_method=UploadMethod.DIRECT)
    target = GlanceV2Store(transport_for(f"http://127.0.0.1:{port}", settings, True, None, None), settings)

    async def source() -> AsyncIterator[bytes]:
        # The source answers only once the target has the request: were the headers held back
        # until the first chunk, this would wait for ever (cut short below).
        await upload_started.wait()
        yield DATA

    try:
        await asyncio.wait_for(target.write_data(IMAGE, source()), timeout=30)
    finally:
        await target.close()
        await runner.cleanup()
    assert bytes(received) == DATA
