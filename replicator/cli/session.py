"""Running one command: the event loop, signals, what the operator watches, and the exit code.

Exit codes are decided here and in `app.main` (usage errors and bugs), nowhere else:
0 done or identical, 1 some images failed (or compare found differences), 2 the run could not
happen, 8 `--max-transfer` left images for the next run, 128 + the signal's number when a signal stopped it (130 Ctrl-C, 143 SIGTERM, 129
SIGHUP), each with a one-line message.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import platform
import signal
import sys
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

import typer

from replicator import __version__
from replicator.cli.advice import error_line
from replicator.cli.config import closest
from replicator.cli.exits import EXIT_INTERNAL, EXIT_MAX_TRANSFER
from replicator.cli.options import LogOptions, Metrics, Watching
from replicator.cli.parsing import OptionError
from replicator.cli.views import console, progress
from replicator.cli.views.console import printable
from replicator.engine import run as engine
from replicator.engine.events import EventSink, fan_out
from replicator.model.errors import ErrorKind, RunError
from replicator.model.files import open_regular
from replicator.model.selection import Selection
from replicator.model.settings import Settings
from replicator.openstack.connect import Side, open_glance, read_settings, side_auth
from replicator.openstack.projects import ProjectMapper, ProjectMapping, open_mapper
from replicator.stores.base import ImageStore, NamedStores

LOG = logging.getLogger("replicator.session")

#: Signals that stop a run the way Ctrl-C does: Kubernetes, systemd and `timeout` send
#: SIGTERM, a closed terminal SIGHUP.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class Opened:
    """The two stores of a run, and (between two clouds) how it maps projects; None: as they are."""

    source: ImageStore
    target: ImageStore
    projects: ProjectMapper | None = None


Stores = Callable[[], Awaitable[Opened]]


class Interrupted(Exception):
    """A stop signal ended the run."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def run(work: Callable[[], Awaitable[int]], sides: Mapping[str, Side] | None = None) -> NoReturn:
    """Run one command's coroutine and turn its outcome into an exit code and messages;
    `sides` are the sides the command reaches by role, for advice on their errors."""
    try:
        code = _run_loop(_stoppable(work))
    except RunError as exc:
        LOG.debug("the run stopped: %s", exc, exc_info=exc)  # --debug: the causes it was raised from
        print(error_line(exc, sides), file=sys.stderr)
        code = 2
    except Interrupted as stop:
        print(f"replicator: interrupted ({stop})", file=sys.stderr)
        code = 128 + stop.signum
    except KeyboardInterrupt:  # Ctrl-C before the handlers were in place
        print("replicator: interrupted", file=sys.stderr)
        code = 128 + signal.SIGINT
    raise typer.Exit(code)


def _run_loop(coroutine: Awaitable[int]) -> int:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)  # type: ignore[arg-type]
    return uvloop.run(coroutine)  # type: ignore[arg-type]


