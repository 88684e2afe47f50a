"""One source, many targets: each target walked and planned on its own, each image read once.

Every target runs the one-target engine (`run.replicate`: its own march, plan, prune guard and
worker pool) with a `FanoutTransfer`, which differs from `Transfer` in one step only: the data.
All of them share one `Hub`, which learns every target's decision about every source image as
its walk makes it. Once every target has decided about an image (or its walk has ended), the set
of targets that need its data is known, and the image is handed to each of them in the same
order (the order its decisions completed): so the targets' workers reach the shared images in
one order, and none waits for a target whose workers wait for it. Each target's worker that
reaches the data step joins the image's `Broadcast`; the source is opened once every target that
needs the data has joined (or dropped out before its data: a create that failed, a spent budget).
`FanoutTransfer` hooks into `Transfer` at four seams, kept as they are for that reason: `run`
(the actions as planned), `finish_without_work`, `_execute` (however an image ends) and
`_copy_data` (the one step that reads the source); every other step is the one-target code.

A `Broadcast` is one reader and k bounded queues: the source's chunks (reopened at the byte
reached if cut, paced by the run's one `--bwlimit`, hashed once by one `StreamVerifier`) are put
into every queue in turn, so the read goes at the pace of the slowest target still taking the
image. A target whose queue stays full past `Settings.timeout` (its upload stalled), or whose
upload fails, drops out of that image: it fails there with its reason, the others go on, and a
rerun completes it there alone. Its data step is never retried within the run (the shared read
has moved on). Memory per image in flight: at most `CHUNKS_PER_TARGET` chunks per target plus
the one the verifier holds, `(k * CHUNKS_PER_TARGET + 1) * chunk_size` bytes; the hub holds the
actions a walk has decided ahead of the others, about `AHEAD` per target (6.5 KB each).

A target that can fetch the data itself (`Puller`) is not a reader's subscriber; if its pull
fails, its streamed copy reads the source for it alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field

from replicator.engine.actions import Action
from replicator.engine.bandwidth import BandwidthLimit
from replicator.engine.events import BytesCopied, EventSink, ImageResult
from replicator.engine.mapping import RecordMapper
from replicator.engine.plan import staged_whole
from replicator.engine.reopen import reopening_stream
from replicator.engine.run import Walked, replicate
from replicator.engine.transfer import Transfer, _closing
from replicator.engine.verify import StreamVerifier
from replicator.model.errors import ErrorKind, ImageError, ReplicatorError
from replicator.model.records import ImageRecord
from replicator.model.settings import Settings
from replicator.model.tasks import all_of, cancel_all
from replicator.stores.base import ImageStore, Puller

#: Chunks queued for one target of one image at most: the slack between the fastest and the
#: slowest target before the read waits.
CHUNKS_PER_TARGET = 4
#: Shared images a target's walk may have decided while another target has not, before it
#: waits for the others (never when another target waits for it).
AHEAD = 1_000


@dataclass(frozen=True)
class NamedTarget:
    """One target of a run: its name as the operator gave it (the command line's TARGET, or the
    cloud and region: never a value a tenant wrote), its store, where its events go, and
    (between two clouds) how the source's projects become its own."""

    name: str
    store: ImageStore
    emit: EventSink
    projects: RecordMapper | None = None


@dataclass
class SourceRead:
    """Bytes read from the source by the whole run, whichever targets they went to."""

    bytes: int = 0


async def replicate_many(
    source: ImageStore, targets: Sequence[NamedTarget], settings: Settings, read: SourceRead | None = None
) -> dict[str, Walked | BaseException]:
    """Bring every target in line with `source`, reading each image's data once for all the
    targets that need it. One target's failure (its listing breaks, its token cannot be
    renewed) ends that target's run only: its error is its entry of the result, the others go on.
    A bug (any error but a `ReplicatorError`) still ends the whole run."""
    hub = Hub(source, [target.name for target in targets], settings, read or SourceRead())

    async def one(target: NamedTarget) -> Walked | BaseException:
        transfer = FanoutTransfer(hub, target, settings)
        try:
            return await replicate(source, target.store, settings, target.emit, target.projects, transfer=transfer)
        except ReplicatorError as exc:  # this target's run cannot go on; the others' can
            return exc
        finally:
            hub.done(target.name)

    try:
        outcomes = await all_of(*(one(target) for target in targets))
    finally:
        await hub.close()
    return {target.name: outcome for target, outcome in zip(targets, outcomes, strict=True)}


