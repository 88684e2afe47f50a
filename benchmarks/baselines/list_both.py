"""The two listings alone: what a run that finds nothing to do cannot go below.

Pages through both servers' image listings at once, by id ascending (the order the replicator
walks them in), `limit=1000`, following `next`, and parses every page as the replicator does
(aiohttp, uvloop, `json`), but plans nothing and keeps nothing.

usage: list_both.py SOURCE_URL TARGET_URL
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp
import uvloop

ORDER = "sort_key=id&sort_dir=asc"


async def walk(session: aiohttp.ClientSession, base_url: str) -> int:
    listed = 0
    url: str | None = f"{base_url}/v2/images?limit=1000&{ORDER}"
    while url:
        async with session.get(url) as response:
            response.raise_for_status()
            page = await response.json()
        listed += len(page["images"])
        url = f"{base_url}{page['next']}" if "next" in page else None
    return listed


async def main(source: str, target: str) -> None:
    async with aiohttp.ClientSession() as session:
        counts = await asyncio.gather(walk(session, source), walk(session, target))
    print(f"{counts[0]} images listed on the source, {counts[1]} on the target")


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1], sys.argv[2]))