async def _stoppable(work: Callable[[], Awaitable[int]]) -> int:
    """Run `work`, cancelling it on SIGINT, SIGTERM or SIGHUP, so that every stop ends the
    same way: uploads cut, the summary printed, the report complete.

    The handlers are installed explicitly, because a process that is PID 1 (a container's
    `sh -c "exec replicator ..."`) receives no signal it has no handler for. A second signal
    ends the process at once, for an operator who will not wait for the clean-up.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    received: list[int] = []

    def stop(signum: int) -> None:
        if received:
            print(f"replicator: {signal.Signals(signum).name} again: stopped at once", file=sys.stderr, flush=True)
            os._exit(128 + signum)
        received.append(signum)
        if task is not None:
            task.cancel()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop, signum)
    try:
        code = await work()
    except asyncio.CancelledError as exc:
        if received:
            raise Interrupted(received[0]) from exc
        raise
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
    if received:  # the work swallowed the cancellation: still a stopped run
        raise Interrupted(received[0])
    return code


def start_logging(output: LogOptions) -> None:
    """`--debug`: every request, to stderr. `--log-file`: the log lines at `--log-level` and
    above appended to a file (created 0600, never through a symlink, as `--report` is), opened
    now so that a path that cannot be written stops the run before it starts.

    The line per image is printed by `console.LineLog` and logged as `replicator.lines`: the
    file gets it, stderr does not get it twice."""
    handlers: list[logging.Handler] = []
    if output.debug:
        stderr = logging.StreamHandler(sys.stderr)
        stderr.addFilter(lambda record: not record.name.startswith(console.LINES.name))
        handlers.append(stderr)
    if output.log_file:
        try:
            stream = open(output.log_file, "a", encoding="utf-8", opener=_log_opener)
        except OSError as exc:
            raise RunError(f"cannot write the log file {output.log_file}: {exc.strerror}") from exc
        to_file = logging.StreamHandler(stream)
        to_file.setLevel(logging.getLevelName(output.log_level))
        handlers.append(to_file)
    logger = logging.getLogger("replicator")
    if not handlers:
        # As a new process has it: a run in the same process as an earlier one (the tests run
        # many) must not write through that run's handlers, to streams that may be closed.
        logger.handlers.clear()
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
        return
    for handler in handlers:  # the file's lines also say their level, as oslo.log's did
        shape = (
            "%(asctime)s %(levelname)s %(name)s %(message)s" if handler.level else "%(asctime)s %(name)s %(message)s"
        )
        handler.setFormatter(PrintableFormatter(shape))
    logger.handlers[:] = handlers
    logger.setLevel(min(handler.level or logging.DEBUG for handler in handlers))
    logger.propagate = False
    logger.debug("replicator %s, Python %s", __version__, platform.python_version())


def _log_opener(path: str, flags: int) -> int:
    return open_regular(path, flags, 0o600)


class PrintableFormatter(logging.Formatter):
    """Log lines hold URLs and answers from servers: escaped like every other line printed.

    An error logged with its traceback (`exc_info`: the cause chain an error was raised
    `from`) follows its line, each line of it escaped and indented behind `  | `, so nothing a
    server wrote into a message can begin a log line of its own."""

    def format(self, record: logging.LogRecord) -> str:
        error, record.exc_info, record.exc_text = record.exc_info, None, None
        try:
            line = printable(super().format(record))
        finally:
            record.exc_info = error
        if not error or error[1] is None:
            return line
        trace = traceback.format_exception(error[1])
        return "\n".join([line, *(f"  | {printable(part)}" for chunk in trace for part in chunk.splitlines())])


@asynccontextmanager
async def closing(*stores: ImageStore) -> AsyncIterator[None]:
    """Close the stores however the block ends (their sessions, their open files)."""
    try:
        yield
    finally:
        for store in stores:
            await store.close()


async def open_pair(source: Side, target: Side, settings: Settings, projects: ProjectMapping | None = None) -> Opened:
    """Both Glances, once both addresses have been checked; the target may fetch images from
    the source's region itself where both are regions of one Keystone. With `projects`, the
    mapper is made (and its table checked in the target's Keystone) before either is opened."""
    source.check()
    target.check()
    if settings.store is None and source.same_glance(target):
        # Every image would be "identical": an operator would conclude the target is in sync.
        raise RunError(
            f"source and target are the same endpoint ({_named(source)}): name two Glances "
            "(or, to copy into another store of this one, --store)",
            kind=ErrorKind.INPUT,
        )
    source_auth, target_auth = side_auth(source, settings), side_auth(target, settings)
    await read_settings(source_auth, target_auth)
    mapper = await open_mapper(projects, source_auth, target_auth, settings) if projects else None
    opened = await open_glance(source, settings, auth=source_auth)
    try:
        other = await open_glance(target, settings, auth=target_auth, pull_from=source_auth)
    except BaseException:
        await opened.close()
        raise
    try:
        await check_store(other, settings)
    except BaseException:
        await opened.close()
        await other.close()
        raise
    return Opened(opened, other, mapper)


def _named(side: Side) -> str:
    """How a side's Glance was named, for a message."""
    url = side.check()
    if url is not None:
        return url
    choice = side.cloud_choice()
    if choice is None:
        return "no server"
    region = f", region {choice.region}" if choice.region else ""
    return f"cloud {choice.cloud}{region}" if choice.cloud else f"the OS_* variables{region}"


async def open_target(
    target: Side, settings: Settings, projects: ProjectMapping | None = None
) -> tuple[ImageStore, ProjectMapper | None]:
    """The Glance a dump is loaded into, and the mapper of the dump's projects to its own."""
    target_auth = side_auth(target, settings)
    await read_settings(target_auth)
    mapper = await open_mapper(projects, None, target_auth, settings) if projects else None
    opened = await open_glance(target, settings, auth=target_auth)
    try:
        await check_store(opened, settings)
    except BaseException:
        await opened.close()
        raise
    return opened, mapper


async def check_store(target: ImageStore, settings: Settings) -> None:
    """`--store` must name one of the target's stores, checked before anything is created: a
    typo would otherwise leave one empty `queued` record per image, each refused its data."""
    wanted = settings.store
    if wanted is None:
        return
    stores = await target.store_ids() if isinstance(target, NamedStores) else None
    if stores is None:
        raise OptionError(f"--store {wanted!r}: {target.description} lists no stores (/v2/info/stores) to choose from")
    if wanted not in stores:
        meant = closest(wanted, stores)
        hint = f"; did you mean {meant!r}?" if meant else ""
        listed = ", ".join(sorted(stores)) or "none"
        raise OptionError(f"--store {wanted!r}: {target.description} has no such store (its stores: {listed}){hint}")


def copy(
    stores: Stores,
    settings: Settings,
    watch: Watching,
    sides: Mapping[str, Side],
    command: str,
    metrics: Metrics | None = None,
) -> NoReturn:
    """Run a copy (with --dry-run, print its plan) between the stores `stores` opens. The
    report and the metrics file are opened first: a path that cannot be written stops the run
    before it starts. The report is closed with its end record, however the run ended."""
    start_logging(watch)
    report = console.JsonLinesReport(watch.report, command) if watch.report else None
    wanted = metrics is not None and (metrics.metrics_port is not None or metrics.metrics_file is not None)
    watcher = MetricsWatcher(metrics, command) if wanted and metrics and not watch.dry_run else None

    async def work() -> int:
        opened = await stores()
        async with closing(opened.source, opened.target):
            if watch.dry_run:
                return await _plan(opened, settings, watch, report)
            outputs: list[EventSink] = [report] if report is not None else []
            outputs += watcher.sinks() if watcher is not None else []
            return await _copy(opened, settings, watch, outputs)

    run_watched(work, sides, watcher, report)


class Watcher(Protocol):
    """The metrics of a run (`MetricsWatcher`, `many.TargetsWatcher`): open while it lasts,
    told at its end whether it succeeded."""

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc_info: object) -> Any: ...

    def ended(self, succeeded: bool) -> None: ...