class FanoutTransfer(Transfer):
    """A target's transfer whose data comes from the image's shared read (`Broadcast`)."""

    def __init__(self, hub: Hub, target: NamedTarget, settings: Settings) -> None:
        super().__init__(hub.source, target.store, settings, target.emit)
        self._hub = hub
        self.name = target.name

    async def run(self, actions: AsyncIterator[Action]) -> None:
        """Tell the hub of every action as the walk plans it; execute them in the hub's order."""
        outbox = self._hub.outbox(self.name)

        async def decide() -> None:
            try:
                async for action in actions:
                    await self._hub.decided(self.name, action, self._needs_data(action))
            finally:
                self._hub.walk_ended(self.name)

        await all_of(decide(), super().run(outbox.actions()))

    def finish_without_work(self, action: Action) -> None:
        self._hub.decided_now(self.name, action, wants=False)
        super().finish_without_work(action)

    async def _execute(self, action: Action) -> ImageResult:
        try:
            return await super()._execute(action)
        finally:
            self._hub.withdraw(action.image.id, self.name)  # if it never reached its data step

    async def _copy_data(self, action: Action) -> tuple[int, bool]:
        broadcast = self._hub.joined(action.image.id, self.name) or self._hub.alone(action.image, self.name)
        image = action.image

        def on_bytes(count: int) -> None:
            self.copied += count
            self._emit(BytesCopied(image.id, count))

        return await broadcast.feed(
            self.name, lambda body: self._target.write_data(image, body), on_bytes, self._on_retry(action)
        )

    def _needs_data(self, action: Action) -> bool:
        """Whether the action streams the source's data: not one whose data the target already
        holds staged (it is imported), nor one the target fetches itself (`Puller`)."""
        if not action.upload or action.gone_from_source or action.prune:
            return False
        if action.current is not None and staged_whole(action.image, action.current):
            return False
        target = self._target
        return not (isinstance(target, Puller) and target.can_pull(action.image))


class _Outbox:
    """The actions handed to one target's worker pool, in the hub's order; `taken` is called
    as its pool takes each (a walk may be waiting for the outbox to shrink)."""

    def __init__(self, taken: Callable[[], None]) -> None:
        self.queue: asyncio.Queue[Action | None] = asyncio.Queue()
        self.closed = False
        self._taken = taken

    def put(self, action: Action) -> None:
        self.queue.put_nowait(action)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)

    async def actions(self) -> AsyncGenerator[Action, None]:
        while (action := await self.queue.get()) is not None:
            self._taken()
            yield action


@dataclass
class _Pending:
    """One shared image: the targets that have decided about it, and those that want its data."""

    image: ImageRecord
    decided: set[str] = field(default_factory=set)
    wanting: dict[str, Action] = field(default_factory=dict)


