"""Progress events: the engine emits them and never prints; views and reports subscribe.

The order of a run: `Listed` (now and then, per side, while both listings are walked) and
`WorkFound` (per image that needs work, as the walk finds it; transfers start at once), then
`RunPlanned` when the walk has ended (exact totals from then on); `ImageStarted`,
`BytesCopied` (or, where the target fetches the data itself, `ImageFetching`), `ImageRetrying`
and `ImageFinished` per image throughout.

Sinks subscribe as s3transfer's subscribers do: a `Subscriber` has one `on_<event>` method per
event type, each a no-op unless the sink overrides it, and the one dispatch from type to method
is `Subscriber.__call__` (a `match` ending in `assert_never`, so mypy says when an event type
has no method). A plain callable is a sink too (the tests' `list.append`).

One failure policy, decided in `fan_out`, never inside a sink: a sink's output that cannot be
written raises `OSError` (or a `RunError` that says which output); what follows is what the sink
declares in `Subscriber.on_failure`. `STOP` (the default, and what `--report` declares: an audit
that cannot be written is no audit) ends the run with a one-line `RunError` raised at the fan-out;
`WARN` (the metrics: a dashboard is no reason to stop copying) warns once, through the `warn`
the fan-out was given, and the sink gets no more events. A plain callable's error passes through
untouched; any other exception is a bug and is never caught.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, assert_never

from replicator.engine.actions import Action, ActionKind, Outcome
from replicator.model.errors import ErrorKind, RunError


@dataclass(frozen=True)
class Listed:
    """How far the walk has got on one side ("source" or "target"); `done` once its listing ended."""

    side: str
    images: int
    done: bool = False


@dataclass(frozen=True)
class WorkFound:
    """The walk found an image that needs work (or cannot be brought in line): totals grow."""

    action: Action


@dataclass(frozen=True)
class RunPlanned:
    """The walk has ended: exact totals for progress and ETA. `images` is how many source images
    the run took (its selection), `images_with_work` how many need work, `prunes` of them the
    target images to prune (which no source image counts)."""

    images: int
    images_with_work: int
    bytes_to_copy: int
    prunes: int = 0


@dataclass(frozen=True)
class ImageStarted:
    action: Action


@dataclass(frozen=True)
class BytesCopied:
    image_id: str
    count: int


class FetchStage(StrEnum):
    """Where an image the target fetches itself stands: asked for and not begun yet, being
    fetched, or there (to be read back and checked)."""

    WAITING = "waiting"
    IMPORTING = "importing"
    DONE = "done"


@dataclass(frozen=True)
class ImageFetching:
    """The target fetches the image from the source itself (server-side copy): no bytes cross
    this process, so this stands in for `BytesCopied`. `bytes` is the image's size at `DONE`."""

    image_id: str
    stage: FetchStage
    bytes: int = 0


@dataclass(frozen=True)
class ImageRetrying:
    image_id: str
    attempt: int
    error: str
    #: What failed, for counting retries by cause.
    kind: ErrorKind = ErrorKind.SERVER


@dataclass(frozen=True)
class ImageResult:
    """How one image ended; one per source image, the unit of the summary and the report."""

    image_id: str
    name: str
    action: ActionKind
    result: Outcome
    bytes: int
    seconds: float
    reason: str = ""
    error: str | None = None
    #: The transfer budget (`Settings.max_transfer`, bytes) whose exhaustion kept this image
    #: from starting; None when it was not held back.
    deferred_by_budget: int | None = None
    #: For a copy of data: whether a hash of the source was checked (None when no data moved).
    verified: bool | None = None
    #: Between two clouds: the source projects of the image with no counterpart on the target.
    unmapped_projects: tuple[str, ...] = ()
    #: A copy the target converted on import ("qcow2 -> raw"); None when it holds what was sent.
    converted: str | None = None

    @property
    def deferred(self) -> bool:
        return self.deferred_by_budget is not None


@dataclass(frozen=True)
class ImageFinished:
    result: ImageResult


Event = Listed | WorkFound | RunPlanned | ImageStarted | BytesCopied | ImageFetching | ImageRetrying | ImageFinished
EventSink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """A sink for runs nobody watches."""


class FailurePolicy(StrEnum):
    """What a sink's failure to write its output does to the run (see the module docstring)."""

    STOP = "stop"
    WARN = "warn"


