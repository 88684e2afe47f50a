"""`--log-file FILE` / `--log-level LEVEL` (oslo.log's options of the old glance-replicator):
the log lines also go to a file of their own, made owner-only and never through a symlink, and
a level that is no level stops the run before it starts."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from tests.support import glance_client as gc
from tests.support.cli import assert_refused, replicator, run


@pytest.mark.server
def test_the_log_file_keeps_the_lines_at_its_level_and_is_owner_only(serve_pair, tmp_path: Path) -> None:
    gc.seed_raw_images(serve_pair.source, [20_000])
    info, debug = tmp_path / "info.log", tmp_path / "debug.log"
    first = replicator("livecopy", serve_pair.source, serve_pair.target, "--log-file", str(info), "--log-level", "info")
    assert first.returncode == 0, first.stderr
    assert stat.S_IMODE(info.stat().st_mode) == 0o600
    kept = info.read_text()
    assert re.search(r" INFO replicator\.lines create  ", kept), kept
    assert " DEBUG " not in kept and "/v2/images" not in kept  # below the level: not kept
    assert "replicator.lines" not in first.stderr  # stderr has its line once, as before

    second = replicator(
        "livecopy",
        serve_pair.source,
        serve_pair.target,
        "-v",
        "--debug",
        "--log-file",
        str(debug),
        "--log-level",
        "DEBUG",
    )
    assert second.returncode == 0, second.stderr
    lines = debug.read_text()
    assert re.search(r" DEBUG replicator\.http GET \S+/v2/images\S* -> 200", lines), lines
    assert re.search(r" INFO replicator\.lines skip ", lines), lines
    # stderr as --debug prints it: each request, and the line per image only once.
    assert len([line for line in second.stderr.splitlines() if line.endswith(": identical")]) == 1, second.stderr

    info.write_text("")
    again = replicator("size", serve_pair.source, "--log-file", str(info), "--log-level", "DEBUG")
    assert again.returncode == 0 and "replicator.http GET" in info.read_text()  # appended, read-only commands too


def test_a_level_that_is_no_level_stops_the_run_with_a_suggestion(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    result = run("size", "http://127.0.0.1:9/", "--log-file", str(log), "--log-level", "WARN")
    assert_refused(result, "--log-level 'WARN'", "did you mean 'WARNING'?")
    assert not log.exists()


def test_the_log_file_is_never_opened_through_a_symlink(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("theirs\n")
    link = tmp_path / "run.log"
    link.symlink_to(elsewhere)
    result = run("size", "http://127.0.0.1:9/", "--log-file", str(link))
    assert result.exit_code != 0 and "cannot write the log file" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert elsewhere.read_text() == "theirs\n"
