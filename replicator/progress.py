"""Watching a run: bars on a terminal, a periodic progress line in a log.

Both are event sinks (see `engine.events`); the engine knows nothing of them. Totals come from
the plan (`RunPlanned`), which is exact because both listings are read in full first.
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

from replicator.console import human_size, printable
from replicator.engine.actions import Outcome
from replicator.engine.events import BytesCopied, Event, ImageFinished, ImageStarted, RunPlanned

#: Seconds between two progress lines in a log.
LOG_INTERVAL = 10.0


class Tally:
    """Counts shared by both views: bytes done of the total, images by result."""

    def __init__(self) -> None:
        self.total_bytes = 0
        self.total_images = 0
        self.done_bytes = 0
        self.results: Counter[str] = Counter()
        self.started = time.monotonic()

    def update(self, event: Event) -> None:
        if isinstance(event, RunPlanned):
            self.total_bytes, self.total_images = event.bytes_to_copy, len(event.actions)
        elif isinstance(event, BytesCopied):
            self.done_bytes += event.count
        elif isinstance(event, ImageFinished):
            self.results[event.result.result] += 1

    def counts(self) -> str:
        done = sum(self.results.values())
        return (f"{done}/{self.total_images} images: {self.results[Outcome.OK]} done, "
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
            # No markup: an image named "[/]" or "[link=...]" is a name, not an instruction.
            TextColumn("{task.description}", markup=False), BarColumn(), DownloadColumn(binary_units=True),
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
        if isinstance(event, RunPlanned):
            self._overall = progress.add_task(self.tally.counts(), total=event.bytes_to_copy or None)
        elif isinstance(event, ImageStarted) and event.action.upload:
            image = event.action.image
            self._images[image.id] = progress.add_task(f"  {printable(image.name or image.id)}", total=image.size)
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
