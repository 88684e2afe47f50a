"""`livecopy` and `compare` with several targets: one source, each target on its own.

Each target is opened with its own side (credentials, endpoint, region), walked and planned on
its own (`engine/fanout.py`), and its lines, summary row, report lines (`"target"`) and metrics
(`target` label) carry its name. A target whose run cannot go on (its listing breaks, its token
cannot be renewed) is `stopped` in the summary with its one-line error; the others go on. The
exit code is the worst of the targets': 2 if one was stopped, 1 if an image failed anywhere.
With one target the commands take the one-target path (`session`), exactly as before.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from replicator.cli import session
from replicator.cli.advice import error_line
from replicator.cli.options import Metrics, NamedSide, Watching
from replicator.cli.views import console, progress
from replicator.cli.views.targets import Prefixed, TargetRow, targets_summary
from replicator.engine import run as engine
from replicator.engine.events import EventSink, fan_out
from replicator.engine.fanout import NamedTarget, SourceRead, replicate_many
from replicator.model.errors import ReplicatorError
from replicator.model.settings import Settings
from replicator.openstack.connect import Side, open_glance, side_auth
from replicator.openstack.projects import ProjectMapper, ProjectMapping, open_mapper
from replicator.stores.base import ImageStore


@dataclass(frozen=True)
class OpenedTarget:
    name: str
    side: Side
    store: ImageStore
    projects: ProjectMapper | None


async def open_many(
    source: Side, targets: Sequence[NamedSide], settings: Settings, projects: ProjectMapping | None
) -> tuple[ImageStore, list[OpenedTarget]]:
    """The source and every target, once every address has been checked; each target may fetch
    images from the source's region itself, as with one target. What was opened is closed if
    a later one cannot be."""
    source.check()
    for target in targets:
        target.side.check()
    source_auth = side_auth(source, settings)
    opened_source = await open_glance(source, settings, auth=source_auth)
    opened: list[OpenedTarget] = []
    try:
        for target in targets:
            auth = side_auth(target.side, settings)
            mapper = await open_mapper(projects, source_auth, auth, settings) if projects else None
            store = await open_glance(target.side, settings, auth=auth, pull_from=source_auth)
            opened.append(OpenedTarget(target.name, target.side, store, mapper))
    except BaseException:
        for done in opened:
            await done.store.close()
        await opened_source.close()
        raise
    return opened_source, opened


class TargetsWatcher(session.MetricsWatcher):
    """The run's metrics, and each target's under its name (`target` label)."""

    def __init__(self, options: Metrics, names: Sequence[str]) -> None:
        super().__init__(options, "livecopy")
        from replicator.cli.views.target_metrics import TargetMetrics

        self._targets = TargetMetrics(self._metrics.registry, names)

    def for_target(self, name: str) -> list[EventSink]:
        """The sinks of one target's events: the run's metrics and the target's own."""
        return [self._metrics, self._targets.for_target(name)]

    def source_read(self, total: int) -> None:
        self._targets.source_read(total)


def _sides(source: Side, targets: Sequence[NamedSide]) -> dict[str, Side]:
    """The sides for advice on an error that stops the whole run (the first target's)."""
    return {"source": source, "target": targets[0].side}


def copy_many(
    source: Side,
    targets: Sequence[NamedSide],
    settings: Settings,
    watch: Watching,
    projects: ProjectMapping | None,
    metrics: Metrics | None,
) -> NoReturn:
    """`livecopy SOURCE TARGET TARGET...` (with --dry-run: each target's plan)."""
    session.start_logging(watch)
    report = console.JsonLinesReport(watch.report, "livecopy") if watch.report and not watch.dry_run else None
    wanted = metrics is not None and (metrics.metrics_port is not None or metrics.metrics_file is not None)
    names = [target.name for target in targets]
    watcher = TargetsWatcher(metrics, names) if wanted and metrics and not watch.dry_run else None

    async def work() -> int:
        opened_source, opened = await open_many(source, targets, settings, projects)
        async with session.closing(opened_source, *(target.store for target in opened)):
            if watch.dry_run:
                return await _plans(opened_source, opened, settings, watch)
            return await _copy(opened_source, opened, settings, watch, report, watcher)

    session.run_watched(work, _sides(source, targets), watcher, report)


