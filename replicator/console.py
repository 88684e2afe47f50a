"""What a person sees: a line per finished image, the summary, the compare report, sizes.

The engine only emits events and returns results; this module turns them into text.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Iterable, Sequence, TextIO

from replicator.engine.events import Event, ImageFinished, ImageResult, ImageRetrying, RunPlanned, RunTally
from replicator.engine.actions import MISSING, Action, Category, Outcome
from replicator.engine.plan import totals as plan_totals
from replicator.engine.run import Comparison, Inventory
from replicator.errors import RunError


def human_size(count: float) -> str:
    """Binary units, as the old glance-replicator printed them: `1.5 GiB`."""
    for unit in ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi"):
        if abs(count) < 1024.0:
            return f"{count:3.1f} {unit}B"
        count /= 1024.0
    return f"{count:.1f} YiB"


def size_line(inventory: Inventory) -> str:
    return (
        f"Total size is {inventory.bytes} bytes ({human_size(inventory.bytes)}) "
        f"across {inventory.images} images"
    )


def size_json(inventory: Inventory) -> str:
    return json.dumps({"images": inventory.images, "bytes": inventory.bytes, "human": human_size(inventory.bytes)})


class LineLog:
    """An event sink that writes one line per finished image (and per retry) to a stream."""

    def __init__(self, stream: TextIO | None = None, verbose: bool = False, quiet: bool = False) -> None:
        self._stream = stream
        self._verbose = verbose and not quiet
        self._quiet = quiet

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunPlanned):
            self._write(f"plan: {event.images_with_work} of {event.images} images need work, "
                        f"{human_size(event.bytes_to_copy)} to copy")
        elif isinstance(event, ImageRetrying):
            self._write(f"retry {event.attempt} for {event.image_id}: {event.error}")
        elif isinstance(event, ImageFinished):
            result = event.result
            if result.result == Outcome.FAILED:
                self._write(f"FAILED  {result.image_id} {_quoted(result.name)}: {result.error}")
            elif (result.result == Outcome.OK and not self._quiet) or self._verbose:
                detail = f"{human_size(result.bytes)} in {result.seconds:.1f}s" if result.bytes else reason_text(result)
                if result.verified is False:
                    detail += " (unverified: the source publishes no hash this tool can check)"
                self._write(f"{result.action:<7} {result.image_id} {_quoted(result.name)}: {detail}")

    def _write(self, line: str) -> None:
        print(line, file=self._stream or sys.stderr, flush=True)


class JsonLinesReport:
    """`--report FILE`: one JSON object per image as it finishes, for audits and for scripting
    a rerun of the failures (`jq -r 'select(.result=="failed").id'`)."""

    def __init__(self, path: str) -> None:
        try:
            self._stream = open(path, "w", encoding="utf-8")
        except OSError as exc:
            raise RunError(f"cannot write the report {path}: {exc.strerror}") from None

    def __call__(self, event: Event) -> None:
        if isinstance(event, ImageFinished):
            result = event.result
            line = {
                "id": result.image_id, "name": result.name, "action": result.action, "bytes": result.bytes,
                "seconds": result.seconds, "result": result.result, "reason": reason_text(result),
                "error": result.error, "verified": result.verified,
            }
            self._stream.write(json.dumps(line) + "\n")
            self._stream.flush()

    def close(self) -> None:
        self._stream.close()


def reason_text(result: ImageResult) -> str:
    """Why an image ended as it did, in the command line's terms."""
    if result.deferred:
        held = f"not started: --max-transfer {result.deferred_by_budget} bytes reached"
        return f"{result.reason}; {held}" if result.reason else held
    return result.reason


def summary(results: Iterable[ImageResult] | RunTally, seconds: float) -> str:
    """A table of images and bytes per action and result, then time, mean rate, and the
    failures with their reasons."""
    tally = results if isinstance(results, RunTally) else _tallied(results)
    copied = tally.total_bytes
    rate = copied / seconds if seconds > 0 else 0.0
    lines = [f"{'action':<8} {'result':<8} {'images':>7} {'bytes':>11}"]
    lines.extend(
        f"{action:<8} {result:<8} {count:>7} {human_size(tally.volume[(action, result)]):>11}"
        for (action, result), count in sorted(tally.images.items())
    )
    lines.append(f"{'total':<17} {tally.total_images:>7} {human_size(copied):>11}")
    lines.append(f"{human_size(copied)} copied in {seconds:.1f}s ({human_size(rate)}/s mean)")
    if tally.unverified:
        lines.append(f"{tally.unverified} copies unverified: their source publishes no hash this tool can check")
    if tally.deferred:
        lines.append(f"--max-transfer reached: {tally.deferred} images not started; the same command again goes on")
    if tally.failed:
        lines.append(f"{len(tally.failed)} failed:")
        lines.extend(f"  {r.image_id} {_quoted(r.name)}: {r.error}" for r in tally.failed)
    return "\n".join(lines)


