"""Watching a run: bars on a terminal, a periodic progress line in a log.

Both are event sinks (see `engine.events`); the engine knows nothing of them. Totals grow with
the work the walk finds (`WorkFound`) and are exact once it has ended (`RunPlanned`); what a
failed or held-back image will not send leaves the total, so a bar always ends at 100%.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any, TextIO

from replicator.cli.views.console import human_size, printable
from replicator.engine.actions import Outcome
from replicator.engine.events import (
    BytesCopied,
    Event,
    FetchStage,
    ImageFetching,
    ImageFinished,
    ImageStarted,
    Listed,
    RunPlanned,
    RunTally,
    Subscriber,
    WorkFound,
)
from replicator.model.vocabulary import Role

# rich (a tenth of a second of start-up) loads when bars are drawn: a run in a log or a pipe,
# and every run's start, never need it.
if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import TaskID

#: Seconds between two progress lines in a log.
LOG_INTERVAL = 10.0


class Tally(Subscriber):
    """Counts shared by both views and the summary: bytes done of the total, images by result,
    and what each transfer has sent.

    While the listings are still walked, the count of images says how many were listed so far;
    once the walk has ended (`RunPlanned`) it is exact."""

    def __init__(self) -> None:
        self.total_bytes = 0
        self.total_images = 0
        self.listed = 0
        self.planned = False
        self.done_bytes = 0
        #: The run's images by action and result (the one tally the summary reads too).
        self.run = RunTally()
        self.started = time.monotonic()
        #: Bytes the plan expects each image still in the total to send.
        self._expected: dict[str, int] = {}
        #: Bytes each image has sent, every attempt counted.
        self._sent: Counter[str] = Counter()
        self._completed: set[str] = set()

    def update(self, event: Event) -> None:
        self(event)

    def on_work_found(self, event: WorkFound) -> None:
        action = event.action
        if action.bytes_to_copy:
            self.total_bytes += action.bytes_to_copy
            self._expected[action.image.id] = action.bytes_to_copy

    def on_run_planned(self, event: RunPlanned) -> None:
        self.planned, self.total_images = True, event.images
        self.run(event)

    def on_listed(self, event: Listed) -> None:
        if event.side == Role.SOURCE:
            self.listed = event.images

    def on_bytes_copied(self, event: BytesCopied) -> None:
        before = self._sent[event.image_id]
        self._sent[event.image_id] += event.count
        self.done_bytes += self._progress(event.image_id, before, before + event.count)

    def on_image_fetching(self, event: ImageFetching) -> None:
        if event.stage is FetchStage.DONE:
            # The target fetched it itself: its bytes are there, though none crossed this process.
            self.done_bytes += self._progress(event.image_id, 0, event.bytes)

    def on_image_finished(self, event: ImageFinished) -> None:
        result = event.result
        self.run(event)
        expected = self._expected.pop(result.image_id, 0)
        if result.result == Outcome.OK or (expected and result.bytes >= expected):
            # Its data went whole (a failure after it, a read-back that differs, is no
            # transfer the next run sends again).
            self._completed.add(result.image_id)
        if result.result != Outcome.OK:  # what it will not send leaves the total
            self.total_bytes -= expected - min(self._sent[result.image_id], expected)

    def _progress(self, image_id: str, before: int, after: int) -> int:
        """How far bytes move the bar: never past an image's size, which an upload sent again
        from its first byte (Glance cannot resume one) would otherwise do."""
        expected = self._expected.get(image_id)
        if expected is None:
            return after - before
        return min(after, expected) - min(before, expected)

    def unfinished(self) -> tuple[int, int]:
        """Bytes sent by the transfers that did not complete (failed before their data went whole,
        or cut by a stop), and how many transfers: the next run sends them again."""
        cut = [count for image_id, count in self._sent.items() if count and image_id not in self._completed]
        return sum(cut), len(cut)

    def counts(self) -> str:
        run = self.run
        of = f"/{self.total_images} images" if self.planned else f" images of {self.listed} listed so far"
        return (
            f"{run.total_images}{of}: {run.with_result(Outcome.OK)} done, "
            f"{run.with_result(Outcome.SKIPPED)} skipped, {run.with_result(Outcome.FAILED)} failed"
        )


#: The widest a name is shown in its bar's row at 80 columns: every row fits (name, bar, bytes,
#: rate, ETA: 24 + 16 + 15 + 12 + 7 and the gaps), a longer name ends in "…". A wider terminal
#: gives the names what it has beyond 80 columns.
NAME_WIDTH = 24
BAR_WIDTH = 16


@cache
def _rich_classes() -> tuple[Any, Any]:
    """The rate column and the progress display, made the first time bars are drawn (they are
    rich classes)."""
    from rich.console import RenderableType
    from rich.progress import Progress, ProgressColumn, Task
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """The rate in binary units, like every other size the replicator prints (rich's own
        column counts in powers of 1000)."""

        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{human_size(speed)}/s" if speed is not None else "?", style="progress.data.speed")

    class CountsFirst(Progress):
        """The bars, under one line of counts ("3/12 images: ..."): the counts have a line of their
        own, so the column of names is as wide as the names, not as the counts."""

        counts = ""

        def get_renderables(self) -> Iterable[RenderableType]:
            yield Text(self.counts, no_wrap=True, overflow="ellipsis")
            yield self.make_tasks_table(self.tasks)

    return RateColumn, CountsFirst


class ProgressBars(Subscriber):
    """An overall bar (bytes, rate, ETA) and one bar per image in flight, for a terminal; at
    80 columns no row wraps (a name too long is cut, never the totals)."""

    output = "the progress bars"

    def __init__(self, console: Console | None = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, TextColumn, TimeRemainingColumn
        from rich.table import Column

        RateColumn, CountsFirst = _rich_classes()
        self.tally = Tally()
        console = console or Console(stderr=True)
        name = Column(no_wrap=True, overflow="ellipsis", max_width=max(NAME_WIDTH, console.width - 80 + NAME_WIDTH))
        fixed = Column(no_wrap=True)
        self._progress = CountsFirst(
            # No markup: an image named "[/]" or "[link=...]" is a name, not an instruction.
            TextColumn("{task.description}", markup=False, table_column=name),
            BarColumn(bar_width=BAR_WIDTH, table_column=fixed),
            DownloadColumn(binary_units=True, table_column=fixed),
            RateColumn(table_column=fixed), TimeRemainingColumn(table_column=fixed),
            console=console, transient=False,
        )  # fmt: skip
        self._overall: TaskID | None = None
        self._sized = False
        self._images: dict[str, TaskID] = {}
        self._names: dict[str, str] = {}

    def __enter__(self) -> ProgressBars:
        self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()

    def __call__(self, event: Event) -> None:
        self.tally(event)
        if self._overall is None:
            self._overall = self._progress.add_task("all images", total=None)
        self._progress.counts = self.tally.counts()
        super().__call__(event)

    def on_work_found(self, event: WorkFound) -> None:
        self._resize()

    def on_run_planned(self, event: RunPlanned) -> None:
        self._resize()

    def _resize(self) -> None:
        self._sized = self.tally.total_bytes > 0  # else a bar with nothing to measure
        self._progress.update(self._overall_task, total=self.tally.total_bytes if self._sized else None)

    @property
    def _overall_task(self) -> TaskID:
        assert self._overall is not None  # added by the first event, before its method
        return self._overall

    def on_image_started(self, event: ImageStarted) -> None:
        if event.action.upload:
            image = event.action.image
            self._names[image.id] = f"  {printable(image.name or image.id)}"
            self._images[image.id] = self._progress.add_task(self._names[image.id], total=image.size)

    def on_image_fetching(self, event: ImageFetching) -> None:
        # A server-side copy: the image's line says where the target's fetch stands.
        task = self._images.get(event.image_id)
        if task is not None:
            described = f"{self._names[event.image_id]} (the target fetches it: {event.stage})"
            self._progress.update(task, description=described, completed=event.bytes or None)
        self._progress.update(self._overall_task, completed=self.tally.done_bytes)

    def on_bytes_copied(self, event: BytesCopied) -> None:
        if event.image_id in self._images:
            self._progress.advance(self._images[event.image_id], event.count)
        self._progress.update(self._overall_task, completed=self.tally.done_bytes)

    def on_image_finished(self, event: ImageFinished) -> None:
        task = self._images.pop(event.result.image_id, None)
        self._names.pop(event.result.image_id, None)
        if task is not None:
            self._progress.remove_task(task)
        self._progress.update(
            self._overall_task,
            completed=self.tally.done_bytes,
            total=self.tally.total_bytes if self._sized else None,
        )


class ProgressLines(Subscriber):
    """A line every `interval` seconds, for logs and `--quiet`: bars make no sense in a file."""

    output = "the progress lines"

    def __init__(self, stream: TextIO | None = None, interval: float = LOG_INTERVAL) -> None:
        self.tally = Tally()
        self._stream = stream
        self._interval = interval
        self._last = time.monotonic()

    def __call__(self, event: Event) -> None:
        self.tally(event)
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
        return (
            f"progress: {human_size(tally.done_bytes)} of {human_size(tally.total_bytes)}{share}, "
            f"{human_size(rate)}/s{eta}; {tally.counts()}"
        )


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}"
