"""What a person sees: a line per finished image, the summary, the compare report, sizes.

The engine only emits events and returns results; this module turns them into text.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import textwrap
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO, assert_never

from replicator import __version__
from replicator.cli.exits import EXIT_MAX_TRANSFER
from replicator.engine.actions import Action, ActionKind, Category, Outcome
from replicator.engine.events import (
    BytesCopied,
    FailurePolicy,
    ImageFinished,
    ImageResult,
    ImageRetrying,
    ImageStarted,
    RunPlanned,
    RunTally,
    Subscriber,
    Unmapped,
    WorkFound,
)
from replicator.engine.plan import totals as plan_totals
from replicator.engine.run import Comparison, Inventory, Walked
from replicator.model.changes import MISSING
from replicator.model.errors import RunError
from replicator.model.files import open_regular

#: What must never reach a terminal as it is: C0 and C1 control characters (escape
#: sequences, carriage returns and newlines that forge lines), DEL, lone surrogates (which
#: cannot even be written as UTF-8), and the invisible format characters that reorder or
#: hide text (bidirectional overrides, zero-width characters, line and paragraph separators).
_UNPRINTABLE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    r"\ufeff\ufff9-\ufffb\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


#: What a copy that no hash could check is called, wherever it is reported.
UNVERIFIED = "unverified: the source publishes no hash this tool can check"


def printable(text: object) -> str:
    """`text` with every character that could steer a terminal or forge a line written as an
    escape (`\\x1b`, `\\n`, `\\u202e`): applied to everything a server, a dump or an error
    says before it is printed."""
    return _UNPRINTABLE.sub(_escape, str(text))


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def human_size(count: float) -> str:
    """Binary units, as the old glance-replicator printed them: `1.5 GiB`."""
    for unit in ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi"):
        if abs(count) < 1024.0:
            return f"{count:3.1f} {unit}B"
        count /= 1024.0
    return f"{count:.1f} YiB"


def size_line(inventory: Inventory) -> str:
    """The old glance-replicator's line, unchanged for the scripts that read it."""
    return f"Total size is {inventory.bytes} bytes ({human_size(inventory.bytes)}) across {inventory.images} images"


def size_counts(inventory: Inventory) -> str:
    """Both counts, for people: every plan counts all images, `size` (like the old tool) the
    active ones."""
    return f"{inventory.images} active images, {human_size(inventory.bytes)}; {inventory.listed} images in all"


def size_json(inventory: Inventory) -> str:
    return json.dumps(
        {
            "images": inventory.images,
            "bytes": inventory.bytes,
            "human": human_size(inventory.bytes),
            "images_in_all": inventory.listed,
        }
    )


#: The line per image, also logged: `--log-file` keeps it (and stderr is not given it twice).
LINES = logging.getLogger("replicator.lines")
LINES.addHandler(logging.NullHandler())  # no handler configured: never Python's last resort


class LineLog(Subscriber):
    """An event sink that writes one line per finished image (and per retry) to a stream,
    and logs it (INFO; WARNING for a retry, ERROR for a failure) for `--log-file`."""

    output = "the log"

    def __init__(self, stream: TextIO | None = None, verbose: bool = False, quiet: bool = False) -> None:
        self._stream = stream
        self._verbose = verbose and not quiet
        self._quiet = quiet

    def on_run_planned(self, event: RunPlanned) -> None:
        self._write(plan_line(event.images_with_work - event.prunes, event.images, event.bytes_to_copy, event.prunes))

    def on_image_retrying(self, event: ImageRetrying) -> None:
        self._write(f"retry {event.attempt} for {printable(event.image_id)}: {printable(event.error)}", logging.WARNING)

    def on_image_finished(self, event: ImageFinished) -> None:
        result = event.result
        if result.result == Outcome.FAILED:
            self._write(f"FAILED  {_image(result.image_id, result.name)}: {printable(result.error)}", logging.ERROR)
        elif (result.result == Outcome.OK and not self._quiet) or self._verbose:
            detail = f"{human_size(result.bytes)} in {result.seconds:.1f}s" if result.bytes else reason_text(result)
            if result.bytes and result.verified is False:
                detail += f" ({UNVERIFIED})"
            if result.bytes and result.unmapped_projects:
                detail += f" ({result.reason})"  # what became of the projects without a counterpart
            self._write(f"{result.action:<7} {_image(result.image_id, result.name)}: {printable(detail)}")

    def _write(self, line: str, level: int = logging.INFO) -> None:
        print(line, file=self._stream or sys.stderr, flush=True)
        LINES.log(level, "%s", line)