def _tallied(results: Iterable[ImageResult]) -> RunTally:
    tally = RunTally()
    for result in results:
        tally.add(result)
    return tally


def plan_text(actions: Sequence[Action] | Comparison, verbose: bool = False) -> str:
    """`--dry-run`: what a run would do to each image, and why; nothing is touched."""
    listed = actions.walked.listed if isinstance(actions, Comparison) else len(actions)
    if isinstance(actions, Comparison):
        actions = actions.actions
    lines = []
    for action in actions:
        image = action.image
        if not (action.has_work or action.problem or verbose):
            continue
        steps = []
        if action.upload:
            steps.append(f"upload {human_size(action.bytes_to_copy)}")
        steps.extend(_change_text(change) for change in action.changes)
        steps.extend(f"members: {change.member} {_value(change.old)} -> {_value(change.new)}" for change in action.member_changes)
        if action.set_status:
            steps.append(f"set {action.set_status}")
        detail = "; ".join([action.reason, *steps]) if action.reason else "; ".join(steps)
        lines.append(f"{action.kind:<8} {image.id} {_quoted(image.name)}: {detail}")
    images, size = plan_totals(actions)
    lines.append(f"plan: {images} of {listed} images need work, {human_size(size)} to copy "
                 "(dry run: nothing was changed)")
    return "\n".join(lines)


def _change_text(change: Any) -> str:
    if change.old is MISSING:
        return f"add {change.key}={_value(change.new)}"
    if change.new is MISSING:
        return f"remove {change.key}"
    return f"{change.key}: {_value(change.old)} -> {_value(change.new)}"


def compare_text(comparison: Comparison) -> str:
    lines = []
    for action in comparison.differences:
        image = action.image
        if action.create:
            lines.append(f"missing   {image.id} {_quoted(image.name)}")
            continue
        if action.gone_from_source:
            lines.append(f"extra     {image.id} {_quoted(image.name)}: {action.reason}")
            continue
        if action.problem or action.upload:
            lines.append(f"{'problem' if action.problem else 'no data':<9} {image.id} {_quoted(image.name)}: {action.reason}")
        for change in action.changes:
            lines.append(
                f"differs   {image.id} {_quoted(image.name)}: {change.key}: "
                f"source {_value(change.new)}, target {_value(change.old)}"
            )
    kinds = comparison.counts
    lines.append(
        f"{comparison.walked.listed} images compared: {kinds[Category.MISSING]} missing, "
        f"{kinds[Category.DIFFERENT]} different, {kinds[Category.IDENTICAL]} identical"
        + (f", {kinds[Category.SKIPPED]} skipped" if kinds[Category.SKIPPED] else "")
        + (f"; {kinds[Category.EXTRA]} on the target only" if kinds[Category.EXTRA] else "")
    )
    return "\n".join(lines)


def compare_json(comparison: Comparison) -> str:
    entries: list[dict[str, Any]] = []
    for action in comparison.differences:
        entries.append({
            "id": action.image.id,
            "name": action.image.name,
            "status": str(action.category),
            "reason": action.reason,
            "differences": [
                {"field": c.key, "source": _json_value(c.new), "target": _json_value(c.old)} for c in action.changes
            ],
        })
    counts = {str(category): comparison.counts[category] for category in Category}
    return json.dumps({"images": entries, "summary": {"compared": comparison.walked.listed, **counts}}, indent=2)


def _quoted(name: str) -> str:
    return f'"{name}"' if name else "(unnamed)"


def _value(value: Any) -> str:
    return "absent" if value is MISSING else json.dumps(value, default=str)


def _json_value(value: Any) -> Any:
    return None if value is MISSING else value
