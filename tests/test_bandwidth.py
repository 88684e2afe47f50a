"""`--bwlimit`'s limiter on a clock of the test's own: the schedule is checked exactly, and no
test waits for it. (`test_operator.py` checks that the flag reaches the limiter.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from replicator.engine.bandwidth import BandwidthLimit


class VirtualTime:
    """A clock that moves only when someone sleeps on it: a sleep ends at once, at its end time.

    Sleepers still yield to the loop, so concurrent transfers interleave as they would.
    """

    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def chunks(count: int, size: int) -> AsyncIterator[bytes]:
    for index in range(count):
        yield bytes([index]) * size


def limiter(rate: int, time: VirtualTime) -> BandwidthLimit:
    return BandwidthLimit(rate, clock=time, sleep=time.sleep)


async def test_each_chunk_waits_for_its_own_slice_of_time() -> None:
    time = VirtualTime()
    limit = limiter(1000, time)
    released = []
    async for _ in limit.limited(chunks(4, 250)):
        released.append(time.now)
    assert time.sleeps == [0.25] * 4
    assert released == pytest.approx([100.25, 100.5, 100.75, 101.0])


async def test_chunks_pass_whole_and_in_order() -> None:
    time = VirtualTime()
    passed = [chunk async for chunk in limiter(10, time).limited(chunks(3, 5))]
    assert passed == [b"\x00" * 5, b"\x01" * 5, b"\x02" * 5]


async def test_a_limit_left_idle_banks_no_burst() -> None:
    time = VirtualTime()
    limit = limiter(1000, time)
    await limit.take(1000)
    time.now += 60  # a minute with nothing to send
    await limit.take(500)
    assert time.sleeps == pytest.approx([1.0, 0.5])


async def test_transfers_running_together_share_the_rate_and_no_window_carries_more() -> None:
    time = VirtualTime(now=0.0)
    rate, size = 1000, 100
    limit = limiter(rate, time)
    released: list[tuple[float, int]] = []

    async def transfer(count: int) -> None:
        async for chunk in limit.limited(chunks(count, size)):
            released.append((time.now, len(chunk)))

    await asyncio.gather(*(transfer(count) for count in (5, 8, 7)))

    assert sum(count for _, count in released) == 20 * size
    # Together the three took exactly the time the rate gives 2000 bytes...
    assert max(at for at, _ in released) == pytest.approx(20 * size / rate)
    # ...and by no moment had more gone than the rate allows since the start.
    for moment, _ in released:
        sent = sum(count for at, count in released if at <= moment + 1e-9)
        assert sent <= rate * moment + 1e-6, (moment, sent)


def test_a_rate_must_be_positive() -> None:
    for rate in (0, -1):
        with pytest.raises(ValueError, match="positive"):
            BandwidthLimit(rate)
