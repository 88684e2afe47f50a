"""Stop-anywhere safety: `kill -9` or Ctrl-C in the middle of a run, a full disk under a dump,
then the same command again ends with everything copied, verified, and nothing duplicated.

The replicator runs as a real process here (signals need one); the source is slowed down with
the server's bandwidth switch so that the stop lands mid-transfer.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import glance_client as gc
from tests.support.report_file import end, image_lines
from tests.support.servers import ReplicatorServe
from tests.support.stopping import (
    assert_target_holds_only_good_data,
    finish,
    replicator,
    settle,
    target_statuses,
    wait_for,
)

# Runs are killed and signalled: the CLI runs as a process.
pytestmark = pytest.mark.server

IMAGE_SIZE = 3 * 1024 * 1024
IMAGES = 6


@pytest.fixture
def slow_pair(start_serve: Callable[..., ReplicatorServe]) -> tuple[ReplicatorServe, ReplicatorServe, dict[str, bytes]]:
    source, target = start_serve(), start_serve()
    data = gc.seed_raw_images(source.url, [IMAGE_SIZE] * IMAGES)
    source.set_faults(bandwidth=4 * 1024 * 1024)
    return source, target, data


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["kill -9", "Ctrl-C"])
def test_livecopy_stopped_mid_run_then_rerun_completes(slow_pair, stop: signal.Signals) -> None:
    source, target, data = slow_pair
    process = replicator("livecopy", source.url, target.url, "--concurrency", "2")
    wait_for(lambda: "active" in target_statuses(target.url).values())

    process.send_signal(stop)
    code, stderr = finish(process)

    if stop == signal.SIGINT:
        assert code == 130, stderr
        assert "interrupted" in stderr and "Traceback" not in stderr
    settle(target.url)
    statuses = target_statuses(target.url)
    assert list(statuses.values()).count("active") < IMAGES, "the stop came too late to test anything"
    assert_target_holds_only_good_data(target.url, data)

    source.set_faults(bandwidth=None)
    code, stderr = finish(replicator("livecopy", source.url, target.url))
    assert code == 0, stderr
    assert target_statuses(target.url) == {image_id: "active" for image_id in data}
    assert_target_holds_only_good_data(target.url, data)


def wait_for_first_copy(report: Path) -> None:
    """Until the report holds a finished image: the run is well under way, handlers in place.

    The run creates the file before it writes the header, so an empty file (or a last line
    still being written) means "not yet", not a broken report."""

    def copied() -> bool:
        complete = report.read_text().split("\n")[:-1] if report.exists() else []
        return any(json.loads(line).get("result") == "ok" for line in complete[1:])

    wait_for(copied)


@pytest.mark.parametrize(
    ("stop", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)], ids=["SIGTERM", "SIGHUP"]
)
def test_a_termination_signal_stops_the_run_as_ctrl_c_does(slow_pair, tmp_path: Path, stop, exit_code: int) -> None:
    """What Kubernetes, systemd and `timeout` send: uploads cut, summary printed, the report
    complete, an exit code that says which signal."""
    source, target, data = slow_pair
    report = tmp_path / "report.jsonl"
    process = replicator("livecopy", source.url, target.url, "--concurrency", "2", "--report", str(report))
    wait_for_first_copy(report)

    process.send_signal(stop)
    code, stderr = finish(process)

    assert code == exit_code, stderr
    assert f"interrupted ({stop.name})" in stderr and "Traceback" not in stderr
    assert re.search(r"^total\s+\d+", stderr, re.M) and " copied in " in stderr, stderr  # the summary
    settle(target.url)
    active = {image_id for image_id, status in target_statuses(target.url).items() if status == "active"}
    reported = {line["id"] for line in image_lines(report) if line["result"] == "ok"}
    assert reported and reported <= active and len(active) < IMAGES
    assert_target_holds_only_good_data(target.url, data)
    # Every image is in the report, the ones left undone too, and its end says it was cut.
    lines = image_lines(report)
    assert {line["id"] for line in lines} == set(data)
    assert {line["result"] for line in lines} <= {"ok", "interrupted", "not started"}
    assert any(line["result"] == "interrupted" for line in lines), lines  # the one in flight
    closing = end(report)
    assert (closing["outcome"], closing["exit_status"]) == ("interrupted", exit_code)
    assert sum(closing["images"].values()) == len(lines)


def _in_own_pid_namespace() -> bool:
    probe = subprocess.run(["unshare", "--pid", "--fork", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(
    shutil.which("unshare") is None or not _in_own_pid_namespace(),
    reason="needs unshare --pid (root, or user namespaces)",
)
def test_sigterm_stops_the_run_when_it_is_pid_1(slow_pair, tmp_path: Path) -> None:
    """In a pod the replicator is PID 1 (`sh -c "exec replicator ..."`, as in deploy/), and the
    kernel drops every signal PID 1 has no handler for: SIGTERM must still stop it cleanly."""
    source, target, _ = slow_pair
    report = tmp_path / "report.jsonl"
    command = f'exec "{sys.executable}" -m replicator livecopy {source.url} {target.url} -j 2 --report {report}'
    namespace = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--kill-child", "sh", "-c", command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_first_copy(report)
    (pid_1,) = Path(f"/proc/{namespace.pid}/task/{namespace.pid}/children").read_text().split()
    status = Path(f"/proc/{pid_1}/status").read_text().splitlines()
    assert next(line for line in status if line.startswith("NSpid:")).split()[-1] == "1"  # its pid in there

    os.kill(int(pid_1), signal.SIGTERM)
    code, stderr = finish(namespace)

    assert code == 143, stderr
    assert "interrupted (SIGTERM)" in stderr and " copied in " in stderr


def test_dump_killed_mid_run_resumes_skipping_what_is_verified(slow_pair, tmp_path: Path) -> None:
    source, _, data = slow_pair
    dump = tmp_path / "dump"
    process = replicator("dump", source.url, str(dump), "--concurrency", "2")
    wait_for(lambda: any(dump.glob("*.img")))

    process.kill()
    finish(process)

    complete = {path.name[: -len(".img")] for path in dump.glob("*.img")}
    assert 0 < len(complete) < IMAGES
    for image_id in complete:
        assert (
            hashlib.md5((dump / f"{image_id}.img").read_bytes()).hexdigest() == hashlib.md5(data[image_id]).hexdigest()
        )

    source.set_faults(bandwidth=None)
    report = tmp_path / "report.jsonl"
    code, stderr = finish(replicator("dump", source.url, str(dump), "--report", str(report)))
    assert code == 0, stderr
    actions = {line["id"]: line for line in image_lines(report)}
    for image_id, payload in data.items():
        assert (dump / f"{image_id}.img").read_bytes() == payload
        assert (actions[image_id]["result"] == "skipped") == (image_id in complete)
    assert not list(dump.glob("*.part"))


def _limit_file_size() -> None:
    # A file-size limit stands in for a full disk: writes past it fail like ENOSPC does
    # (EFBIG instead), without needing a small filesystem mounted for the test.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024, 1024 * 1024))


def test_dump_onto_a_full_disk_fails_those_images_and_leaves_no_partial_file(serve_one, tmp_path: Path) -> None:
    data = gc.seed_raw_images(serve_one.url, [200_000, 2 * 1024 * 1024, 300_000])
    big = next(image_id for image_id, payload in data.items() if len(payload) > 1024 * 1024)
    dump = tmp_path / "dump"

    code, stderr = finish(replicator("dump", serve_one.url, str(dump), preexec_fn=_limit_file_size))

    assert code == 1
    assert big in stderr and "File too large" in stderr and "Traceback" not in stderr
    assert not (dump / f"{big}.img").exists()
    assert not list(dump.glob("*.part"))
    for image_id in set(data) - {big}:
        assert (dump / f"{image_id}.img").read_bytes() == data[image_id]

    code, stderr = finish(replicator("dump", serve_one.url, str(dump)))
    assert code == 0, stderr
    assert (dump / f"{big}.img").read_bytes() == data[big]
