"""How long `replicator serve` takes to answer a whole listing, page by page, at scale.

    .venv/bin/python -m benchmarks.listing                       # 10,000 and 100,000 images
    .venv/bin/python -m benchmarks.listing --images 1000000

For each count, a server starts with that many generated metadata-only images
(`serve --generate-images N`) and the listing is walked with `limit=1000` through `next` links,
newest first (Glance's default) and by id ascending (what a side-by-side walk of two listings
asks for). The first walk of an order includes building its index. A page costs time in
proportion to the page, so the images per second should stay flat as the count grows.
Nothing here is asserted; it prints one line per walk.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import time

import aiohttp

from benchmarks.harness import scratch_dir
from tests.support.servers import ReplicatorServe

ORDERS = {"newest first": "", "by id ascending": "&sort_key=id&sort_dir=asc"}


async def walk(base_url: str, order: str) -> int:
    """Follow `next` from the first page to the last; the number of images listed."""
    count = 0
    url: str | None = f"{base_url}/v2/images?limit=1000{order}"
    async with aiohttp.ClientSession() as session:
        while url:
            async with session.get(url) as response:
                page = await response.json()
            count += len(page["images"])
            url = f"{base_url}{page['next']}" if "next" in page else None
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, action="append", help="image count (repeat for more)")
    counts = parser.parse_args().images or [10_000, 100_000]
    folder = scratch_dir()
    try:
        for count in counts:
            with ReplicatorServe(folder / f"serve-{count}", extra_args=["--generate-images", str(count)],
                                 control=False) as server:  # fmt: skip
                for name, order in ORDERS.items():
                    for walk_number in (1, 2):
                        started = time.perf_counter()
                        listed = asyncio.run(walk(server.url, order))
                        seconds = time.perf_counter() - started
                        print(
                            f"{count:>9,} images, {name:<16} walk {walk_number}: {listed:>9,} listed in "
                            f"{seconds:6.2f} s ({listed / seconds:>9,.0f} images/s)",
                            flush=True,
                        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
