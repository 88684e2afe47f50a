"""The work waiting for a worker is bounded: a walk that finds more work than the transfers keep
up with waits for them, instead of holding a million images in memory."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

from replicator.engine.actions import Action, ActionKind, Outcome
from replicator.engine.events import Event, ImageFinished
from replicator.engine.transfer import Transfer
from replicator.model.records import ImageRecord
from replicator.model.settings import Settings


class SlowTarget:
    """A target whose creates wait until the test lets them go."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def create_image(self, image: ImageRecord, attributes: dict[str, Any]) -> None:
        await self.release.wait()


async def test_the_walk_waits_when_the_queue_of_work_is_full() -> None:
    target = SlowTarget()
    results: list[Event] = []
    found = 0

    async def work() -> AsyncIterator[Action]:
        nonlocal found
        for _ in range(50):
            found += 1
            image = ImageRecord(id=str(uuid.uuid4()), status="queued", attributes={"name": "n"})
            yield Action(ActionKind.CREATE, image, None)

    transfer = Transfer(None, target, Settings(concurrency=2, metaonly=True), results.append, queued=5)  # type: ignore[arg-type]
    running = asyncio.create_task(transfer.run(work()))
    await asyncio.sleep(0.2)
    # Two images with the workers, five waiting, one in the hand of the walk: no more.
    assert found <= 2 + 5 + 1, found
    target.release.set()
    await asyncio.wait_for(running, 10)
    assert found == 50
    finished = [event.result for event in results if isinstance(event, ImageFinished)]
    assert len(finished) == 50 and all(result.result == Outcome.OK for result in finished)
