"""Issue 25: the summary's sentences fit 80 columns, however large the figures they hold (a
long run, many cut transfers, every note at once): wrapped at words, each line after a
sentence's first indented, no size or count split."""

from __future__ import annotations

import re

from replicator.cli.views import console
from replicator.engine.events import RunTally

GiB = 1024**3


def test_every_sentence_of_a_long_runs_summary_fits_80_columns() -> None:
    tally = RunTally()
    tally.images[("create", "ok")] = 123_456
    tally.volume[("create", "ok")] = 987 * GiB
    tally.unverified, tally.converted, tally.deferred = 12_345, 23_456, 34_567
    text = console.summary(tally, 123_456.7, (999 * GiB, 12_345))
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80, "\n".join(line for line in lines if len(line) > 80)
    joined = re.sub(r"\n  ", " ", text)  # the sentences as they were before the wrapping
    assert "999.0 GiB sent by 12345 transfers that did not complete: the next run sends them again " in joined
    assert "(Glance cannot resume an upload)" in joined
    assert "23456 copies converted by the target on import (verified in flight before; compared" in joined
    assert "--max-transfer reached: 34567 images not started; the same command again goes on" in joined
    assert "counting the 999.0 GiB of cut transfers)" in joined
    # A continuation is indented: no wrapped part reads as a sentence of its own.
    assert any(line.startswith("  ") and line[2] != " " for line in lines)


def test_a_short_summary_is_left_as_it_was() -> None:
    tally = RunTally()
    tally.images[("create", "ok")] = 1
    tally.volume[("create", "ok")] = 1024
    assert console.summary(tally, 1.0).splitlines()[-1] == "1.0 KiB copied in 1.0s (1.0 KiB/s mean)"