def run_watched(
    work: Callable[[], Awaitable[int]],
    sides: Mapping[str, Side] | None,
    watcher: Watcher | None,
    report: console.JsonLinesReport | None,
) -> NoReturn:
    """`run`, with the metrics open while it lasts; however it ends, they learn whether it
    succeeded (exit status 0) and the report gets its end record."""
    code = EXIT_INTERNAL
    try:
        with watcher or nullcontext():
            run(work, sides)
    except typer.Exit as ended:
        code = ended.exit_code
        raise
    finally:
        if watcher is not None:
            watcher.ended(code == 0)
        if report is not None:
            report.finish(code)


async def _plan(opened: Opened, settings: Settings, watch: Watching, report: console.JsonLinesReport | None) -> int:
    """`--dry-run`: the plan, as text (or `--json`), and in the report; exit as the run would."""
    comparison = await engine.compare(
        opened.source, opened.target, settings, every=watch.verbose, projects=opened.projects
    )
    print(console.plan_json(comparison) if watch.json else console.plan_text(comparison, watch.verbose))
    if report is not None:
        report.plan(comparison)
    absent = say_absent_ids(settings.selection, comparison.walked.missing_ids, comparison.walked.left_out_ids)
    if comparison.refused_prunes:
        return 2
    return max(1 if console.would_fail(comparison) else 0, absent)


