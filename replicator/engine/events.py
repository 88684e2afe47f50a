"""Progress events: the engine emits them and never prints; views and reports subscribe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

from replicator.engine.actions import Action, ActionKind, Outcome


@dataclass(frozen=True)
class RunPlanned:
    """The plan is known: exact totals for progress and ETA."""

    actions: tuple[Action, ...]
    images_with_work: int
    bytes_to_copy: int


@dataclass(frozen=True)
class ImageStarted:
    action: Action


@dataclass(frozen=True)
class BytesCopied:
    image_id: str
    count: int


@dataclass(frozen=True)
class ImageRetrying:
    image_id: str
    attempt: int
    error: str


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

    @property
    def deferred(self) -> bool:
        return self.deferred_by_budget is not None


@dataclass(frozen=True)
class ImageFinished:
    result: ImageResult


Event = Union[RunPlanned, ImageStarted, BytesCopied, ImageRetrying, ImageFinished]
EventSink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """A sink for runs nobody watches."""


def fan_out(*sinks: EventSink) -> EventSink:
    """One sink that hands every event to each of `sinks`, in order."""

    def emit(event: Event) -> None:
        for sink in sinks:
            sink(event)

    return emit


class ResultCollector:
    """Keeps every image's result as it finishes, so an interrupted run can still say what it did."""

    def __init__(self) -> None:
        self.results: list[ImageResult] = []
        #: Whether the run got as far as a plan (a failure before it has nothing to sum up).
        self.planned = False

    def __call__(self, event: Event) -> None:
        if isinstance(event, ImageFinished):
            self.results.append(event.result)
        elif isinstance(event, RunPlanned):
            self.planned = True
