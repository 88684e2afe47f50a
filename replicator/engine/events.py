"""Progress events: the engine emits them and never prints; views and reports subscribe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

from replicator.engine.plan import Action


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
    action: str
    result: str  # "ok", "failed" or "skipped"
    bytes: int
    seconds: float
    reason: str = ""
    error: str | None = None


@dataclass(frozen=True)
class ImageFinished:
    result: ImageResult


Event = Union[RunPlanned, ImageStarted, BytesCopied, ImageRetrying, ImageFinished]
EventSink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """A sink for runs nobody watches."""
