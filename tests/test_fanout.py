"""The hub and the shared read of `engine/fanout.py` with in-memory stores: who joins a read,
who fetches the data itself, and that every image is read once for all the streamed targets."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable

import pytest

from replicator.engine.events import Event, ImageFinished, ImageRetrying
from replicator.engine.fanout import NamedTarget, SourceRead, replicate_many
from replicator.engine.run import Walked
from replicator.model.errors import ImageError
from replicator.model.records import ImageRecord
from replicator.model.settings import Settings
from tests.support.memory_stores import DATA, MemoryStore, PullingStore, image_record

pytestmark = pytest.mark.unit


class CountingSource(MemoryStore):
    """A source that counts how often its data is opened."""

    def __init__(self, images: list[ImageRecord]) -> None:
        super().__init__(images)
        self.reads: list[str] = []

    async def read_data(self, image: ImageRecord, offset: int = 0) -> AsyncGenerator[bytes, None]:
        self.reads.append(image.id)
        for start in range(offset, len(DATA), 100):
            yield DATA[start : start + 100]


class RefusingStore(MemoryStore):
    """A target whose every upload fails after its first chunk."""

    async def write_data(self, image: ImageRecord, chunks: AsyncIterator[bytes]) -> None:
        async for _ in chunks:
            raise ImageError(f"image {image.id}: the target is full", side="target", retryable=True)


def results_of(sink: dict[str, list[Event]], name: str) -> Callable[[Event], None]:
    def emit(event: Event) -> None:
        sink.setdefault(name, []).append(event)

    return emit


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_streamed_targets_share_one_read_and_a_puller_fetches_its_own(concurrency: int):
    images = [image_record() for _ in range(6)]
    source = CountingSource(images)
    streamed, pulling, failing = MemoryStore(), PullingStore(), RefusingStore()
    events: dict[str, list[Event]] = {}
    targets = [
        NamedTarget("a", streamed, results_of(events, "a")),
        NamedTarget("pull", pulling, results_of(events, "pull")),
        NamedTarget("full", failing, results_of(events, "full")),
    ]
    read = SourceRead()

    outcomes = await replicate_many(source, targets, Settings(concurrency=concurrency, retries=3), read)

    assert all(isinstance(outcome, Walked) for outcome in outcomes.values())
    assert sorted(source.reads) == sorted(image.id for image in images)  # once each, for "a" and "full"
    assert read.bytes == len(images) * len(DATA)
    assert streamed.data == {image.id: DATA for image in images}
    assert sorted(pulling.pulled) == sorted(image.id for image in images)

    def finished(name: str) -> dict[str, str]:
        return {e.result.image_id: str(e.result.result) for e in events[name] if isinstance(e, ImageFinished)}

    assert set(finished("a").values()) == set(finished("pull").values()) == {"ok"}
    assert set(finished("full").values()) == {"failed"}  # once each: the shared read is never retried
    errors = [e.result.error for e in events["full"] if isinstance(e, ImageFinished)]
    assert all(error and "the target is full" in error for error in errors)
    assert not [e for e in events["full"] if isinstance(e, ImageRetrying)]
