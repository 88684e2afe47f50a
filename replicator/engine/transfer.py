"""Run a plan: at most `concurrency` images at once, data streamed source -> verifier -> target.

Memory is bounded by the pool size times a couple of chunks, whatever the image sizes: the
source is read only as fast as the target accepts (back-pressure through the async iterators).
One image's failure never stops the others; each ends with exactly one `ImageResult`.

What only some targets can do is asked of their optional protocols (`stores/base`): a `Puller`
fetches the data itself, any other target has it streamed; a step that needs a `Deactivator`
fails the image on a target that is none (`cannot_deactivate`). The workers run in one task
group (`model/tasks.all_of`): an error that ends the run is raised as itself, and another
worker's error at the same moment is logged (`--debug`), never dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
import types
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TypeVar, assert_never

from replicator.engine.actions import Action, ActionKind, Outcome
from replicator.engine.bandwidth import BandwidthLimit
from replicator.engine.events import (
    BytesCopied,
    EventSink,
    FetchStage,
    ImageFetching,
    ImageFinished,
    ImageResult,
    ImageRetrying,
    ImageStarted,
)
from replicator.engine.fallback import creation_fallbacks, refused_properties, update_fallbacks
from replicator.engine.plan import creation_attributes, reason_when_done, staged_whole
from replicator.engine.reopen import reopening_stream
from replicator.engine.verify import StreamVerifier, check_held, converted_note, target_conversion
from replicator.model.changes import AttributeChange
from replicator.model.errors import ErrorKind, ImageError, VerificationError
from replicator.model.records import TRANSIENT_STATUSES, ImageRecord
from replicator.model.retry import with_retries
from replicator.model.settings import Settings
from replicator.model.tasks import all_of
from replicator.model.vocabulary import ImageStatus, PruneMode, Role
from replicator.stores.base import Deactivator, ImageStore, ImportTasks, Puller, StagedImports

T = TypeVar("T")

LOG = logging.getLogger("replicator.transfer")

#: Actions waiting for a worker at most (about 6.5 KB each): the walk waits when they are all taken.
QUEUED_ACTIONS = 10_000

#: Seconds between the two answers of the source that confirm an image is gone from it, before
#: its copy is deleted or deactivated: a replica that lags or a listing short for a moment has
#: time to come right (`Transfer._confirmed_gone`).
CONFIRM_PAUSE = 1.0


class Transfer:
    """Executes actions between one source and one target store."""

    def __init__(
        self,
        source: ImageStore,
        target: ImageStore,
        settings: Settings,
        emit: EventSink,
        queued: int = QUEUED_ACTIONS,
        confirm_pause: float = CONFIRM_PAUSE,
    ) -> None:
        self._queued = queued
        self._confirm_pause = confirm_pause
        #: Copies deleted or deactivated so far (prunes and orphans): no more than `max_prune`.
        self.destroyed = 0
        self._source = source
        self._target = target
        self._settings = settings
        self._emit = emit
        self._limit = BandwidthLimit(settings.bwlimit) if settings.bwlimit else None
        #: Bytes copied so far by this run, for the transfer budget.
        self.copied = 0

    async def run(self, actions: AsyncIterator[Action]) -> None:
        """Execute every action as it comes (the walk is still listing while the first ones run);
        each image's result is emitted as `ImageFinished` when it ends."""
        # Bounded: a first copy of a million images would otherwise hold every one of them as
        # work (6.5 KB each) while the transfers catch up; a full queue pauses the walk instead.
        queue: asyncio.Queue[Action | None] = asyncio.Queue(self._queued)
        workers = max(1, self._settings.concurrency)
        counts = {"queued": 0, "finished": 0}

        async def feed() -> None:
            async for action in actions:
                counts["queued"] += 1
                await queue.put(action)
            for _ in range(workers):
                await queue.put(None)

        async def worker() -> None:
            while (action := await queue.get()) is not None:
                result = await self._execute(action)
                counts["finished"] += 1
                self._emit(ImageFinished(result))

        # A RunError (a listing that breaks, a token that cannot be renewed) ends the run: the
        # workers are cancelled, their uploads cut, and the error is raised as itself; another
        # worker's error at the same time is logged (--debug), never dropped.
        await all_of(feed(), *(worker() for _ in range(workers)))
        if counts["finished"] != counts["queued"]:
            # A worker ended without an error (a stray CancelledError): never lose images silently.
            raise RuntimeError(f"{counts['queued'] - counts['finished']} images were neither done nor reported")

    def finish_without_work(self, action: Action) -> None:
        """Report an image the plan found nothing to do for (identical, or not copyable now)."""
        self._emit(
            ImageFinished(
                ImageResult(
                    image_id=action.image.id,
                    name=action.image.name,
                    action=action.kind,
                    result=Outcome.SKIPPED,
                    bytes=0,
                    seconds=0.0,
                    reason=action.reason,
                    unmapped_projects=action.image.unmapped_projects,
                )
            )
        )

    async def _execute(self, action: Action) -> ImageResult:
        done = _Ending(action)
        match action.kind:
            case ActionKind.PROBLEM:
                return done.result(Outcome.FAILED, await self._problem(action))
            case ActionKind.SKIP:
                return done.result(Outcome.SKIPPED)
            case ActionKind.CREATE | ActionKind.UPLOAD | ActionKind.UPDATE | ActionKind.PRUNE:
                pass
            case unreachable:
                assert_never(unreachable)
        if action.upload and self._budget_spent():
            return done.result(Outcome.SKIPPED, budget=self._settings.max_transfer)
        self._emit(ImageStarted(action))
        try:
            return done.result(await self._carry_out(action, done))
        except ImageError as exc:
            LOG.debug("image %s failed: %s", action.image.id, exc, exc_info=exc)  # --debug: with its causes
            return done.result(Outcome.FAILED, str(exc))

    async def _carry_out(self, action: Action, done: _Ending) -> Outcome:
        """The steps of an action with work, in order: the record, its metadata, its data, its
        members, its status. A prune, or a copy removed because the source deleted the image
        meanwhile, ends as `_prune` and `_remove_orphan` say."""
        image = action.image
        if action.kind is ActionKind.PRUNE:
            return await self._prune(action, done)
        if action.kind is ActionKind.CREATE:
            await self._retrying(action, lambda: self._create(action, done.notes))
        if action.changes:
            await self._retrying(action, lambda: self._update(action, done.notes))
        if action.upload and (ended := await self._upload(action, done)) is not None:
            return ended
        if action.member_changes:
            await self._retrying(action, lambda: self._target.apply_members(image, action.member_changes))
        if action.set_status:
            status = action.set_status
            await self._retrying(action, lambda: self._set_status(image, status))
        return Outcome.OK

    async def _upload(self, action: Action, done: _Ending) -> Outcome | None:
        """Put the image's data into the target (fetched by it, or streamed) and read it back;
        None when it is there, or how the image ends when the source confirms it deleted the
        image during its copy (what this run created for it is then removed)."""
        try:
            if action.current is not None and staged_whole(action.image, action.current):
                await self._retrying(action, lambda: self._import_staged(action))
                copied, checked = 0, False
            elif await self._pulled(action, done.notes):
                copied, checked = action.image.size or 0, False
            else:
                copied, checked = await self._retrying(action, lambda: self._copy_data(action))
        except ImageError as exc:
            if not (action.create and _source_gone(exc) and await self._confirmed_gone(action.image)):
                raise
            return await self._remove_orphan(action, done, "the empty record")
        done.copied = copied
        if action.create and await self._confirmed_gone(action.image):
            return await self._remove_orphan(action, done, "the copy")
        done.verified = await self._read_back(action, checked, done)
        return None

    async def _problem(self, action: Action) -> str:
        """Why the image cannot be copied: the plan's reason, and for a copy stuck in an upload or
        an import, what the target's import task says of it and what the operator can do."""
        current = action.current
        if current is None or current.status not in TRANSIENT_STATUSES or not isinstance(self._target, ImportTasks):
            return action.reason
        try:
            state = await self._target.import_task_state(current)
        except ImageError:
            state = None
        if state is None:
            return action.reason
        return (
            f"{action.reason}; {state}; an upload or import that no longer runs leaves it so until the "
            "target's operator resets or deletes it (this tool never deletes a copy to start over: Glance "
            "never gives its id back)"
        )

    async def _confirmed_gone(self, image: ImageRecord) -> bool:
        """Whether the source says, twice and `confirm_pause` apart, that it no longer has
        `image`, each time by a fresh look-up of that exact id answered by its API itself
        (`ImageStore.gone`): the only evidence a copy is deleted or deactivated on.

        Never one answer met on the way (a 404 to a download from an ingress, a replica that
        lags), never the listing alone (one short for a while: an image hidden between the two
        passes of a walk, another run's new copy listed after this run read the source). A
        server that holds a deleted image's file open still sends it to its end (the built-in
        server does), so a copy can succeed for an image deleted meanwhile: asked after every
        new copy. A look-up that fails is no proof: the copy stays.
        """
        for attempt in range(2):
            if attempt:
                await asyncio.sleep(self._confirm_pause)
            try:
                if not await self._source.gone(image):
                    return False
            except ImageError:
                return False
        return True

    def _may_destroy(self) -> bool:
        """Take one of the run's `max_prune` deletions or deactivations, if one is left."""
        if self.destroyed >= self._settings.max_prune:
            return False
        self.destroyed += 1
        return True

    async def _remove_orphan(self, action: Action, done: _Ending, what: str) -> Outcome:
        """Delete the image this run created on the target for a source image deleted during the
        run (confirmed: `_confirmed_gone`; its id is gone at the source for good): nothing is
        left behind, not even an empty record. A copy is deleted, never deactivated: this run
        made it moments ago, and nothing on the target can be using it yet. It counts toward
        `max_prune` and is reported as a prune: one line, one report line, one metric."""
        if not self._may_destroy():
            done.notes.append(
                f"the source image was deleted during the run: {what} this run created for it was kept, "
                f"this run has already deleted or deactivated the {self._settings.max_prune} images a run may"
            )
            return Outcome.SKIPPED
        done.notes.append(f"the source image was deleted during the run: {what} this run created for it was removed")
        done.kind = ActionKind.PRUNE
        return await self._destroying(action, done, lambda: self._target.delete_image(action.image))

    async def _prune(self, action: Action, done: _Ending) -> Outcome:
        """Deactivate or delete a target image the source listing no longer has, once the source
        confirms it is gone (`_confirmed_gone`) and within the run's `max_prune`."""
        if not await self._confirmed_gone(action.image):
            done.notes.append("not pruned: the source did not confirm it is gone (the image may be there after all)")
            return Outcome.SKIPPED
        if not self._may_destroy():
            done.notes.append(
                f"not pruned: this run has already deleted or deactivated the {self._settings.max_prune} images a run may"
            )
            return Outcome.SKIPPED
        image = action.image
        if action.prune == PruneMode.DELETE:
            return await self._destroying(action, done, lambda: self._target.delete_image(image))
        return await self._destroying(action, done, lambda: self._set_status(image, ImageStatus.DEACTIVATED))

    async def _destroying(self, action: Action, done: _Ending, act: Callable[[], Awaitable[None]]) -> Outcome:
        """Carry out one deletion or deactivation, seen to its end and reported even when the run
        is stopped meanwhile: the request may already be at the server, so a stop signal waits
        for its answer (bounded by the request's own timeouts and retries), reports the image,
        and then stops the run."""
        task = asyncio.ensure_future(self._retrying(action, act))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            await asyncio.wait([task])
            failure = None if task.cancelled() else task.exception()
            if task.cancelled() or failure is not None:
                why = str(failure) if failure is not None else "cancelled; it may have reached the server"
                self._emit(ImageFinished(done.result(Outcome.FAILED, f"stopped: {why}")))
            else:
                self._emit(ImageFinished(done.result(Outcome.OK)))
            raise
        return Outcome.OK

    async def _create(self, action: Action, notes: list[str]) -> None:
        attributes = creation_attributes(action.image, self._settings)
        try:
            await self._target.create_image(action.image, attributes)
        except ImageError as exc:
            await _first_accepted(
                creation_fallbacks(attributes, exc, self._settings),
                exc,
                notes,
                lambda allowed: self._target.create_image(action.image, allowed),
            )

    async def _update(self, action: Action, notes: list[str]) -> None:
        image, current = action.image, action.current or action.image
        try:
            await self._target.update_metadata(image, current, action.changes)
        except ImageError as exc:

            async def update(kept: list[AttributeChange]) -> None:
                if kept:
                    await self._target.update_metadata(image, current, kept)

            try:
                await _first_accepted(update_fallbacks(action.changes, exc, self._settings), exc, notes, update)
            except ImageError as refusal:
                if refusal.kind is not ErrorKind.FORBIDDEN:
                    raise
                await self._update_each(image, current, action.changes, refusal)

    async def _update_each(
        self, image: ImageRecord, current: ImageRecord, changes: Sequence[AttributeChange], refusal: ImageError
    ) -> None:
        """After a refused PATCH (403: a property protection, or a policy), each change alone,
        so that one protected property does not cost the changes the target allows; the refused
        ones (decided on each answer's kind, never its wording) are the image's error, named."""
        refused = []
        for change in changes:
            try:
                await self._target.update_metadata(image, current, [change])
            except ImageError as exc:
                if exc.kind is not ErrorKind.FORBIDDEN:
                    raise
                refused.append(change.key)
        if refused:
            raise refused_properties(refused, len(changes), refusal)

    async def _read_back(self, action: Action, checked_in_flight: bool, done: _Ending) -> bool:
        """Whether the copy is verified, after asking the target what it now holds.

        A target that holds no data, another size or other hashes fails the image, and its copy
        is deactivated (never deleted: Glance never gives an id back), so nothing uses it. Unless
        the target converted it on import (`verify.target_conversion`) and its bytes were
        verified in flight against the source's hash before that: a good copy, said so.
        """
        image = action.image
        held = await self._retrying(action, lambda: self._target.stat(image))
        try:
            confirmed = check_held(image, held)
        except VerificationError as exc:
            conversion = target_conversion(image, held) if checked_in_flight else None
            if conversion is not None:
                done.converted = conversion
                done.notes.append(converted_note(conversion))
                return True
            if held is not None and held.status == ImageStatus.ACTIVE:
                try:
                    await self._set_status(image, ImageStatus.DEACTIVATED)
                except ImageError as failure:
                    raise exc.again(f"{exc}; deactivating the target copy failed too: {failure}") from exc
                raise exc.again(f"{exc}; the target copy was deactivated") from exc
            raise
        return checked_in_flight or confirmed

    async def _pulled(self, action: Action, notes: list[str]) -> bool:
        """Whether the target fetched the data itself (server-side, between two regions), its
        progress reported as `ImageFetching`; when it cannot, the note says why and the image is
        streamed as any other (Glance puts an image whose import failed back to `queued`)."""
        image, target = action.image, self._target
        if not (isinstance(target, Puller) and target.can_pull(image)):
            return False
        stages: dict[str, FetchStage] = {
            ImageStatus.QUEUED: FetchStage.WAITING,
            ImageStatus.UPLOADING: FetchStage.IMPORTING,
            ImageStatus.IMPORTING: FetchStage.IMPORTING,
        }
        seen: list[FetchStage] = []

        def on_status(status: str) -> None:
            stage = stages.get(status)
            if stage is not None and stage not in seen[-1:]:
                seen.append(stage)
                self._emit(ImageFetching(image.id, stage))

        on_status(ImageStatus.QUEUED)  # asked for and not begun, until Glance says otherwise
        try:
            await self._retrying(action, lambda: target.pull(image, on_status))
        except ImageError as exc:
            notes.append(f"streamed: the target could not fetch it itself ({exc})")
            return False
        self.copied += image.size or 0  # the transfer budget counts what moved, wherever it went
        self._emit(ImageFetching(image.id, FetchStage.DONE, image.size or 0))
        notes.append("fetched by the target from the source region (glance-download)")
        return True

    async def _import_staged(self, action: Action) -> None:
        """Finish a copy an earlier run staged and did not import (`plan.staged_whole`)."""
        if not isinstance(self._target, StagedImports):
            raise ImageError(
                f"{self._target.description} cannot import data staged for image {action.image.id}", side=Role.TARGET
            )
        await self._target.import_staged(action.image)

    async def _copy_data(self, action: Action) -> tuple[int, bool]:
        """Stream the whole image into the target once: (bytes, whether a hash was checked in flight).

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
            async with _closing(paced) as paced_chunks, _closing(verifier.verified(paced_chunks, on_bytes)) as body:
                await self._target.write_data(image, body)
        return verifier.bytes, verifier.checked is not None

    async def _set_status(self, image: ImageRecord, status: str) -> None:
        """Deactivate or reactivate the target's copy; a target that cannot (no `Deactivator`: a
        Glance v1) fails the step, saying so."""
        if not isinstance(self._target, Deactivator):
            raise cannot_deactivate(self._target, image)
        await self._target.set_status(image, status)

    def _budget_spent(self) -> bool:
        """Whether the transfer budget is spent: no new transfer starts, those under way finish."""
        limit = self._settings.max_transfer
        return limit is not None and self.copied >= limit

    def _on_retry(self, action: Action) -> Callable[[int, ImageError], None]:
        def on_retry(attempt: int, error: ImageError) -> None:
            self._emit(ImageRetrying(action.image.id, attempt, str(error), error.kind))

        return on_retry

    async def _retrying(self, action: Action, step: Callable[[], Awaitable[T]]) -> T:
        return await with_retries(step, self._settings.retries, self._on_retry(action))


class _Ending:
    """How one action ends, gathered as its steps go: the bytes copied, what was done otherwise
    than the source has it (fallbacks, notes), whether the copy was verified."""

    def __init__(self, action: Action) -> None:
        self.action = action
        self.started = time.monotonic()
        self.copied = 0
        self.notes: list[str] = []
        #: Set once data was copied and checked.
        self.verified: bool | None = None
        #: Set when the target converted the copy on import ("qcow2 -> raw").
        self.converted: str | None = None
        #: What the image is reported as when it ended otherwise than planned (a copy removed
        #: because the source deleted the image meanwhile: a prune).
        self.kind: ActionKind | None = None

    def result(self, result: Outcome, error: str | None = None, budget: int | None = None) -> ImageResult:
        image = self.action.image
        return ImageResult(
            image_id=image.id,
            name=image.name,
            action=self.kind or self.action.kind,
            result=result,
            bytes=self.copied,
            seconds=round(time.monotonic() - self.started, 3),
            reason="; ".join(
                [reason_when_done(self.action) if result == Outcome.OK else self.action.reason, *self.notes]
            ).strip("; "),
            error=error,
            deferred_by_budget=budget,
            verified=self.verified,
            converted=self.converted,
            unmapped_projects=image.unmapped_projects,
        )


def cannot_deactivate(store: ImageStore, image: ImageRecord) -> ImageError:
    """The error of a step that needs the target `store` to deactivate or reactivate `image`
    when it cannot: the image fails, saying why, and the run goes on (never retried)."""
    return ImageError(
        f"image {image.id}: {store.description} cannot deactivate or reactivate an image",
        kind=ErrorKind.UNSUPPORTED,
        side=Role.TARGET,
    )


def _source_gone(error: ImageError) -> bool:
    """Whether `error` may mean the source no longer has the image (deleted while the run went
    on): a reason to ask the source (`Transfer._confirmed_gone`), never proof by itself."""
    return error.side == Role.SOURCE and error.kind is ErrorKind.NOT_FOUND


async def _first_accepted(
    alternatives: list[tuple[T, str]],
    refusal: ImageError,
    notes: list[str],
    attempt: Callable[[T], Awaitable[None]],
) -> None:
    """Try each fallback in turn until the target accepts one (its note joins the result); when
    none applies or the target refuses them all, the first refusal is the image's error."""
    for alternative, note in alternatives:
        try:
            await attempt(alternative)
        except ImageError as exc:
            if exc.kind is ErrorKind.FORBIDDEN:
                continue
            raise
        notes.append(note)
        return
    raise refusal


@asynccontextmanager
async def _closing(stream: AsyncGenerator[bytes, None]) -> AsyncIterator[AsyncGenerator[bytes, None]]:
    """Close a stream of the copy (the source's, the paced, the verified) when the copy ends,
    however it ends.

    On cancellation (Ctrl-C) the HTTP client's body-writer task may still be inside the
    stream (`ag_running`): it is being cancelled too, and the stream closes as that task
    unwinds; closing it here would be "generator already running". Any other error of the
    close is raised.
    """
    try:
        yield stream
    finally:
        if not (isinstance(stream, types.AsyncGeneratorType) and stream.ag_running):
            await stream.aclose()
