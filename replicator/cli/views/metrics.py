"""Prometheus metrics of one run: an event sink that counts, an HTTP endpoint that serves the
counts while the run lasts, and a node-exporter textfile for what must outlive the run.

Why these shapes:

- Everything that only grows (images, bytes, retries) is a counter. Prometheus computes a rate
  from a counter over whatever window a dashboard picks, sums counters across the pods of a
  sharded run, and loses nothing that happened between two scrapes. So bytes per second is
  `rate(replicator_copied_bytes_total[1m])`, not a gauge averaged over a window the
  replicator would have to choose for everyone.
- Label values come only from closed sets the replicator defines (action kinds, outcomes, error
  kinds, the two sides, the command): never an image id or name, which a tenant writes and
  which would make one time series per image.
- A private `CollectorRegistry`: the process-wide one would mix in whatever else imports
  prometheus_client, and two runs in one process (the tests) would collide in it.
- A scheduled run often ends between two scrapes, so when it started, when it ended and when a
  run last succeeded also go to a textfile that node-exporter serves until the next run, and
  with them, once the run has ended, its images by action and result (gauges of that one run).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families

from replicator.engine.actions import ActionKind, Outcome
from replicator.engine.events import (
    BytesCopied,
    FailurePolicy,
    ImageFinished,
    ImageRetrying,
    ImageStarted,
    Listed,
    RunPlanned,
    RunTally,
    Subscriber,
)
from replicator.model.errors import ErrorKind, RunError
from replicator.model.files import open_regular
from replicator.model.vocabulary import Role

#: The retry cause of an `ImageRetrying` event that does not say one.
UNKNOWN_KIND = "unknown"
SIDES = tuple(Role)
START_TIME = "replicator_run_start_time_seconds"
END_TIME = "replicator_run_end_time_seconds"
LAST_SUCCESS = "replicator_last_success_time_seconds"
LAST_RUN_IMAGES = "replicator_last_run_images"
LAST_RUN_BYTES = "replicator_last_run_image_bytes"
#: A textfile larger than this is not one we wrote: its last success is not read back.
TEXTFILE_READ_LIMIT = 64 * 1024


@dataclass(eq=False)  # a collector is registered by identity
class RunTimes:
    """When the run started and ended, and when a run last succeeded (Unix seconds).

    A collector of its own rather than three gauges, so that a time not known yet is absent
    from the exposition instead of reading as 1970.
    """

    command: str
    start: float | None = None
    end: float | None = None
    last_success: float | None = None

    def describe(self) -> Iterator[Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        return iter(self._families(only_known=True))

    def _families(self, only_known: bool = False) -> list[Metric]:
        times = (
            (START_TIME, "When this run started (Unix time).", self.start),
            (END_TIME, "When this run ended (Unix time).", self.end),
            (LAST_SUCCESS, "When a run last ended with nothing failed (Unix time).", self.last_success),
        )
        families: list[Metric] = []
        for name, documentation, value in times:
            if only_known and value is None:
                continue
            family = GaugeMetricFamily(name, documentation, labels=["command"])
            if value is not None:
                family.add_metric([self.command], value)
            families.append(family)
        return families


@dataclass(eq=False)  # a collector is registered by identity
class LastRun:
    """What a run that has ended did, for the textfile: its images and their bytes by action and
    result, as gauges (each file holds one run's numbers, replaced by the next run's: not a
    counter that goes on growing), read from the run's one tally. Only the pairs the run had
    are written; absent means none."""

    command: str
    tally: RunTally

    def describe(self) -> Iterator[Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        return iter(self._families())

    def _families(self) -> list[Metric]:
        families: list[Metric] = []
        for name, counted, documentation in (
            (LAST_RUN_IMAGES, self.tally.images, "Images the last run finished, by action and result."),
            (LAST_RUN_BYTES, self.tally.volume, "Bytes of those images, by action and result."),
        ):
            family = GaugeMetricFamily(name, documentation, labels=["command", "action", "result"])
            for action in ActionKind:
                for outcome in Outcome:
                    value = counted[(str(action), str(outcome))]
                    if value:
                        family.add_metric([self.command, action, outcome], value)
            families.append(family)
        return families


class RunMetrics(Subscriber):
    """The metrics of one run of `command` (livecopy, dump, load): call it with every event.
    Its failure warns and never stops the run (`FailurePolicy.WARN`): a dashboard is no reason
    to stop copying.

    The CLI's part: `run_started()` before the run, the instance among the event sinks,
    `run_ended(succeeded)` after it; `serve(port)` around the run for `--metrics-port`;
    `write_textfile(path)` at the start (an unusable path stops the run before any work, and
    node-exporter shows a run under way) and again at the end, for `--metrics-file`.
    """

    def __init__(
        self, command: str, registry: CollectorRegistry | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.output = "the metrics"
        self._clock = clock
        self._times = RunTimes(command)
        #: The run's images by action and result, for the textfile's last-run figures.
        self.tally = RunTally()
        self._in_flight: set[str] = set()
        r = self.registry
        by_outcome = ["action", "result"]
        self.images = Counter("replicator_images", "Images finished, by action and result.", by_outcome, registry=r)
        self.image_bytes = Counter(
            "replicator_image_bytes", "Bytes of the images finished, by action and result (as the summary counts them).",
            by_outcome, registry=r,
        )  # fmt: skip
        self.copied_bytes = Counter(
            "replicator_copied_bytes",
            "Bytes copied so far, counted as they stream (a retried upload counts again); rate() gives bytes per second.",
            registry=r,
        )  # fmt: skip
        self.retries = Counter(
            "replicator_retries", "Steps retried, by the kind of error that caused the retry.", ["kind"], registry=r
        )
        self.in_flight = Gauge("replicator_images_in_flight", "Images being worked on now.", registry=r)
        self.listed = Gauge("replicator_listed_images", "Images listed so far, by side.", ["side"], registry=r)
        self.listing_done = Gauge(
            "replicator_listing_done", "1 once the side's listing is complete.", ["side"], registry=r
        )
        self.planned_images = Gauge("replicator_planned_images", "Images the plan has work for.", registry=r)
        self.planned_bytes = Gauge("replicator_planned_bytes", "Bytes the plan has to copy.", registry=r)
        r.register(self._times)
        ProcessCollector(registry=r)  # process_resident_memory_bytes: what the pod's memory limit is sized from
        # Every series a dashboard may sum over exists from the start, at zero: a rate() needs a
        # first sample, and a new action kind (prune) or error kind appears without a code change.
        for action in ActionKind:
            for outcome in Outcome:
                self.images.labels(action, outcome)
                self.image_bytes.labels(action, outcome)
        for kind in [*ErrorKind, UNKNOWN_KIND]:
            self.retries.labels(kind)
        for side in SIDES:
            self.listed.labels(side)
            self.listing_done.labels(side)

    def on_image_finished(self, event: ImageFinished) -> None:
        result = event.result
        self.tally(event)
        self.images.labels(result.action, result.result).inc()
        self.image_bytes.labels(result.action, result.result).inc(result.bytes)
        self._in_flight.discard(result.image_id)  # an image skipped or refused never started
        self.in_flight.set(len(self._in_flight))

    def on_bytes_copied(self, event: BytesCopied) -> None:
        self.copied_bytes.inc(event.count)

    def on_image_started(self, event: ImageStarted) -> None:
        self._in_flight.add(event.action.image.id)
        self.in_flight.set(len(self._in_flight))

    def on_image_retrying(self, event: ImageRetrying) -> None:
        self.retries.labels(str(event.kind or UNKNOWN_KIND)).inc()

    def on_run_planned(self, event: RunPlanned) -> None:
        self.planned_images.set(event.images_with_work)
        self.planned_bytes.set(event.bytes_to_copy)

    def on_listed(self, event: Listed) -> None:
        self.listed.labels(event.side).set(event.images)
        self.listing_done.labels(event.side).set(1 if event.done else 0)

    on_failure = FailurePolicy.WARN

    def run_started(self) -> None:
        self._times.start = self._clock()

    def run_ended(self, succeeded: bool) -> None:
        """`succeeded`: the run ended with exit status 0 (nothing failed, nothing stopped it)."""
        self._times.end = self._clock()
        if succeeded:
            self._times.last_success = self._times.end

    def serve(self, port: int, address: str = "0.0.0.0") -> MetricsServer:
        """Serve the metrics on `address:port` (port 0: any free port) until the server is closed."""
        try:
            server, thread = start_http_server(port, address, registry=self.registry)
        except OSError as exc:
            raise RunError(
                f"cannot serve metrics on {address}:{port}: {exc.strerror or exc}", kind=ErrorKind.INPUT
            ) from exc
        return MetricsServer(server, thread)

    def write_textfile(self, path: str | os.PathLike[str]) -> None:
        """Write the run's times for node-exporter's textfile collector (name the file `*.prom`),
        and once the run has ended what it did (`LastRun`).

        A run that has not succeeded keeps the last success the file already held, so an
        alert on its age goes on counting from the last good run.
        """
        target = Path(path)
        times = self._times
        if times.last_success is None:
            times = replace(times, last_success=previous_last_success(target, times.command))
        registry = CollectorRegistry()
        registry.register(times)
        if times.end is not None:
            registry.register(LastRun(times.command, self.tally))
        try:
            write_atomically(target, generate_latest(registry))
        except OSError as exc:
            raise RunError(
                f"cannot write the metrics file {target}: {exc.strerror or exc}", kind=ErrorKind.INPUT
            ) from exc


class MetricsServer:
    """prometheus_client's HTTP server for one run; closing it frees the port."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return self._server.server_port

    def close(self, wait: bool = True) -> None:
        """Stop serving. The server's loop looks for the stop every half second: a run that is
        about to end does not wait for it (`wait=False`), half a second of every scheduled run."""
        if not wait:
            threading.Thread(target=self.close, daemon=True).start()
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def previous_last_success(path: Path, command: str) -> float | None:
    """The last success a textfile written by an earlier run of `command` holds, if any.

    Anything else there (no file, another's file, garbage) means no earlier success is known.
    """
    try:
        with open(path, "rb", opener=open_regular) as stream:  # a FIFO there would hold the start
            text = stream.read(TEXTFILE_READ_LIMIT + 1).decode("utf-8")
        if len(text) > TEXTFILE_READ_LIMIT:
            return None
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == LAST_SUCCESS and sample.labels == {"command": command}:
                    return float(sample.value)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return None


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a reader sees the old file or the new one, never half.

    node-exporter reads the directory at any moment, so the data goes to a temporary file in
    the same directory (a rename is atomic only within one file system), created exclusively
    under an unpredictable name (`mkstemp`: O_EXCL|O_NOFOLLOW, never a link planted there),
    then renamed over the old file (which replaces a link at `path`, never follows it). The
    `.tmp` suffix keeps the collector, which reads only `*.prom`, off the half-written file.
    """
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fchmod(stream.fileno(), 0o644)  # node-exporter runs as another user
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
