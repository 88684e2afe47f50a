"""Running one command: the event loop, signals, what the operator watches, and the exit code.

Exit codes are decided here and in `app.main` (usage errors and bugs), nowhere else:
0 done or identical, 1 some images failed (or compare found differences), 2 the run could not
happen, 128 + the signal's number when a signal stopped it (130 Ctrl-C, 143 SIGTERM, 129
SIGHUP), each with a one-line message.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import platform
import os
import signal
import sys
import time
from contextlib import asynccontextmanager, nullcontext
from typing import AsyncIterator, Awaitable, Callable, Iterable, Mapping, NoReturn

import typer

from replicator import __version__, console, progress
from replicator.console import printable
from replicator.cli.advice import error_line
from replicator.cli.options import Watching
from replicator.connect import Side, open_glance
from replicator.engine import run as engine
from replicator.engine.actions import Outcome
from replicator.engine.events import ResultCollector, fan_out
from replicator.errors import RunError
from replicator.selection import Selection
from replicator.settings import Settings
from replicator.stores.base import ImageStore

#: Signals that stop a run the way Ctrl-C does: Kubernetes, systemd and `timeout` send
#: SIGTERM, a closed terminal SIGHUP.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

Stores = Callable[[], Awaitable[tuple[ImageStore, ImageStore]]]


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
    except asyncio.CancelledError:
        if received:
            raise Interrupted(received[0]) from None
        raise
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
    if received:  # the work swallowed the cancellation: still a stopped run
        raise Interrupted(received[0])
    return code


def start_logging(debug: bool) -> None:
    """`--debug`: every request, to stderr."""
    if not debug:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PrintableFormatter("%(asctime)s %(name)s %(message)s"))
    logger = logging.getLogger("replicator")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.debug("replicator %s, Python %s", __version__, platform.python_version())


class PrintableFormatter(logging.Formatter):
    """Log lines hold URLs and answers from servers: escaped like every other line printed."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


@asynccontextmanager
async def closing(*stores: ImageStore) -> AsyncIterator[None]:
    """Close the stores however the block ends (their sessions, their open files)."""
    try:
        yield
    finally:
        for store in stores:
            await store.close()


async def open_pair(source: Side, target: Side, settings: Settings) -> tuple[ImageStore, ImageStore]:
    """Both Glances, once both addresses have been checked."""
    source.check()
    target.check()
    opened = await open_glance(source, settings)
    try:
        return opened, await open_glance(target, settings)
    except BaseException:
        await opened.close()
        raise


def copy(stores: Stores, settings: Settings, watch: Watching, sides: Mapping[str, Side], command: str) -> NoReturn:
    """Run a copy (with --dry-run, print its plan) between the stores `stores` opens. The
    report is opened first: a path that cannot be written stops the run before it starts."""
    start_logging(watch.debug)
    report = console.JsonLinesReport(watch.report, command) if watch.report and not watch.dry_run else None

    async def work() -> int:
        source, target = await stores()
        async with closing(source, target):
            return await _copy(source, target, settings, watch, report)

    try:
        run(work, sides)
    finally:
        if report is not None:
            report.close()


async def _copy(
    source: ImageStore, target: ImageStore, settings: Settings, watch: Watching, report: console.JsonLinesReport | None
) -> int:
    """On a stop the in-flight transfers are cancelled (their uploads cut, so Glance returns
    those images to `queued`) and the summary still says what was done."""
    if watch.dry_run:
        actions = await engine.compare(source, target, settings)
        print(console.plan_text(actions, watch.verbose))
        return say_absent_ids(settings.selection, (action.image.id for action in actions))
    started = time.monotonic()
    collected = ResultCollector()
    bars = progress.ProgressBars() if sys.stderr.isatty() and not watch.quiet else None
    view = bars if bars else progress.ProgressLines()
    sinks = [view, console.LineLog(verbose=watch.verbose, quiet=watch.quiet), collected]

    def summary() -> str:
        return console.summary(collected.results, time.monotonic() - started, view.tally.unfinished())

    try:
        with bars or nullcontext():
            await engine.replicate(source, target, settings, fan_out(*sinks, *([report] if report else [])))
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
    failed = 1 if any(r.result == Outcome.FAILED for r in collected.results) else 0
    return max(failed, say_absent_ids(settings.selection, (r.image_id for r in collected.results)))


def absent_ids(asked: Iterable[str], found: Iterable[str]) -> list[str]:
    """The ids the operator asked for (`--id`, `--ids-from`) that are not among `found`: the
    ids of what the engine returned (its results, or its plan)."""
    return sorted(set(asked) - set(found))


def say_absent_ids(selection: Selection, found: Iterable[str]) -> int:
    """Name the ids asked for that the run did not find; the exit code they call for.

    With no other filter, an id the run did not see is not on the source: in the "rerun the
    failures" workflow that is a failure (1), never silence. With other filters it may be one
    they leave out, which is none (0), and the line says so.
    """
    absent = absent_ids(selection.ids, found) if selection.ids else []
    if not absent:
        return 0
    narrowed = dataclasses.replace(selection, ids=frozenset(), order_by=None) != Selection()
    print(console.absent_ids_text(absent, len(selection.ids), narrowed), file=sys.stderr)
    return 0 if narrowed else 1