class Hub:
    """Which targets need which image's data, and the one read per image for all of them."""

    def __init__(self, source: ImageStore, names: list[str], settings: Settings, read: SourceRead) -> None:
        self.source = source
        self._names = names
        self._settings = settings
        self._read = read
        self._limit = BandwidthLimit(settings.bwlimit) if settings.bwlimit else None
        self._pending: dict[str, _Pending] = {}
        #: Per target, the unsettled images that wait for its decision, and those it wants.
        self._missing = dict.fromkeys(names, 0)
        self._wanted = dict.fromkeys(names, 0)
        self._ended: set[str] = set()  # walks that have ended: they decide nothing more
        self._finished: set[str] = set()  # targets whose run has ended: they join nothing more
        self._outboxes = {name: _Outbox(self._notify) for name in names}
        self._broadcasts: dict[str, Broadcast] = {}
        self._readers: set[asyncio.Task[None]] = set()
        self._moved = asyncio.Event()

    def outbox(self, name: str) -> _Outbox:
        return self._outboxes[name]

    async def decided(self, name: str, action: Action, wants: bool) -> None:
        """`name`'s walk planned `action`: work it needs data for waits for the other targets'
        decisions; anything else goes to its workers at once."""
        outbox = self._outboxes[name]
        # A walk far ahead of the others, or of its own workers, waits; never one that another
        # target waits for (so some walk can always go on).
        while (len(self._pending) >= AHEAD or outbox.queue.qsize() >= AHEAD) and not self._awaited(name):
            await self._moved.wait()
        self.decided_now(name, action, wants=wants)
        if not wants:
            outbox.put(action)

    def decided_now(self, name: str, action: Action, *, wants: bool) -> None:
        if action.gone_from_source or action.prune:
            return
        image_id = action.image.id
        pending = self._pending.get(image_id)
        if pending is None:
            pending = self._pending[image_id] = _Pending(action.image)
            for other in self._names:
                self._missing[other] += 1
        if name not in pending.decided:
            pending.decided.add(name)
            self._missing[name] -= 1
        if wants and name not in pending.wanting:
            pending.wanting[name] = action
            self._wanted[name] += 1
        self._settle(image_id)

    def walk_ended(self, name: str) -> None:
        """`name`'s walk ended (or failed): it decides nothing more; its workers stop once the
        images it waits for are settled."""
        self._ended.add(name)
        for image_id in list(self._pending):
            self._settle(image_id)
        self._close_outbox_if_done(name)

    def _settle(self, image_id: str) -> None:
        pending = self._pending[image_id]
        if not all(name in pending.decided or name in self._ended for name in self._names):
            return
        del self._pending[image_id]
        for name in self._names:
            self._missing[name] -= name not in pending.decided
            self._wanted[name] -= name in pending.wanting
        if pending.wanting:
            self._broadcasts[image_id] = Broadcast(self, pending.image, set(pending.wanting))
            for name, action in pending.wanting.items():
                self._outboxes[name].put(action)
        self._notify()
        for name in self._ended:
            self._close_outbox_if_done(name)

    def _awaited(self, name: str) -> bool:
        """Whether an unsettled image waits for `name`'s decision."""
        return self._missing[name] > 0

    def _close_outbox_if_done(self, name: str) -> None:
        """A target's workers stop once its walk has ended and no image it wants is unsettled."""
        if name in self._ended and not self._wanted[name]:
            self._outboxes[name].close()

    def _notify(self) -> None:
        """Wake the walks waiting for the others (each waits on the event it saw)."""
        self._moved.set()
        self._moved = asyncio.Event()

    def joined(self, image_id: str, name: str) -> Broadcast | None:
        """The shared read `name` is expected at, if any (None: it reads alone)."""
        broadcast = self._broadcasts.get(image_id)
        return broadcast if broadcast is not None and broadcast.expects(name) else None

    def alone(self, image: ImageRecord, name: str) -> Broadcast:
        """A read for one target only: a pull that failed, streamed instead."""
        return Broadcast(self, image, {name}, shared=False)

    def withdraw(self, image_id: str, name: str) -> None:
        broadcast = self._broadcasts.get(image_id)
        if broadcast is not None:
            broadcast.withdraw(name)

    def done(self, name: str) -> None:
        """`name`'s run has ended, however: it joins no read any more."""
        self._finished.add(name)
        self.walk_ended(name)
        for broadcast in list(self._broadcasts.values()):
            broadcast.withdraw(name)

    def ended(self, broadcast: Broadcast) -> None:
        if self._broadcasts.get(broadcast.image.id) is broadcast:
            del self._broadcasts[broadcast.image.id]

    def start(self, broadcast: Broadcast) -> None:
        task = asyncio.get_running_loop().create_task(broadcast.read())
        self._readers.add(task)
        task.add_done_callback(self._readers.discard)

    def count(self, size: int) -> None:
        self._read.bytes += size

    async def close(self) -> None:
        """Cancel the reads still under way and wait until each has ended (their owner is the run)."""
        await cancel_all(set(self._readers), "a shared read ended with an error after its run")

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def limit(self) -> BandwidthLimit | None:
        return self._limit


_END = object()


