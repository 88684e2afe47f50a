"""The progress display in a terminal of 80 columns, as a pty shows it and a terminal emulator
(pyte) draws it: no bar's row wraps, the totals are never cut, and after Ctrl-C the counts are
drawn once, above the summary."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
import uuid
from collections.abc import Callable

import pyte
import pytest

from tests.support import glance_client as gc
from tests.support.servers import ReplicatorServe

# The CLI runs as a process, in a pty.
pytestmark = pytest.mark.server

COLUMNS, ROWS = 80, 200
COUNTS = re.compile(r"^\d+/\d+ images: \d+ done, \d+ skipped, \d+ failed$|^\d+ images of \d+ listed so far: ")
#: How a bar's row ends: bytes done of its size, the rate, the time left.
ROW_END = re.compile(
    r"(\d+(\.\d)?/\d+(\.\d)? [KMG]?i?B|\d+/\? bytes) +(\?|[\d.]+ [KMG]?i?B/s)( +(-:--:--|\d+:\d\d:\d\d))?$"
)


def read_until(fd: int, process: subprocess.Popen[bytes], done: Callable[[bytes], bool], limit: float) -> bytes:
    """What the pty shows until `done` says enough, the process ends, or `limit` seconds pass."""
    shown = b""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and not done(shown):
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the other end closed: the process ended
                break
            if not chunk:
                break
            shown += chunk
        elif process.poll() is not None:
            break
    return shown


@pytest.fixture
def slow_named(start_serve: Callable[..., ReplicatorServe]) -> tuple[ReplicatorServe, ReplicatorServe]:
    source, target = start_serve(), start_serve()
    for index in range(4):
        name = f"ubuntu-24.04-server-cloudimg-amd64-with-a-long-name-{index}"
        image_id = gc.create_image(
            source.url, id=str(uuid.uuid4()), name=name, disk_format="raw", container_format="bare"
        )["id"]
        gc.upload(source.url, image_id, os.urandom(3 * 2**20))
    source.set_faults(bandwidth=2 * 2**20)
    return source, target


def test_the_display_fits_80_columns_and_ctrl_c_draws_the_counts_once(slow_named) -> None:
    source, target = slow_named
    main, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    environment = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    environment["TERM"] = "xterm-256color"
    process = subprocess.Popen(
        [sys.executable, "-m", "replicator", "livecopy", source.url, target.url, "-j", "2"],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=environment,
        start_new_session=True,
    )
    os.close(secondary)
    try:
        # Under way: both transfers have sent something (their rows show a rate).
        shown = read_until(main, process, lambda out: out.count(b"B/s") >= 6, 60)
        process.send_signal(signal.SIGINT)
        shown += read_until(main, process, lambda out: b"run the same command again" in out, 60)
        assert process.wait(timeout=60) == 130
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(main)

    screen = pyte.Screen(COLUMNS, ROWS)
    pyte.ByteStream(screen).feed(shown)
    lines = [line.rstrip() for line in screen.display if line.strip()]
    text = "\n".join(lines)
    counts = [line for line in lines if COUNTS.search(line)]
    assert len(counts) == 1, text  # drawn once, and whole (the regex takes the line to its end)
    first_bar = lines.index(counts[0]) + 1
    summary = next(index for index, line in enumerate(lines) if line.startswith("action "))
    bars = lines[first_bar:summary]
    assert bars and bars[0].startswith("all images"), text
    for row in bars:  # each row is one line: a name (cut if long), its bar, bytes, rate and ETA
        assert ROW_END.search(row), f"a row wrapped or was cut: {row!r}\n{text}"
        assert row.startswith(("all images", "  ubuntu-24.04")), f"a row wrapped: {row!r}\n{text}"