def _report_opener(path: str, flags: int) -> int:
    return open_regular(path, flags, 0o600)


class JsonLinesReport(Subscriber):
    """`--report FILE`: a header line (`"record": "header"`: the replicator's version, the
    command, when it started), then one JSON object per image as it finishes, for audits and
    for scripting a rerun of the failures (`jq -r 'select(.result=="failed").id'`), then a
    closing line (`"record": "end"`: how the run ended, its exit status, the images by result).

    A report without its closing line is one cut short (the process was killed). After a stop
    every image the run had found work for and not finished gets a line too (`"result":
    "interrupted"` if its transfer was cut, `"not started"` else): the report names every image
    the run left undone. With `--dry-run` the lines are the plan (`"result": "planned"`, or
    `"would fail"`). Readers skip the lines that carry a `record` key: those are not images.

    The header is written and flushed when the report is opened, before the run starts: a
    file that cannot be written stops the run there, not after hours of copying.
    """

    #: An audit that cannot be written is no audit: its failure stops the run.
    on_failure = FailurePolicy.STOP

    def __init__(self, path: str, command: str) -> None:
        self._path = path
        self.output = f"the report {path}"
        try:
            # Owner-only (it names every image), never through a symlink, never a FIFO.
            self._stream = open(path, "w", encoding="utf-8", opener=_report_opener)
        except OSError as exc:
            raise RunError(f"cannot write the report {path}: {exc.strerror}") from exc
        started = datetime.now(UTC).isoformat(timespec="seconds")
        #: Images with work found and not finished, by (target, id): (name, action), and the
        #: bytes sent so far (the target is None with one target).
        self._pending: dict[tuple[str | None, str], tuple[str, str]] = {}
        self._started: dict[tuple[str | None, str], int] = {}
        self._results: Counter[str] = Counter()
        try:
            self._write({"record": "header", "replicator": __version__, "command": command, "started": started})
        except RunError:
            self._discard()
            raise

    def for_target(self, name: str) -> Subscriber:
        """The report's sink for one of several targets: its lines carry the target's name."""
        return _TargetReport(self, name)

    # With one target its lines carry none (None); `_TargetReport` follows one of several.
    def on_work_found(self, event: WorkFound) -> None:
        self.work_found(event, None)

    def on_image_started(self, event: ImageStarted) -> None:
        self.image_started(event, None)

    def on_bytes_copied(self, event: BytesCopied) -> None:
        self.bytes_copied(event, None)

    def on_image_finished(self, event: ImageFinished) -> None:
        self.image_finished(event, None)

    def work_found(self, event: WorkFound, target: str | None) -> None:
        self._pending[(target, event.action.image.id)] = (event.action.image.name, str(event.action.kind))

    def image_started(self, event: ImageStarted, target: str | None) -> None:
        self._started.setdefault((target, event.action.image.id), 0)

    def bytes_copied(self, event: BytesCopied, target: str | None) -> None:
        if (target, event.image_id) in self._started:
            self._started[(target, event.image_id)] += event.count

    def image_finished(self, event: ImageFinished, target: str | None) -> None:
        """The image's line; with several targets, `target` (its name) is a field of it."""
        result = event.result
        self._pending.pop((target, result.image_id), None)
        self._started.pop((target, result.image_id), None)
        self._image(
            ({"target": target} if target is not None else {})
            | {
                "id": result.image_id,
                "name": result.name,
                "action": result.action,
                "bytes": result.bytes,
                "seconds": result.seconds,
                "result": result.result,
                "reason": reason_text(result),
                "error": result.error,
                "verified": result.verified,
                "converted": result.converted,
            }
        )

    def plan(self, comparison: Comparison) -> None:
        """`--dry-run`: the planned action of every image listed in the plan, one line each."""
        for action in comparison.actions:
            self._image({**planned_entry(action), "result": "would fail" if action.problem else "planned"})

    def end(self, exit_status: int, stopped: bool) -> None:
        """The closing line, after a line for every image the run found work for and did not
        finish (`stopped`: a signal or an error ended it before its end)."""
        for key, (name, action) in self._pending.items():
            target, image_id = key
            cut = key in self._started
            self._image(
                ({"target": target} if target is not None else {})
                | {
                    "id": image_id,
                    "name": name,
                    "action": action,
                    "bytes": self._started.get(key, 0),
                    "seconds": None,
                    "result": "interrupted" if cut else "not started",
                    "reason": "its transfer was cut by the stop" if cut else "the run stopped before it started",
                    "error": None,
                    "verified": None,
                }
            )
        self._pending.clear()
        ended = datetime.now(UTC).isoformat(timespec="seconds")
        outcome = "interrupted" if stopped else "finished"
        self._write(
            {"record": "end", "ended": ended, "outcome": outcome, "exit_status": exit_status, "images": self._results}
        )

    def finish(self, exit_status: int) -> None:
        """The end record, then the file closed, however the run ended: a run ended by anything
        but its own end (0, 1, or `--max-transfer`'s cap) is recorded as stopped."""
        try:
            self.end(exit_status, stopped=exit_status not in (0, 1, EXIT_MAX_TRANSFER))
        finally:
            self.close()

    def _image(self, record: dict[str, Any]) -> None:
        self._results[str(record["result"])] += 1
        self._write(record)

    def _write(self, record: dict[str, Any]) -> None:
        try:
            self._stream.write(json.dumps(record) + "\n")
            self._stream.flush()
        except OSError as exc:
            raise RunError(f"cannot write the report {self._path}: {exc.strerror}") from exc

    def close(self) -> None:
        try:
            self._stream.close()
        except OSError as exc:
            raise RunError(f"cannot write the report {self._path}: {exc.strerror}") from exc

    def _discard(self) -> None:
        try:
            self._stream.close()
        except OSError:
            pass  # the error that brought us here is the one to report