class Subscriber:
    """A sink with one method per event type, each a no-op here: a view overrides those it
    shows. `on_failure` is the sink's failure policy, `output` names what it writes (for the
    one line a failure is told in)."""

    on_failure: ClassVar[FailurePolicy] = FailurePolicy.STOP
    output: str = "an event sink"

    def __call__(self, event: Event) -> None:
        match event:
            case Listed():
                self.on_listed(event)
            case WorkFound():
                self.on_work_found(event)
            case RunPlanned():
                self.on_run_planned(event)
            case ImageStarted():
                self.on_image_started(event)
            case BytesCopied():
                self.on_bytes_copied(event)
            case ImageFetching():
                self.on_image_fetching(event)
            case ImageRetrying():
                self.on_image_retrying(event)
            case ImageFinished():
                self.on_image_finished(event)
            case _:
                assert_never(event)

    def on_listed(self, event: Listed) -> None:
        pass

    def on_work_found(self, event: WorkFound) -> None:
        pass

    def on_run_planned(self, event: RunPlanned) -> None:
        pass

    def on_image_started(self, event: ImageStarted) -> None:
        pass

    def on_bytes_copied(self, event: BytesCopied) -> None:
        pass

    def on_image_fetching(self, event: ImageFetching) -> None:
        pass

    def on_image_retrying(self, event: ImageRetrying) -> None:
        pass

    def on_image_finished(self, event: ImageFinished) -> None:
        pass


def _log_warning(message: str) -> None:
    logging.getLogger("replicator").warning("%s", message)


def fan_out(*sinks: EventSink, warn: Callable[[str], None] = _log_warning) -> EventSink:
    """One sink that hands every event to each of `sinks`, in order, and decides what a sink's
    failure does (the module docstring's rule): a `STOP` sink's ends the run here with a
    `RunError`, a `WARN` sink's is told once through `warn` and that sink is dropped."""
    live = list(sinks)

    def emit(event: Event) -> None:
        for sink in list(live):
            if not isinstance(sink, Subscriber):
                sink(event)
                continue
            try:
                sink(event)
            except (OSError, RunError) as exc:
                problem = (
                    exc if isinstance(exc, RunError) else RunError(f"cannot write {sink.output}: {exc.strerror or exc}")
                )
                if sink.on_failure is FailurePolicy.STOP:
                    if problem is exc:
                        raise
                    raise problem from exc
                live.remove(sink)
                warn(f"{problem}; {sink.output} gets no more of this run")

    return emit


@dataclass
class Unmapped:
    """Between two clouds: the source projects that have no counterpart on the target, and how
    many images name one. Grows with the projects, never with the images."""

    images: int = 0
    projects: set[str] = field(default_factory=set)

    def add(self, projects: tuple[str, ...]) -> None:
        if projects:
            self.images += 1
            self.projects.update(projects)


class RunTally(Subscriber):
    """What a run did, summed as images finish: counts and bytes per (action, result), and the
    failed and pruned results in full. The one count of these facts: the summary, the progress
    views' counts (`progress.Tally.run`), the many-targets table and the metrics' last-run
    figures all read a `RunTally`, none counts them again. Memory grows with those, never with the images listed, so
    an interrupted run of a million images can still say what it did.
    """

    def __init__(self) -> None:
        self.images: Counter[tuple[str, str]] = Counter()
        self.volume: Counter[tuple[str, str]] = Counter()
        self.failed: list[ImageResult] = []
        #: The images pruned, named in the summary: no more than a run may prune (`max_prune`).
        self.pruned: list[ImageResult] = []
        self.deferred = 0
        self.unverified = 0
        #: Copies the target converted on import (verified in flight, before it converted them).
        self.converted = 0
        self.unmapped = Unmapped()
        #: Whether the walk reached its end (a failure before it has less to sum up).
        self.planned = False

    def add(self, result: ImageResult) -> None:
        key = (str(result.action), str(result.result))
        self.images[key] += 1
        self.volume[key] += result.bytes
        if result.result == Outcome.FAILED:
            self.failed.append(result)
        elif result.result == Outcome.OK and result.action == ActionKind.PRUNE:
            self.pruned.append(result)
        self.deferred += result.deferred
        self.unverified += result.verified is False and result.result == Outcome.OK
        self.converted += result.converted is not None and result.result == Outcome.OK
        self.unmapped.add(result.unmapped_projects)

    @property
    def total_images(self) -> int:
        return sum(self.images.values())

    def with_result(self, result: Outcome) -> int:
        """How many images ended with `result`, whatever their action."""
        return sum(count for (_, ended), count in self.images.items() if ended == result)

    @property
    def total_bytes(self) -> int:
        return sum(self.volume.values())

    def on_image_finished(self, event: ImageFinished) -> None:
        self.add(event.result)

    def on_run_planned(self, event: RunPlanned) -> None:
        self.planned = True
