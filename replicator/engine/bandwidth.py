"""`--bwlimit`: one byte rate shared by every transfer of a run.

Each chunk reserves its slice of time on a shared clock (`count / rate` seconds, after the
slices already reserved) and goes when its slice ends, so no window of time, however short or
early, carries more than the rate allows. However many transfers run, the
bytes released per second stay at the rate, and a transfer that waits holds back its source
too, through the stream's back-pressure.

The clock and the sleep are given (s3transfer's bandwidth limiter does the same): a run uses
the monotonic clock and asyncio's sleep, the tests a clock of their own, so they check the
schedule exactly and never wait for it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable

Clock = Callable[[], float]
"""Seconds on a clock that never goes back (`time.monotonic`)."""
Sleep = Callable[[float], Awaitable[None]]
"""Wait that many seconds on that clock (`asyncio.sleep`)."""


class BandwidthLimit:
    def __init__(self, bytes_per_second: int, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        if bytes_per_second <= 0:
            raise ValueError("a bandwidth limit must be positive")
        self.rate = bytes_per_second
        self._clock = clock
        self._sleep = sleep
        self._free_at = clock()

    async def take(self, count: int) -> None:
        """Wait until `count` more bytes may go."""
        now = self._clock()
        self._free_at = max(now, self._free_at) + count / self.rate
        await self._sleep(self._free_at - now)

    async def limited(self, chunks: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
        async for chunk in chunks:
            await self.take(len(chunk))
            yield chunk
