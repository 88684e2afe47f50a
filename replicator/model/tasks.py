"""Tasks started ahead of their consumer, each with an owner that waits for it (trio's rule).

A generator that starts tasks (the next page of a listing asked for ahead, member look-ups while
the walk goes on) cannot own them with a task group: it yields between their start and their end,
and a task group's cancellation would then reach its consumer instead (PEP 789). `Ahead` owns
them instead: `close()`, in the generator's `finally`, cancels every task still running and waits
until it has ended, so no task outlives the generator that started it. The consumer closes the
generator with `contextlib.aclosing`, so that `finally` runs at once, in the consumer's task.

`all_of` runs tasks that are awaited together in a task group. No error is dropped: of the tasks
that fail together, the first error is raised as itself (never as an ExceptionGroup: callers
decide on its type and fields) and the others are logged (`--debug`), as are the errors of tasks
nobody reads any more.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Coroutine
from typing import Any, Generic, TypeVar

LOG = logging.getLogger("replicator.tasks")

T = TypeVar("T")


class Ahead(Generic[T]):
    """The tasks one generator has started and not yet handed out."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[T]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def start(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        return task

    async def result(self, task: asyncio.Task[T]) -> T:
        """`task`'s result, once it has ended (it is then no longer this owner's)."""
        try:
            return await task
        finally:
            if task.done():
                self._tasks.discard(task)

    async def finished(self) -> list[T]:
        """The results of the tasks that have ended, waiting until one has; the first error
        among them is raised, the others logged."""
        done, self._tasks = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
        return results(done)

    async def close(self) -> None:
        """Cancel the tasks still running and wait until every one has ended."""
        tasks, self._tasks = self._tasks, set()
        await cancel_all(tasks, "a task nobody waits for any more ended with an error")


async def cancel_all(tasks: set[asyncio.Task[Any]], what: str) -> None:
    """Cancel `tasks` and wait until every one has ended: their owner goes no further while one
    runs. An error one had ended with before it saw the cancel is logged as `what`."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            log_dropped(task.exception(), what)


async def all_of(*coroutines: Coroutine[Any, Any, T]) -> list[T]:
    """Run `coroutines` as the tasks of one task group: their results, in order; when one fails,
    the others are cancelled, the first error is raised as itself and the others are logged."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(coroutine) for coroutine in coroutines]
    except ExceptionGroup as failed:
        errors = list(failed.exceptions)
    else:
        return [task.result() for task in tasks]
    first, *others = errors  # raised outside the handler: its own cause chain is what it shows
    for other in others:
        log_dropped(other, f"raised along with: {first}")
    raise first


def results(done: Collection[asyncio.Task[T]]) -> list[T]:
    """The results of tasks that have ended; the first error is raised, the others logged."""
    errors = [error for task in done if (error := task.exception()) is not None]
    if errors:
        first, *others = errors
        for other in others:
            log_dropped(other, f"raised along with: {first}")
        raise first
    return [task.result() for task in done]


def log_dropped(error: BaseException | None, why: str) -> None:
    """An error that is not the one raised (another ended the same work first): logged with its
    cause chain, so `--debug` shows every error of a group, not only the first."""
    if error is not None:
        LOG.debug("%s: %s: %s", why, type(error).__name__, error, exc_info=error)
