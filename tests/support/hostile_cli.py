"""Running `python -m replicator` against an attack, and reading its answer as a user would.

The replicator runs as a child process, so that what is checked is what a user or a script
gets: the real exit code, the real stderr lines (a library's stray warning included), no
traceback swallowed by a test runner. Facts are checked, not wording: the exit code, how many
lines, which image ids a FAILED line names, at most a key word such as a host or a property.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.report_file import image_lines

#: Seconds any one run may take; a run that hangs on an attack fails its test instead of the suite.
RUN_TIMEOUT = 120

#: Control characters no server-supplied string may bring to a terminal (line breaks between
#: our own lines are fine; a carriage return, an escape or a bell is not).
_ALLOWED_CONTROLS = {"\n"}


def environment(**extra: str) -> dict[str, str]:
    """Our environment without credentials of any kind: no `OS_*` cloud, no `REPLICATOR_*` token."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "REPLICATOR_"))}
    return {**kept, **extra}


def replicator(
    *args: str, env: dict[str, str] | None = None, timeout: float = RUN_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """`python -m replicator ARGS`, run to its end."""
    return subprocess.run(
        [sys.executable, "-m", "replicator", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or environment(),
        stdin=subprocess.DEVNULL,
    )


def describe(result: subprocess.CompletedProcess[str]) -> str:
    """Everything a failed assertion should show."""
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def assert_run_error(result: subprocess.CompletedProcess[str], *facts: str) -> str:
    """The run could not happen: exit 2 and exactly one line on stderr, naming each fact.
    Returns that line."""
    assert result.returncode == 2, describe(result)
    errors = lines(result.stderr)
    assert len(errors) == 1, describe(result)
    assert errors[0].startswith("replicator: error: "), describe(result)
    for fact in facts:
        assert fact in errors[0], f"{fact!r} not named\n{describe(result)}"
    return errors[0]


def failed_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The per-image FAILED lines of a run's stderr (the summary repeats failures indented)."""
    return [line for line in result.stderr.splitlines() if line.startswith("FAILED")]


def assert_images_failed(
    result: subprocess.CompletedProcess[str], *image_ids: str, facts: tuple[str, ...] = ()
) -> None:
    """Some images failed: exit 1, and exactly one FAILED line per image named, none for others.

    Each fact must appear in the FAILED line of every image named."""
    assert result.returncode == 1, describe(result)
    failed = failed_lines(result)
    assert len(failed) == len(image_ids), describe(result)
    for image_id in image_ids:
        mine = [line for line in failed if image_id in line]
        assert len(mine) == 1, f"no single FAILED line for {image_id}\n{describe(result)}"
        for fact in facts:
            assert fact in mine[0], f"{fact!r} not named for {image_id}\n{describe(result)}"


def assert_no_control_characters(text: str) -> None:
    """No escape, carriage return, bell or other control character (C0, DEL, C1) in `text`."""
    found = sorted({f"U+{ord(c):04X}" for c in text if _is_control(c) and c not in _ALLOWED_CONTROLS})
    assert not found, f"control characters {found} reach the terminal in:\n{text!r}"


def _is_control(character: str) -> bool:
    code = ord(character)
    return code < 0x20 or 0x7F <= code <= 0x9F


def report_entries(path: Path) -> list[dict[str, Any]]:
    """The image lines of a `--report` file (after its header)."""
    return image_lines(path)
