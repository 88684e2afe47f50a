"""What a run with several targets shows: each target's lines behind its name, and one summary
row per target with the bytes read from the source once for all of them.

A target's name is the operator's (its TARGET argument, or its cloud and region), escaped like
any other text before printing all the same.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from replicator.cli.views.console import human_size, image_line, printable
from replicator.engine.actions import Outcome
from replicator.engine.events import RunTally


class Prefixed:
    """A text stream that begins each line with `[name] `, for the lines of one target."""

    def __init__(self, name: str, stream: TextIO | None = None) -> None:
        self._prefix = f"[{printable(name)}] "
        self._stream = stream
        self._at_start = True

    def write(self, text: str) -> int:
        out = self._stream or sys.stderr
        for piece in text.splitlines(keepends=True):
            if self._at_start:
                out.write(self._prefix)
            out.write(piece)
            self._at_start = piece.endswith("\n")
        return len(text)

    def flush(self) -> None:
        (self._stream or sys.stderr).flush()


@dataclass
class TargetRow:
    """How one target ended: its tally, and the error that stopped its run, if one did."""

    name: str
    tally: RunTally
    stopped: str | None = None
    #: Bytes sent by its transfers that did not complete (the next run sends them again).
    cut: int = 0


def status(row: TargetRow, interrupted: bool = False) -> str:
    """A target's status word: `in line` (nothing failed: it holds what the source has),
    `N failed` (a rerun completes them there), `stopped` (its run could not go on: the error
    is printed), `interrupted`."""
    if row.stopped is not None:
        return "stopped"
    if interrupted:
        return "interrupted"
    failed = len(row.tally.failed)
    return f"{failed} failed" if failed else "in line"


def targets_summary(rows: Sequence[TargetRow], source_bytes: int, seconds: float, interrupted: bool = False) -> str:
    """One row per target (images done, failed, bytes sent, status), then the bytes read from
    the source: each image once, however many targets it went to."""
    width = max([6, *(len(printable(row.name)) for row in rows)])
    lines = [f"{'target':<{width}} {'images':>7} {'ok':>7} {'failed':>7} {'bytes':>11}  status"]
    for row in rows:
        tally = row.tally
        ok = tally.with_result(Outcome.OK)
        lines.append(
            f"{printable(row.name):<{width}} {tally.total_images:>7} {ok:>7} {len(tally.failed):>7} "
            f"{human_size(tally.total_bytes):>11}  {status(row, interrupted)}"
        )
    sent = sum(row.tally.total_bytes + row.cut for row in rows)
    lines.append(
        f"source: {human_size(source_bytes)} read for {human_size(sent)} sent to {len(rows)} targets in {seconds:.1f}s"
    )
    for row in rows:
        name = printable(row.name)
        if row.stopped is not None:
            lines.append(f"{name}: stopped: {row.stopped}")
        if row.tally.failed:
            lines.append(f"{name}: {len(row.tally.failed)} failed:")
            lines.extend(f"  {image_line(r.image_id, r.name)}: {printable(r.error)}" for r in row.tally.failed)
    return "\n".join(lines)
