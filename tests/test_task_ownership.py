"""Every task has an owner that waits for it (trio's rule), and no error of a group is dropped.

A consumer that stops a walk early closes it (`contextlib.aclosing`): the look-ups the walk had
started are cancelled and waited for before the close returns, so no task is left behind. When
two workers fail at once, the first error ends the run as itself and the second is shown under
`--debug`, not dropped.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import aclosing
from dataclasses import replace
from typing import Any

import pytest

from replicator.cli import session
from replicator.cli.options import LogOptions
from replicator.engine.actions import Action, ActionKind
from replicator.engine.run import Walked, planned
from replicator.engine.transfer import Transfer
from replicator.model.errors import ErrorKind, RunError
from replicator.model.records import ImageRecord
from replicator.model.settings import Settings


def _image(name: str) -> ImageRecord:
    return ImageRecord(id=str(uuid.uuid4()), status="active", attributes={"name": name, "visibility": "shared"}, size=1)


class SharedImages:
    """A source listing only shared images, whose members must be asked for: the first image's
    answer comes at once, the others' never (until the test ends)."""

    description = "shared images"

    def __init__(self, images: list[ImageRecord]) -> None:
        self.images = sorted(images, key=lambda image: image.id)
        self.never = asyncio.Event()

    async def walk(self) -> AsyncGenerator[ImageRecord, None]:
        for image in self.images:
            yield image

    def known_members(self, image: ImageRecord) -> ImageRecord | None:
        return None

    async def with_members(self, image: ImageRecord) -> ImageRecord:
        if image.id != self.images[0].id:
            await self.never.wait()
        return replace(image, members=())

    def as_held(self, image: ImageRecord) -> ImageRecord:
        return image


class EmptyTarget:
    description = "empty target"

    async def walk(self) -> AsyncGenerator[ImageRecord, None]:
        return
        yield

    def known_members(self, image: ImageRecord) -> ImageRecord | None:
        return replace(image, members=())

    def as_held(self, image: ImageRecord) -> ImageRecord:
        return image


def _pending(name: str) -> list[asyncio.Task[Any]]:
    return [task for task in asyncio.all_tasks() if name in task.get_coro().__qualname__]  # type: ignore[union-attr]


async def test_a_walk_stopped_early_leaves_no_look_up_running() -> None:
    source, target = SharedImages([_image(str(n)) for n in range(5)]), EmptyTarget()
    walk = planned(source, target, Settings(), Walked())  # type: ignore[arg-type]
    async with aclosing(walk) as actions:
        first = await anext(actions)
        assert first.kind is ActionKind.CREATE
        assert _pending("plan_pair")  # the look-ups of the other images are under way
    # Closed: every look-up was cancelled and has ended, none left for the loop to finish later.
    assert _pending("plan_pair") == []


class FailingTarget:
    """A target whose creates fail together, once both workers are inside one."""

    description = "failing target"

    def __init__(self) -> None:
        self.inside = 0
        self.both = asyncio.Event()

    async def create_image(self, image: ImageRecord, attributes: dict[str, Any]) -> None:
        self.inside += 1
        if self.inside == 2:
            self.both.set()
        await self.both.wait()
        raise RunError(f"token refused while creating {image.name}", kind=ErrorKind.AUTH)


@pytest.fixture
def debug_log(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """`--debug` as the CLI starts it, put back as it was afterwards."""
    logger = logging.getLogger("replicator")
    saved = logger.handlers[:], logger.level, logger.propagate
    session.start_logging(LogOptions(debug=True))
    try:
        yield
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


async def test_two_workers_that_fail_together_are_both_shown_under_debug(
    debug_log: None, capsys: pytest.CaptureFixture[str]
) -> None:
    async def work() -> AsyncIterator[Action]:
        for name in ("first", "second"):
            yield Action(ActionKind.CREATE, _image(name), None)

    transfer = Transfer(None, FailingTarget(), Settings(concurrency=2, metaonly=True, retries=0), lambda event: None)  # type: ignore[arg-type]
    with pytest.raises(RunError) as raised:
        await transfer.run(work())
    assert isinstance(raised.value, RunError)  # as itself, never as an ExceptionGroup
    stderr = capsys.readouterr().err
    other = "second" if "first" in str(raised.value) else "first"
    assert f"token refused while creating {other}" in stderr
