"""Nothing a server says can steer the operator's terminal or forge a line of output.

An image name (or property, member, error) holding escape sequences, carriage returns or
newlines is printed escaped, in every line the console prints: per-image lines, bars,
`--dry-run`, compare, the summary, errors and `--debug` logs.
"""

from __future__ import annotations

import io
import logging
import re
import subprocess
import sys
import uuid

import pytest
from rich.console import Console

from replicator.cli.advice import error_line
from replicator.cli.session import PrintableFormatter
from replicator.cli.views import console, progress
from replicator.engine.actions import ActionKind, Outcome
from replicator.engine.events import BytesCopied, ImageFinished, ImageResult, ImageRetrying, ImageStarted, RunPlanned
from replicator.engine.plan import plan, totals
from replicator.model.errors import RunError
from replicator.model.records import ImageRecord
from replicator.model.settings import Settings
from tests.support import glance_client as gc

CLEAR_SCREEN, RED = "\x1b[2J", "\x1b[31m"
#: Clears the screen, turns red, and starts a line that looks like one of ours.
HOSTILE = f'evil{CLEAR_SCREEN}{RED}\r\nFAILED  00000000-0000-0000-0000-000000000000 "forged": \u202egnp.exe\x07'
#: Any character a terminal acts on, but the newlines that separate our own lines.
RAW_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e]")


def assert_inert(text: str) -> None:
    """No control character reached the text, no line was forged, and the name is still shown."""
    assert not RAW_CONTROL.search(text), repr(text)
    assert not any(line.startswith("FAILED  00000000") for line in text.splitlines()), text
    assert "\\x1b[2J" in text, text


def printed_image(name: str = HOSTILE, key: str = "os_distro") -> ImageRecord:
    attributes = {"name": name, "disk_format": "raw", "container_format": "bare", key: f"value{RED}\n"}
    return ImageRecord(id=str(uuid.uuid4()), status="active", attributes=attributes, size=2048, checksum="00")


def test_printable_escapes_what_a_terminal_acts_on_and_keeps_the_rest() -> None:
    assert console.printable("ubuntu-24.04 Überblick 镜像") == "ubuntu-24.04 Überblick 镜像"
    assert console.printable("a\x1b[2Jb\nc\rd\te\x00\x7f\x9b") == "a\\x1b[2Jb\\nc\\rd\\te\\x00\\x7f\\x9b"
    assert console.printable("\u202eexe.txt\u200b\ud800") == "\\u202eexe.txt\\u200b\\ud800"


def test_every_console_text_escapes_names_keys_reasons_and_errors() -> None:
    image, changed = printed_image(), printed_image(key=f"prop{CLEAR_SCREEN}\nname")
    held = ImageRecord(
        id=changed.id,
        status="active",
        size=2048,
        checksum="00",
        attributes={k: v for k, v in changed.attributes.items() if not k.startswith("prop")},
    )
    actions = plan([image, changed], [held], Settings())  # one to create, one whose key is refused
    action = actions[0]
    failed = ImageResult(
        image.id, image.name, ActionKind.CREATE, Outcome.FAILED, 0, 1.0, action.reason, f"upload refused: {HOSTILE}"
    )
    done = ImageResult(image.id, image.name, ActionKind.CREATE, Outcome.OK, 2048, 1.0)
    log = io.StringIO()
    lines = console.LineLog(log, verbose=True)
    lines(RunPlanned(len(actions), *totals(actions)))
    lines(ImageRetrying(image.id, 1, HOSTILE))
    lines(ImageFinished(failed))
    lines(ImageFinished(done))
    for text in (
        log.getvalue(),
        console.summary([failed, done], 1.0),
        console.plan_text(actions, verbose=True),
        console.compare_text(actions),
        error_line(RunError(f"list images: {HOSTILE}")),
    ):
        assert_inert(text)
    # A key holding control characters is refused (a server could read it as another): the
    # refusal names it, escaped.
    assert "prop\\x1b[2J\\nname" in console.plan_text(actions)
    assert "problem   " in console.compare_text(actions) and "prop\\x1b[2J\\nname" in console.compare_text(actions)


def test_progress_bars_and_debug_lines_escape_names() -> None:
    image = printed_image(name=f"[bold]{HOSTILE}[/]")
    actions = plan([image], [], Settings())
    out = io.StringIO()
    bars = progress.ProgressBars(Console(file=out, force_terminal=True, color_system=None, width=200))
    with bars:  # markup in a name is text, not an instruction (a stray "[/]" used to crash rich)
        bars(RunPlanned(len(actions), *totals(actions)))
        bars(ImageStarted(actions[0]))
        bars(BytesCopied(image.id, 1024))
        bars._progress.refresh()
    shown = out.getvalue()
    assert CLEAR_SCREEN not in shown and RED not in shown and "\u202e" not in shown
    assert "[bold]evil\\x1b[2J" in shown
    record = logging.LogRecord("replicator.http", logging.DEBUG, __file__, 1, "GET %s -> 200", (HOSTILE,), None)
    assert_inert(PrintableFormatter("%(name)s %(message)s").format(record))


def replicator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "replicator", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.server
def test_hostile_names_from_a_glance_reach_no_terminal_raw(serve_pair) -> None:
    """End to end through `replicator serve`: one image copies, one fails (the target holds
    other data under its id); dry run, copy, compare and the summary all print them escaped."""
    source, target = serve_pair.source, serve_pair.target
    copied, clashing = str(uuid.uuid4()), str(uuid.uuid4())
    for image_id in (copied, clashing):
        gc.create_image(
            source,
            id=image_id,
            name=HOSTILE,
            disk_format="raw",
            container_format="bare",
            hostile_value=f"v{CLEAR_SCREEN}\n",
        )
        gc.upload(source, image_id, b"x" * 1000)
    gc.create_image(target, id=clashing, name=HOSTILE, disk_format="raw", container_format="bare")
    gc.upload(target, clashing, b"y" * 1000)

    dry_run = replicator("livecopy", source, target, "--dry-run", "-v")
    assert dry_run.returncode == 1, dry_run.stderr  # as the copy: the clashing image would fail
    assert_inert(dry_run.stdout)

    copy = replicator("livecopy", source, target, "-v")
    assert copy.returncode == 1, copy.stderr
    assert_inert(copy.stderr)
    assert f"FAILED  {clashing}" in copy.stderr

    compared = replicator("compare", source, target)
    assert compared.returncode == 1
    assert_inert(compared.stdout)
    assert gc.get_image(target, copied)["name"] == HOSTILE  # escaped on the screen, copied as it is