class _TargetReport(Subscriber):
    """One target's share of a report of several: the same file, lines that name the target."""

    on_failure = FailurePolicy.STOP

    def __init__(self, report: JsonLinesReport, target: str) -> None:
        self._report, self._target = report, target
        self.output = report.output

    def on_work_found(self, event: WorkFound) -> None:
        self._report.work_found(event, self._target)

    def on_image_started(self, event: ImageStarted) -> None:
        self._report.image_started(event, self._target)

    def on_bytes_copied(self, event: BytesCopied) -> None:
        self._report.bytes_copied(event, self._target)

    def on_image_finished(self, event: ImageFinished) -> None:
        self._report.image_finished(event, self._target)


def reason_text(result: ImageResult) -> str:
    """Why an image ended as it did, in the command line's terms."""
    notes = [result.reason] if result.reason else []
    if result.deferred:
        notes.append(f"not started: --max-transfer {result.deferred_by_budget} bytes reached")
    if result.verified is False:
        notes.append(UNVERIFIED)
    return "; ".join(notes)


def summary(results: Iterable[ImageResult] | RunTally, seconds: float, unfinished: tuple[int, int] = (0, 0)) -> str:
    """A table of images and bytes per action and result, then time, mean rate, the bytes
    sent by transfers that did not complete (`unfinished`: bytes, transfers), and the
    failures with their reasons."""
    tally = results if isinstance(results, RunTally) else _tallied(results)
    copied = tally.total_bytes
    sent, transfers = unfinished
    # The rate is what crossed the wire: the bytes of transfers cut by a stop moved too.
    rate = (copied + sent) / seconds if seconds > 0 else 0.0
    counting = f", counting the {human_size(sent)} of cut transfers" if sent else ""
    lines = [f"{'action':<8} {'result':<8} {'images':>7} {'bytes':>11}"]
    lines.extend(
        f"{action:<8} {result:<8} {count:>7} {human_size(tally.volume[(action, result)]):>11}"
        for (action, result), count in sorted(tally.images.items())
    )
    lines.append(f"{'total':<17} {tally.total_images:>7} {human_size(copied):>11}")
    notes = [f"{human_size(copied)} copied in {seconds:.1f}s ({human_size(rate)}/s mean{counting})"]
    if sent:
        them = (
            "transfers that did not complete: the next run sends them"
            if transfers != 1
            else "transfer that did not complete: the next run sends it"
        )
        notes.append(f"{human_size(sent)} sent by {transfers} {them} again (Glance cannot resume an upload)")
    if tally.unverified:
        notes.append(f"{tally.unverified} copies {UNVERIFIED}")
    if tally.converted:
        notes.append(
            f"{tally.converted} copies converted by the target on import (verified in flight before; "
            "compared by metadata and virtual size from now on)"
        )
    if tally.deferred:
        notes.append(f"--max-transfer reached: {tally.deferred} images not started; the same command again goes on")
    lines.extend(fitted(note) for note in notes)
    if tally.unmapped.images:
        lines.append(unmapped_text(tally.unmapped))
    if tally.pruned:
        lines.append(f"{len(tally.pruned)} pruned:")
        lines.extend(f"  {_image(r.image_id, r.name)}: {printable(r.reason)}" for r in tally.pruned)
    if tally.failed:
        lines.append(f"{len(tally.failed)} failed:")
        lines.extend(f"  {_image(r.image_id, r.name)}: {printable(r.error)}" for r in tally.failed)
    return "\n".join(lines)


