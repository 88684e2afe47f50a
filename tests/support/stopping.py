"""Runs of the CLI as a process that a test stops (signals, kills), and what it checks after:
the target holds only good data, and no upload is left half-way."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from tests.support import glance_client as gc


def replicator(*args: str, preexec_fn: Callable[[], None] | None = None) -> subprocess.Popen[str]:
    def child_setup() -> None:
        # A shell starts background jobs with SIGINT ignored, and the child would inherit that.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if preexec_fn is not None:
            preexec_fn()

    return subprocess.Popen(
        [sys.executable, "-m", "replicator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=child_setup,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def target_statuses(url: str) -> dict[str, str]:
    return {image["id"]: image["status"] for image in gc.list_all(url)}


def assert_target_holds_only_good_data(url: str, data: dict[str, bytes]) -> None:
    for image in gc.list_all(url):
        assert image["id"] in data, "the target holds an image the source does not"
        if image["status"] == "active":
            assert image["checksum"] == hashlib.md5(data[image["id"]]).hexdigest()


def settle(url: str) -> None:
    """The server notices a dead client's cut upload at once; wait for it to say so."""
    wait_for(lambda: "saving" not in target_statuses(url).values(), timeout=10)
