"""Progress events: the engine emits them and never prints; views and reports subscribe.

The order of a run: `Listed` (now and then, per side, while both listings are walked) and
`WorkFound` (per image that needs work, as the walk finds it; transfers start at once), then
`RunPlanned` when the walk has ended (exact totals from then on); `ImageStarted`,
`BytesCopied` (or, where the target fetches the data itself, `ImageFetching`), `ImageRetrying`
and `ImageFinished` per image throughout.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from replicator.engine.actions import Action, ActionKind, Outcome
from replicator.model.errors import ErrorKind


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


def fan_out(*sinks: EventSink) -> EventSink:
    """One sink that hands every event to each of `sinks`, in order."""

    def emit(event: Event) -> None:
        for sink in sinks:
            sink(event)

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


class RunTally:
    """What a run did, summed as images finish: counts and bytes per (action, result), and the
    failed and pruned results in full. Memory grows with those, never with the images listed, so
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

    @property
    def total_bytes(self) -> int:
        return sum(self.volume.values())

    def __call__(self, event: Event) -> None:
        if isinstance(event, ImageFinished):
            self.add(event.result)
        elif isinstance(event, RunPlanned):
            self.planned = True