#: The width the summary's sentences are wrapped to: a terminal's least, as the bars' rows.
COLUMNS = 80


def fitted(sentence: str) -> str:
    """A sentence of the summary in lines of at most 80 columns, each after the first indented,
    words kept whole (a line longer than 80 columns is one word longer: a size never split)."""
    return textwrap.fill(sentence, COLUMNS, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False)


def _tallied(results: Iterable[ImageResult]) -> RunTally:
    tally = RunTally()
    for result in results:
        tally.add(result)
    return tally


def absent_ids_text(absent: Sequence[str], asked: int, narrowed: bool) -> str:
    """The ids asked for (`--id`, `--ids-from`) that the source does not have, or (`narrowed`)
    that the other filters left out: in the "rerun the failures" workflow, silence about them
    is the worst answer."""
    where = "are left out by the other filters" if narrowed else "are not on the source"
    return (
        f"{len(absent)} of the {asked} ids asked for {where}: {', '.join(printable(image_id) for image_id in absent)}"
    )


def plan_text(planned: Sequence[Action] | Comparison, verbose: bool = False) -> str:
    """`--dry-run`: what a run would do to each image, and why; nothing is touched."""
    comparison = _compared(planned)
    actions, listed, unmapped = comparison.actions, comparison.walked.listed, comparison.unmapped
    lines = []
    for action in actions:
        image = action.image
        if not (action.has_work or action.problem or verbose):
            continue
        steps = []
        if action.upload:
            steps.append(f"upload {human_size(action.bytes_to_copy)}")
        steps.extend(_change_text(change) for change in action.changes)
        steps.extend(
            f"members: {printable(change.member)} {_value(change.old)} -> {_value(change.new)}"
            for change in action.member_changes
        )
        if action.set_status:
            steps.append(f"set {action.set_status}")
        detail = "; ".join([action.reason, *steps]) if action.reason else "; ".join(steps)
        lines.append(f"{action.kind:<8} {_image(image.id, image.name)}: {printable(detail)}")
    if unmapped.images:
        lines.append(unmapped_text(unmapped))
    images, size = plan_totals(actions)
    prunes = sum(1 for action in actions if action.prune)
    lines.append(f"{plan_line(images - prunes, listed, size, prunes)} (dry run: nothing was changed)")
    failing = would_fail(comparison)
    if failing:
        lines.append(f"{failing} images would fail (the problems above): a run would end with exit status 1")
    lines.extend(_refused_prunes(comparison))
    return "\n".join(lines)


def plan_line(with_work: int, images: int, size: int, prunes: int) -> str:
    """What a run has to do: work on `with_work` of the `images` source images it took, and
    `prunes` target images to prune (no source image counts those)."""
    line = f"plan: {with_work} of {images} images need work, {human_size(size)} to copy"
    return line + (f"; {prunes} target images to prune" if prunes else "")


def _refused_prunes(comparison: Comparison | None) -> list[str]:
    """The line that says a run would prune nothing: more images would be pruned than it may."""
    if comparison is None or not comparison.refused_prunes:
        return []
    return [
        f"{comparison.refused_prunes} images would be pruned, more than --max-prune {comparison.max_prune}: "
        "a run would prune none of them and end with exit status 2"
    ]


def _change_text(change: Any) -> str:
    key = printable(change.key)
    if change.old is MISSING:
        return f"add {key}={_value(change.new)}"
    if change.new is MISSING:
        return f"remove {key}"
    return f"{key}: {_value(change.old)} -> {_value(change.new)}"


