"""Images with data to experiment on (`serve --seed-images N --seed-size SIZE`).

Unlike `generated` (metadata only, in memory), a seeded image is a real one: random bytes
uploaded through the server's own v2 API, so it is active with the size, `checksum` (md5) and
`os_hash_value` (sha512) the upload path computes from its data, as Glance computes them, and
it is kept under the data directory like any image a client made. The upload goes to a second
server on the same data directory, on a free port of 127.0.0.1, with no token and no fault
switches: the faults asked for are for the clients of the real server, not for its seeding.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
from aiohttp import web

from replicator.server.app import create_app
from replicator.server.config import FaultConfig, ServerConfig

CHUNK = 1024 * 1024


async def seed_images(data_dir: Path, config: ServerConfig, count: int, size: int) -> list[str]:
    """Upload `count` images of `size` random bytes each, named `seed-<n>`; their ids."""
    quiet = replace(config, token=None, faults=FaultConfig(), control_token=None, direct_upload=True, apis=("v2",))
    runner = web.AppRunner(create_app(data_dir, quiet), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}/v2/images"
    ids: list[str] = []
    try:
        async with aiohttp.ClientSession() as client:
            for number in range(count):
                record = {"name": f"seed-{number}", "disk_format": "raw", "container_format": "bare"}
                async with client.post(base, json=record, raise_for_status=True) as created:
                    image_id = str((await created.json())["id"])
                headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
                async with client.put(f"{base}/{image_id}/file", data=_random(size), headers=headers) as put:
                    put.raise_for_status()
                ids.append(image_id)
    finally:
        await runner.cleanup()
    return ids


async def _random(size: int) -> AsyncIterator[bytes]:
    for start in range(0, size, CHUNK):
        yield os.urandom(min(CHUNK, size - start))
