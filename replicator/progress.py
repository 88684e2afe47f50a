"""Watching a run: bars on a terminal, a periodic progress line in a log.

Both are event sinks (see `engine.events`); the engine knows nothing of them. Totals come from
the work the walk finds (`WorkFound`), and are exact once it has ended (`RunPlanned`).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn, DownloadColumn, Progress, ProgressColumn, Task, TaskID, TextColumn, TimeRemainingColumn,
)
from rich.text import Text

from replicator.console import human_size
from replicator.engine.actions import Outcome
from replicator.engine.events import BytesCopied, Event, ImageFinished, ImageStarted, Listed, RunPlanned, WorkFound

#: Seconds between two progress lines in a log.
LOG_INTERVAL = 10.0


class Tally:
    """Counts shared by both views: bytes done of the total, images by result.

    While the listings are still walked the totals grow with the work found, and the count of
    images says how many were listed so far; once the walk has ended (`RunPlanned`) they are
    exact."""

    def __init__(self) -> None:
        self.total_bytes = 0
        self.total_images = 0
        self.listed = 0
        self.planned = False
        self.done_bytes = 0
        self.results: Counter[str] = Counter()
        self.started = time.monotonic()

    def update(self, event: Event) -> None:
        if isinstance(event, RunPlanned):
            self.planned = True
            self.total_bytes, self.total_images = event.bytes_to_copy, event.images
        elif isinstance(event, WorkFound):
            self.total_bytes += event.action.bytes_to_copy
        elif isinstance(event, Listed) and event.side == "source":
            self.listed = event.images
        elif isinstance(event, BytesCopied):
            self.done_bytes += event.count
        elif isinstance(event, ImageFinished):
            self.results[event.result.result] += 1

    def counts(self) -> str:
        done = sum(self.results.values())
        of = f"/{self.total_images}" if self.planned else f" of {self.listed} listed so far"
        return (f"{done}{of} images: {self.results[Outcome.OK]} done, "
                f"{self.results[Outcome.SKIPPED]} skipped, {self.results[Outcome.FAILED]} failed")


class RateColumn(ProgressColumn):
    """The rate in binary units, like every other size the replicator prints (rich's own
    column counts in powers of 1000)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{human_size(speed)}/s" if speed is not None else "?", style="progress.data.speed")


class ProgressBars:
    """An overall bar (bytes, rate, ETA) and one bar per image in flight, for a terminal."""

    def __init__(self, console: Console | None = None) -> None:
        self.tally = Tally()
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
            RateColumn(), TimeRemainingColumn(),
            console=console or Console(stderr=True), transient=False,
        )  # fmt: skip
        self._overall: TaskID | None = None
        self._images: dict[str, TaskID] = {}

    def __enter__(self) -> ProgressBars:
        self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()

    def __call__(self, event: Event) -> None:
        self.tally.update(event)
        progress = self._progress
        if self._overall is None:
            self._overall = progress.add_task(self.tally.counts(), total=None)
        if isinstance(event, (RunPlanned, WorkFound)):
            progress.update(self._overall, total=self.tally.total_bytes or None, description=self.tally.counts())
        elif isinstance(event, ImageStarted) and event.action.upload:
            image = event.action.image
            self._images[image.id] = progress.add_task(f"  {image.name or image.id}", total=image.size)
        elif isinstance(event, BytesCopied):
            if event.image_id in self._images:
                progress.advance(self._images[event.image_id], event.count)
            if self._overall is not None:
                progress.advance(self._overall, event.count)
        elif isinstance(event, ImageFinished):
            task = self._images.pop(event.result.image_id, None)
            if task is not None:
                progress.remove_task(task)
            if self._overall is not None:
                progress.update(self._overall, description=self.tally.counts())


class ProgressLines:
    """A line every `interval` seconds, for logs and `--quiet`: bars make no sense in a file."""

    def __init__(self, stream: TextIO | None = None, interval: float = LOG_INTERVAL) -> None:
        self.tally = Tally()
        self._stream = stream
        self._interval = interval
        self._last = time.monotonic()

    def __call__(self, event: Event) -> None:
        self.tally.update(event)
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            print(self.line(now), file=self._stream or sys.stderr, flush=True)

    def line(self, now: float) -> str:
        tally = self.tally
        elapsed = max(now - tally.started, 1e-9)
        rate = tally.done_bytes / elapsed
        share = f" ({100 * tally.done_bytes / tally.total_bytes:.0f}%)" if tally.total_bytes else ""
        left = tally.total_bytes - tally.done_bytes
        eta = f", ETA {_clock(left / rate)}" if rate > 0 and left > 0 else ""
        return (f"progress: {human_size(tally.done_bytes)} of {human_size(tally.total_bytes)}{share}, "
                f"{human_size(rate)}/s{eta}; {tally.counts()}")


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}"