class MetricsWatcher:
    """`--metrics-port` and `--metrics-file` for one run: an event sink, the HTTP endpoint for
    as long as the run lasts, and the textfile written when it starts (so a path that cannot
    be written stops it there) and when it ends (so a scheduled run's times outlive it)."""

    def __init__(self, options: Metrics, command: str) -> None:
        from replicator.cli.views.metrics import RunMetrics

        self._options = options
        self._metrics = RunMetrics(command)
        self._metrics.run_started()
        self._server: Any = None
        if options.metrics_file is not None:
            self._metrics.write_textfile(options.metrics_file)

    def sinks(self) -> list[EventSink]:
        """The run's event sinks for the metrics (they warn on failure, never stop the run)."""
        return [self._metrics]

    def __enter__(self) -> MetricsWatcher:
        if self._options.metrics_port is not None:
            self._server = self._metrics.serve(self._options.metrics_port, self._options.metrics_address)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.close(wait=False)  # the process ends with the run

    def ended(self, succeeded: bool) -> None:
        """The run's end time (and, if it succeeded, its last success) into the textfile; a
        file that cannot be written now is a warning, never in the way of the run's own outcome."""
        self._metrics.run_ended(succeeded)
        if self._options.metrics_file is not None:
            try:
                self._metrics.write_textfile(self._options.metrics_file)
            except RunError as exc:
                warn(str(exc))


async def _copy(opened: Opened, settings: Settings, watch: Watching, outputs: list[EventSink]) -> int:
    """On a stop the in-flight transfers are cancelled (their uploads cut, so Glance returns
    those images to `queued`) and the summary still says what was done."""
    source, target, projects = opened.source, opened.target, opened.projects
    started = time.monotonic()
    bars = progress.ProgressBars() if sys.stderr.isatty() and not watch.quiet else None
    view = bars if bars else progress.ProgressLines(interval=watch.stats or math.inf)
    collected = view.tally.run  # the one tally: the progress counts and the summary read it
    sinks: list[EventSink] = [view, console.LineLog(verbose=watch.verbose, quiet=watch.quiet)]

    def summary() -> str:
        return console.summary(collected, time.monotonic() - started, view.tally.unfinished())

    try:
        with bars or nullcontext():
            walked = await engine.replicate(source, target, settings, fan_out(*sinks, *outputs, warn=warn), projects)
    except asyncio.CancelledError:
        print(summary(), file=sys.stderr)
        print("interrupted: in-flight transfers were stopped; run the same command again to finish", file=sys.stderr)
        raise
    except RunError:
        # The run cannot go on (a token that cannot be renewed): say what was done, then why not more.
        if collected.planned:
            print(summary(), file=sys.stderr)
        raise
    print(summary(), file=sys.stderr)
    failed = 1 if collected.failed else 0
    code = max(failed, say_absent_ids(settings.selection, walked.missing_ids, walked.left_out_ids))
    return EXIT_MAX_TRANSFER if code == 0 and collected.deferred else code


def warn(message: str) -> None:
    """A sink's failure that does not stop the run (`FailurePolicy.WARN`), told once."""
    print(f"replicator: warning: {printable(message)}", file=sys.stderr)


def say_absent_ids(selection: Selection, absent: Sequence[str], left_out: Sequence[str] = ()) -> int:
    """Name the ids asked for that the run did not work on; the exit code they call for.

    An id the source does not have is a failure (1), whatever the other filters: in the "rerun
    the failures" workflow silence about it is the worst answer. An id the source has and the
    other filters leave out is named as such, and is none (0).
    """
    asked = len(selection.ids)
    if left_out:
        print(console.absent_ids_text(left_out, asked, narrowed=True), file=sys.stderr)
    if absent:
        print(console.absent_ids_text(absent, asked, narrowed=False), file=sys.stderr)
    return 1 if absent else 0
