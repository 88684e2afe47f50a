"""Running the CLI the two ways the tests do: in process (`run`, Typer's runner: fast, output
captured) and as a child process (`replicator`: the exit code, stderr and signals a shell sees),
and reading what it printed."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from typer.testing import CliRunner

from replicator.cli import app


def run(*args: str) -> Any:
    """The CLI in this process (Typer's runner): `.exit_code`, `.stdout`, `.stderr`."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result


def replicator(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m replicator ARGS` as a child process, for what only a process shows."""
    return subprocess.run(
        [sys.executable, "-m", "replicator", *args], capture_output=True, text=True, timeout=60, env=env
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Bad input: exit 2 and one `replicator: error:` line holding every fragment, no traceback."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("replicator: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def assert_refused(result: Any, *fragments: str, absent: tuple[str, ...] = ()) -> str:
    """Exit 2 with one line on stderr holding every fragment: the message the operator reads."""
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("replicator: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    for fragment in absent:
        assert fragment not in lines[0], lines[0]
    return lines[0]


def summary_count(stderr: str, action: str, result: str) -> int:
    """Images the end-of-run summary table counts for one action and result (0 when absent)."""
    for line in stderr.splitlines():
        words = line.split()
        if words[:2] == [action, result] and len(words) >= 3 and words[2].isdigit():
            return int(words[2])
    return 0