def compare_text(comparison: Comparison | Sequence[Action]) -> str:
    comparison = _compared(comparison)
    lines = []
    for action in comparison.differences:
        image = action.image
        match action.kind:
            case ActionKind.CREATE:
                lines.append(f"missing   {_image(image.id, image.name)}")
                continue
            case ActionKind.PRUNE | ActionKind.SKIP if action.gone_from_source:
                lines.append(f"extra     {_image(image.id, image.name)}: {printable(action.reason)}")
                continue
            case ActionKind.PROBLEM | ActionKind.UPLOAD:
                lines.append(
                    f"{'problem' if action.problem else 'no data':<9} {_image(image.id, image.name)}: "
                    f"{printable(action.reason)}"
                )
            case ActionKind.UPDATE | ActionKind.SKIP | ActionKind.PRUNE:
                pass
            case unreachable:
                assert_never(unreachable)
        for change in action.changes:
            lines.append(
                f"differs   {_image(image.id, image.name)}: {printable(change.key)}: "
                f"source {_value(change.new)}, target {_value(change.old)}"
            )
    for action in comparison.actions:
        for key in action.target_added:
            lines.append(
                f"kept      {_image(action.image.id, action.image.name)}: {printable(key)}: "
                f"target-added {_value(action.current.attributes[key] if action.current else None)} "
                "(--target-injects; not a difference)"
            )
    if comparison.unmapped.images:
        lines.append(unmapped_text(comparison.unmapped))
    kinds = comparison.counts
    lines.append(
        f"{comparison.walked.listed} images compared: {kinds[Category.MISSING]} missing, "
        f"{kinds[Category.DIFFERENT]} different, {kinds[Category.IDENTICAL]} identical"
        + (f", {kinds[Category.SKIPPED]} skipped" if kinds[Category.SKIPPED] else "")
        + (f"; {kinds[Category.EXTRA]} on the target only" if kinds[Category.EXTRA] else "")
    )
    lines.extend(_refused_prunes(comparison))
    return "\n".join(lines)


def planned_entry(action: Action) -> dict[str, Any]:
    """One image of a plan, as `--dry-run --json` prints it and `--dry-run --report` writes it."""
    return {
        "id": action.image.id,
        "name": action.image.name,
        "action": str(action.kind),
        "bytes": action.bytes_to_copy,
        "reason": action.reason,
        "problem": action.problem,
        "changes": [{"field": c.key, "from": _json_value(c.old), "to": _json_value(c.new)} for c in action.changes],
    }


def plan_json(comparison: Comparison) -> str:
    """`--dry-run --json`: the plan, for scripts, shaped like `compare --json`."""
    images, size = plan_totals(comparison.actions)
    prunes = sum(1 for action in comparison.actions if action.prune)
    summary = {
        "images": comparison.walked.listed,
        "need_work": images - prunes,
        "bytes_to_copy": size,
        "to_prune": prunes,
        "would_fail": would_fail(comparison),
        "refused_prunes": comparison.refused_prunes,
    }
    return json.dumps({"actions": [planned_entry(a) for a in comparison.actions], "summary": summary}, indent=2)


def would_fail(comparison: Comparison) -> int:
    """How many images of a plan a run would report as failed (those it cannot bring in line)."""
    return sum(1 for action in comparison.actions if action.problem)


def compare_json(comparison: Comparison | Sequence[Action]) -> str:
    comparison = _compared(comparison)
    entries: list[dict[str, Any]] = []
    for action in comparison.differences:
        entries.append(
            {
                "id": action.image.id,
                "name": action.image.name,
                "status": str(action.category),
                "reason": action.reason,
                "differences": [
                    {"field": c.key, "source": _json_value(c.new), "target": _json_value(c.old)} for c in action.changes
                ],
            }
        )
    counts = {str(category): comparison.counts[category] for category in Category}
    summary = {
        "compared": comparison.walked.listed,
        **counts,
        "projects_without_counterpart": sorted(comparison.unmapped.projects),
    }
    return json.dumps({"images": entries, "summary": summary}, indent=2)


def unmapped_text(unmapped: Unmapped) -> str:
    """The source projects a run between two clouds found no counterpart of; each image that
    names one says what became of it in its reason."""
    images = "1 image names" if unmapped.images == 1 else f"{unmapped.images} images name"
    projects = ", ".join(printable(project) for project in sorted(unmapped.projects))
    return f"{images} source projects with no counterpart on the target: {projects}"


def _compared(actions: Comparison | Sequence[Action]) -> Comparison:
    """A comparison from a whole list of actions (a plan made in memory) as from a walk."""
    if isinstance(actions, Comparison):
        return actions
    return Comparison(list(actions), Counter(action.category for action in actions), Walked(listed=len(actions)))


def _image(image_id: str, name: str) -> str:
    """An image as every line names it: its id, then its name in quotes."""
    return f'{printable(image_id)} "{printable(name)}"' if name else f"{printable(image_id)} (unnamed)"


#: The same, for the other views (a run with several targets).
image_line = _image


def _value(value: Any) -> str:
    """A value as JSON, which escapes control characters (and, with `default=str`, a value
    JSON cannot hold is shown by its text, escaped too)."""
    return "absent" if value is MISSING else printable(json.dumps(value, default=str))


def _json_value(value: Any) -> Any:
    return None if value is MISSING else value
