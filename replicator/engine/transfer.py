"""Run a plan: at most `concurrency` images at once, data streamed source -> verifier -> target.

Memory is bounded by the pool size times a couple of chunks, whatever the image sizes: the
source is read only as fast as the target accepts (back-pressure through the async iterators).
One image's failure never stops the others; each ends with exactly one `ImageResult`.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from typing import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Iterator, TypeVar

from replicator.engine.bandwidth import BandwidthLimit
from replicator.engine.events import (
    BytesCopied, EventSink, ImageFinished, ImageResult, ImageRetrying, ImageStarted,
)
from replicator.engine.fallback import creation_fallback, update_fallback
from replicator.engine.actions import Action, Outcome
from replicator.engine.plan import creation_attributes
from replicator.engine.reopen import reopening_stream
from replicator.engine.verify import StreamVerifier
from replicator.errors import ImageError
from replicator.retry import with_retries
from replicator.settings import Settings
from replicator.stores.base import ImageStore

T = TypeVar("T")


class Transfer:
    """Executes actions between one source and one target store."""

    def __init__(self, source: ImageStore, target: ImageStore, settings: Settings, emit: EventSink) -> None:
        self._source = source
        self._target = target
        self._settings = settings
        self._emit = emit
        self._limit = BandwidthLimit(settings.bwlimit) if settings.bwlimit else None
        #: Bytes copied so far by this run, for the transfer budget.
        self.copied = 0

    async def run(self, actions: Iterable[Action]) -> list[ImageResult]:
        """Execute every action; results come back in the order the actions finished."""
        planned = list(actions)
        pending: Iterator[Action] = iter(planned)
        results: list[ImageResult] = []

        async def worker() -> None:
            for action in pending:
                result = await self._execute(action)
                results.append(result)
                self._emit(ImageFinished(result))

        # A RunError (a token that cannot be renewed) ends the run: the other workers are
        # cancelled, their uploads cut, and the error is raised as itself.
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(max(1, self._settings.concurrency)):
                    group.create_task(worker())
        except ExceptionGroup as stopped:
            raise stopped.exceptions[0] from None
        if len(results) != len(planned):
            # A worker ended without an error (a stray CancelledError): never lose images silently.
            raise RuntimeError(f"{len(planned) - len(results)} images were neither done nor reported")
        return results

    async def _execute(self, action: Action) -> ImageResult:
        image = action.image
        started = time.monotonic()
        copied = 0
        notes: list[str] = []  # what was done differently from the source (fallbacks)

        def finish(result: Outcome, error: str | None = None, budget: int | None = None) -> ImageResult:
            return ImageResult(
                image_id=image.id, name=image.name, action=action.kind, result=result, bytes=copied,
                seconds=round(time.monotonic() - started, 3), reason="; ".join([action.reason, *notes]).strip("; "),
                error=error, deferred_by_budget=budget,
            )

        if action.problem:
            return finish(Outcome.FAILED, action.reason)
        if not action.has_work:
            return finish(Outcome.SKIPPED)
        if action.upload and self._budget_spent():
            return finish(Outcome.SKIPPED, budget=self._settings.max_transfer)
        self._emit(ImageStarted(action))
        try:
            if action.create:
                await self._retrying(action, lambda: self._create(action, notes))
            if action.changes:
                await self._retrying(action, lambda: self._update(action, notes))
            if action.upload:
                copied = await self._retrying(action, lambda: self._copy_data(action))
            if action.member_changes:
                await self._retrying(action, lambda: self._target.apply_members(image, action.member_changes))
            if action.set_status:
                status = action.set_status
                await self._retrying(action, lambda: self._target.set_status(image, status))
        except ImageError as exc:
            return finish(Outcome.FAILED, str(exc))
        return finish(Outcome.OK)

    async def _create(self, action: Action, notes: list[str]) -> None:
        attributes = creation_attributes(action.image, self._settings)
        try:
            await self._target.create_image(action.image, attributes)
        except ImageError as exc:
            fallback = creation_fallback(attributes, exc, self._settings)
            if fallback is None:
                raise
            allowed, note = fallback
            await self._target.create_image(action.image, allowed)
            notes.append(note)

    async def _update(self, action: Action, notes: list[str]) -> None:
        image, current = action.image, action.current or action.image
        try:
            await self._target.update_metadata(image, current, action.changes)
        except ImageError as exc:
            fallback = update_fallback(action.changes, exc, self._settings)
            if fallback is None:
                raise
            kept, note = fallback
            if kept:
                await self._target.update_metadata(image, current, kept)
            notes.append(note)

    async def _copy_data(self, action: Action) -> int:
        """Stream the whole image into the target once.

        A cut on the source side resumes where it stopped (`reopening_stream`); a failure on the
        target side fails this attempt, and the retry uploads from the first byte again, since
        Glance cannot resume an upload.
        """
        image = action.image
        verifier = StreamVerifier(image, hashes=self._settings.verify)

        def on_bytes(count: int) -> None:
            self.copied += count
            self._emit(BytesCopied(image.id, count))

        source = reopening_stream(self._source, image, self._settings.retries, self._on_retry(action))
        async with _closing(source) as chunks:
            paced = self._limit.limited(chunks) if self._limit else chunks
            await self._target.write_data(image, verifier.verified(paced, on_bytes))
        return verifier.bytes

    def _budget_spent(self) -> bool:
        """Whether the transfer budget is spent: no new transfer starts, those under way finish."""
        limit = self._settings.max_transfer
        return limit is not None and self.copied >= limit

    def _on_retry(self, action: Action) -> Callable[[int, ImageError], None]:
        def on_retry(attempt: int, error: ImageError) -> None:
            self._emit(ImageRetrying(action.image.id, attempt, str(error)))

        return on_retry

    async def _retrying(self, action: Action, step: Callable[[], Awaitable[T]]) -> T:
        return await with_retries(step, self._settings.retries, self._on_retry(action))


@asynccontextmanager
async def _closing(stream: AsyncGenerator[bytes, None]) -> AsyncIterator[AsyncGenerator[bytes, None]]:
    """Close the source stream when the copy ends, however it ends.

    On cancellation (Ctrl-C) the HTTP client's body-writer task may still be inside the
    stream: it is being cancelled too, and the stream closes as that task unwinds, so a
    "generator already running" here is expected and harmless.
    """
    try:
        yield stream
    finally:
        try:
            await stream.aclose()
        except RuntimeError:
            pass
