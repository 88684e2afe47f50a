"""A cut source stream resumes at the byte it reached, and gives up after the retry limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

import pytest

import replicator.engine.reopen as reopen
from replicator.model.errors import ImageError
from replicator.model.records import ImageRecord
from replicator.stores.base import ImageStore

DATA = bytes(range(256)) * 400
IMAGE = ImageRecord(id="0c43eaca-c2a8-4f79-8f2a-b265655883d3", status="active", attributes={}, size=len(DATA))


class FlakySource:
    """Serves DATA from any offset, cutting the first `cuts` streams after `every` bytes."""

    def __init__(self, cuts: int, every: int = 10_000, retryable: bool = True) -> None:
        self.cuts, self.every, self.retryable = cuts, every, retryable
        self.offsets: list[int] = []

    async def read_data(self, image: ImageRecord, offset: int = 0) -> AsyncIterator[bytes]:
        self.offsets.append(offset)
        position = offset
        while position < len(DATA):
            if self.cuts and position - offset >= self.every:
                self.cuts -= 1
                raise ImageError("connection lost", retryable=self.retryable)
            chunk = DATA[position : position + 4096]
            position += len(chunk)
            yield chunk


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    async def instant(delay: float) -> None:
        return None

    monkeypatch.setattr("replicator.engine.reopen.asyncio.sleep", instant)


async def collect(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in stream])


def store(source: FlakySource) -> ImageStore:
    """The source as the store `reopening_stream` reads (it only calls `read_data`)."""
    return cast(ImageStore, source)


async def test_cut_stream_resumes_where_it_stopped():
    source = FlakySource(cuts=3)
    retries: list[str] = []
    data = await collect(reopen.reopening_stream(store(source), IMAGE, 1, lambda n, e: retries.append(str(e))))
    assert data == DATA
    assert source.offsets[0] == 0 and all(b > a for a, b in zip(source.offsets, source.offsets[1:], strict=False))
    assert len(retries) == 3 and "resuming at byte" in retries[0]


async def test_gives_up_after_retries_without_progress_and_says_so_finally():
    source = FlakySource(cuts=5, every=0)
    with pytest.raises(ImageError) as caught:
        await collect(reopen.reopening_stream(store(source), IMAGE, 2))
    assert not caught.value.retryable
    assert source.offsets == [0, 0, 0]


async def test_permanent_errors_are_not_retried():
    source = FlakySource(cuts=1, retryable=False)
    with pytest.raises(ImageError):
        await collect(reopen.reopening_stream(store(source), IMAGE, 5))
    assert source.offsets == [0]
