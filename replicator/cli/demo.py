"""`replicator demo`: two local Glance-compatible servers, a dozen images, one livecopy, a compare.

Everything runs in this process on 127.0.0.1 and in a temporary folder that is removed at the
end, so the demo needs nothing but the package itself. With `--keep` the servers go on serving
after the compare, and the folder is left in place, so the operator can try commands against
them; Ctrl-C stops the servers (the folder stays, its path printed).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from replicator.cli.views import console
from replicator.engine import run as engine
from replicator.engine.events import RunTally, fan_out
from replicator.model.records import ImageRecord
from replicator.model.settings import Settings
from replicator.openstack.connect import transport_for
from replicator.server import ServerConfig, create_app
from replicator.stores.glance.v2 import GlanceV2Store

KiB, MiB = 1024, 1024 * 1024

#: (name, size in bytes or None for an image with no data, extra attributes)
IMAGES: list[tuple[str, int | None, dict[str, Any]]] = [
    ("cirros-0.6.2", 21 * MiB, {"os_distro": "cirros", "tags": ["tiny", "test"]}),
    ("debian-12-genericcloud", 48 * MiB, {"os_distro": "debian", "os_version": "12", "visibility": "public"}),
    (
        "ubuntu-24.04-server",
        64 * MiB,
        {
            "os_distro": "ubuntu",
            "os_version": "24.04",
            "hw_disk_bus": "scsi",
            "visibility": "public",
            "min_disk": 10,
            "min_ram": 1024,
        },
    ),
    ("fedora-40-cloud", 32 * MiB, {"os_distro": "fedora", "tags": ["cloud"], "visibility": "community"}),
    ("alpine-3.20", 4 * MiB, {"os_distro": "alpine", "tags": ["tiny"]}),
    ("windows-unattend-iso", 2 * MiB, {"os_type": "windows", "visibility": "shared"}),
    ("kernel-6.8", 12 * MiB, {"tags": ["kernel"], "protected": True}),
    ("ramdisk-6.8", 6 * MiB, {"tags": ["ramdisk"]}),
    ("build-cache", 512 * KiB, {"os_hidden": True, "purpose": "ci"}),
    ("seed-config", 64 * KiB, {"tags": ["config"]}),
    ("empty-snapshot", 0, {"snapshot": "true"}),
    ("reserved-not-uploaded", None, {"note": "queued: metadata only"}),
]


async def run_demo(keep: bool = False, stop: asyncio.Event | None = None) -> int:
    """The demo; with `keep`, the servers serve on until `stop` is set (never, by default: until
    Ctrl-C cancels the run) and the folder is not removed."""
    if not keep:
        with tempfile.TemporaryDirectory(prefix="replicator-demo-") as folder:
            return await _demo(Path(folder), None)
    return await _demo(Path(tempfile.mkdtemp(prefix="replicator-demo-")), stop or asyncio.Event())


async def _demo(folder: Path, kept: asyncio.Event | None) -> int:
    source_runner, source_url = await _start_server(folder / "source")
    target_runner, target_url = await _start_server(folder / "target")
    try:
        print(f"source Glance-compatible server: {source_url}")
        print(f"target Glance-compatible server: {target_url}")
        await _fill(source_url)
        code = await _replicate_and_compare(source_url, target_url)
        if kept is not None:
            print(_how_to_reach(folder, source_url, target_url), flush=True)
            await kept.wait()
        return code
    finally:
        await source_runner.cleanup()
        await target_runner.cleanup()
        if kept is not None:
            print(f"servers stopped; their images stay in {folder}", flush=True)


def _how_to_reach(folder: Path, source_url: str, target_url: str) -> str:
    """What --keep leaves: the two servers (no token needed) and where their images are kept."""
    return "\n".join(
        [
            "",
            f"kept running (Ctrl-C stops them); images in {folder}",
            f"  source: {source_url}",
            f"  target: {target_url}",
            f"  try:    replicator compare {source_url} {target_url}",
            f"          replicator size {source_url}",
            f"  again:  replicator serve --data-dir {folder / 'source'} --port 9292",
        ]
    )


async def _start_server(data_dir: Path) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(create_app(data_dir, ServerConfig()), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def _fill(url: str) -> None:
    store = _store(url, Settings())
    total = 0
    try:
        for name, size, extra in IMAGES:
            attributes = {"name": name, "disk_format": "raw", "container_format": "bare", **extra}
            image = ImageRecord(id=str(uuid.uuid4()), status="queued", attributes=attributes, size=size)
            await store.create_image(image, attributes)
            if size is not None:
                await store.write_data(image, _random_chunks(size))
                total += size
    finally:
        await store.close()
    print(f"filled the source with {len(IMAGES)} images, {console.human_size(total)}\n")


async def _random_chunks(size: int, chunk: int = 4 * MiB) -> AsyncIterator[bytes]:
    for start in range(0, size, chunk):
        yield os.urandom(min(chunk, size - start))


async def _replicate_and_compare(source_url: str, target_url: str) -> int:
    settings = Settings()
    source, target = _store(source_url, settings), _store(target_url, settings)
    try:
        print(f"$ replicator livecopy {source_url} {target_url}")
        started = time.monotonic()
        tally = RunTally()
        await engine.replicate(source, target, settings, fan_out(console.LineLog(sys.stdout), tally))
        print(console.summary(tally, time.monotonic() - started))
        print(f"\n$ replicator compare {source_url} {target_url}")
        comparison = await engine.compare(source, target, settings)
        print(console.compare_text(comparison))
    finally:
        await source.close()
        await target.close()
    return 1 if comparison.differences or tally.failed else 0


def _store(url: str, settings: Settings) -> GlanceV2Store:
    return GlanceV2Store(transport_for(url, settings, True, None, None), settings)