class _Subscriber:
    """One target's share of a read: its queue, and where a reopening of the source is told."""

    def __init__(self, on_retry: Callable[[int, ImageError], None]) -> None:
        self.queue: asyncio.Queue[object] = asyncio.Queue(CHUNKS_PER_TARGET)
        self.on_retry = on_retry

    def fail(self, error: BaseException) -> None:
        """Hand `error` to the consumer at once, whatever its queue holds (it fails anyway)."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(error)


class Broadcast:
    """One image's data, read once from the source and put into each joined target's queue."""

    def __init__(self, hub: Hub, image: ImageRecord, expected: set[str], *, shared: bool = True) -> None:
        self._hub = hub
        self.image = image
        self._expected = set(expected)
        self._subscribers: dict[str, _Subscriber] = {}
        self._started = False
        self._shared = shared
        #: Whether a hash of the source was checked in flight, once the read has ended well.
        self.checked = False

    def expects(self, name: str) -> bool:
        return name in self._expected

    def withdraw(self, name: str) -> None:
        """`name` will not join (its image ended before its data step, or its run did)."""
        if name in self._expected:
            self._expected.discard(name)
            self._maybe_start()
        self._subscribers.pop(name, None)  # a reader under way sees it gone, and stops if none is left

    def _maybe_start(self) -> None:
        if self._started or self._expected:
            return
        if not self._subscribers:
            if self._shared:
                self._hub.ended(self)
            return
        self._started = True
        self._hub.start(self)

    async def feed(
        self,
        name: str,
        write: Callable[[AsyncIterator[bytes]], Awaitable[None]],
        on_bytes: Callable[[int], None],
        on_retry: Callable[[int, ImageError], None],
    ) -> tuple[int, bool]:
        """Join the read and hand this target's share to `write` (its upload): (bytes it took,
        whether the source's hash was checked). Its failure is final for this run."""
        subscriber = self._subscribers[name] = _Subscriber(on_retry)
        self._expected.discard(name)
        self._maybe_start()
        received = 0

        async def body() -> AsyncGenerator[bytes, None]:
            """The chunks the reader put into this target's queue, then its end or its error."""
            nonlocal received
            while True:
                item = await subscriber.queue.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, bytes)
                yield item
                received += len(item)
                on_bytes(len(item))

        try:
            async with _closing(body()) as chunks:
                await write(chunks)
        except ImageError as exc:
            raise exc.again(retryable=False) from exc  # the shared read has moved on
        finally:
            self._subscribers.pop(name, None)
        return received, self.checked

    async def read(self) -> None:
        """Read the source once into every subscriber's queue, at the pace of the slowest."""
        settings = self._hub.settings
        verifier = StreamVerifier(self.image, hashes=settings.verify)
        try:
            source = reopening_stream(self._hub.source, self.image, settings.retries, self._reopened)
            async with aclosing(self._counted(source)) as chunks:
                limit = self._hub.limit
                paced = limit.limited(chunks) if limit else chunks
                async with aclosing(paced) as paced_chunks, aclosing(verifier.verified(paced_chunks)) as verified:
                    async for chunk in verified:
                        await self._put(chunk)
                        if not self._subscribers:
                            return  # every target dropped out: read no further
            self.checked = verifier.checked is not None
            await self._put(_END)
        except BaseException as exc:
            for subscriber in list(self._subscribers.values()):  # each its own copy of the error
                subscriber.fail(exc.again() if isinstance(exc, ImageError) else _stopped(self.image, exc))
            if not isinstance(exc, ImageError):
                raise
        finally:
            self._hub.ended(self)

    def _reopened(self, attempt: int, error: ImageError) -> None:
        """The source was cut and is reopened: every target still taking the image is told."""
        for subscriber in list(self._subscribers.values()):
            subscriber.on_retry(attempt, error)

    async def _counted(self, chunks: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
        async for chunk in chunks:
            self._hub.count(len(chunk))
            yield chunk

    async def _put(self, item: object) -> None:
        timeout = self._hub.settings.timeout
        for name, subscriber in list(self._subscribers.items()):
            try:
                async with asyncio.timeout(timeout):
                    await subscriber.queue.put(item)
            except TimeoutError:
                stalled = ImageError(
                    f"image {self.image.id}: the target took no data for {timeout:g}s while the other "
                    "targets went on: it dropped out of this image (the next run copies it there)",
                    kind=ErrorKind.TRANSPORT,
                    side="target",
                )
                self._subscribers.pop(name, None)
                subscriber.fail(stalled)


def _stopped(image: ImageRecord, error: BaseException) -> ImageError:
    """What a target's upload gets when the shared read ended by a stop or a bug, not a source error."""
    return ImageError(
        f"image {image.id}: the shared read of the source stopped ({type(error).__name__})", side="source"
    )