async def _plans(source: ImageStore, targets: list[OpenedTarget], settings: Settings, watch: Watching) -> int:
    code = 0
    for target in targets:
        comparison = await engine.compare(source, target.store, settings, every=watch.verbose, projects=target.projects)
        print(f"target {console.printable(target.name)}:")
        print(console.plan_text(comparison, watch.verbose))
        code = max(code, session.say_absent_ids(settings.selection, comparison.walked.missing_ids))
    return code


async def _copy(
    source: ImageStore,
    targets: list[OpenedTarget],
    settings: Settings,
    watch: Watching,
    report: console.JsonLinesReport | None,
    watcher: TargetsWatcher | None,
) -> int:
    started = time.monotonic()
    rows: list[TargetRow] = []
    named: list[NamedTarget] = []
    views: list[progress.ProgressLines] = []
    for target in targets:
        stream = Prefixed(target.name)
        view = progress.ProgressLines(stream)  # type: ignore[arg-type]
        views.append(view)
        rows.append(TargetRow(target.name, view.tally.run))  # the one tally: its counts and its row
        sinks: list[EventSink] = [
            view,
            console.LineLog(stream, verbose=watch.verbose, quiet=watch.quiet),  # type: ignore[arg-type]
        ]
        if report is not None:
            sinks.append(report.for_target(target.name))
        if watcher is not None:
            sinks += watcher.for_target(target.name)
        named.append(NamedTarget(target.name, target.store, fan_out(*sinks, warn=session.warn), target.projects))
    read = SourceRead()

    def summary(interrupted: bool = False) -> str:
        for row, view in zip(rows, views, strict=True):
            row.cut = view.tally.unfinished()[0]
        return targets_summary(rows, read.bytes, time.monotonic() - started, interrupted)

    try:
        outcomes = await replicate_many(source, named, settings, read)
    except asyncio.CancelledError:
        print(summary(interrupted=True), file=sys.stderr)
        print("interrupted: in-flight transfers were stopped; run the same command again to finish", file=sys.stderr)
        raise
    finally:
        if watcher is not None:
            watcher.source_read(read.bytes)
    code = 0
    absent: set[str] = set()
    for target, row in zip(targets, rows, strict=True):
        outcome = outcomes[target.name]
        if isinstance(outcome, ReplicatorError):
            row.stopped = error_line(outcome, {"source": targets[0].side, "target": target.side}).removeprefix(
                "replicator: error: "
            )
            code = 2
        elif isinstance(outcome, engine.Walked):
            absent.update(outcome.missing_ids)
        if row.tally.failed:
            code = max(code, 1)
    print(summary(), file=sys.stderr)
    return max(code, session.say_absent_ids(settings.selection, sorted(absent)))


def compare_many(
    source: Side, targets: Sequence[NamedSide], settings: Settings, projects: ProjectMapping | None, as_json: bool
) -> NoReturn:
    """`compare SOURCE TARGET TARGET...`: each target's differences behind its name (with
    --json, one object of them per target, keyed by its name)."""

    async def work() -> int:
        opened_source, opened = await open_many(source, targets, settings, projects)
        code = 0
        outputs: list[str] = []
        async with session.closing(opened_source, *(target.store for target in opened)):
            for target in opened:
                comparison = await engine.compare(opened_source, target.store, settings, projects=target.projects)
                if as_json:
                    outputs.append(f'"{_json_key(target.name)}": {console.compare_json(comparison)}')
                else:
                    print(f"target {console.printable(target.name)}:")
                    print(console.compare_text(comparison))
                absent = session.say_absent_ids(settings.selection, comparison.walked.missing_ids)
                code = max(code, 1 if comparison.differences else 0, absent)
        if as_json:
            print("{" + ", ".join(outputs) + "}")
        return code

    session.run(work, _sides(source, targets))


def _json_key(name: str) -> str:
    import json

    return json.dumps(name)[1:-1]
