"""The process around a run (issue 12): termination signals as Kubernetes, systemd and `timeout`
send them, option values that are numbers only in name, Keystone's stray warnings, and the
control paths of `replicator serve`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from tests.support import glance_client as gc
from tests.support.hostile_cli import assert_run_error, describe, environment, replicator, report_entries
from tests.support.hostile_glance import image
from tests.support.inprocess import InProcessServe
from tests.support.servers import ReplicatorServe, free_port

# --- 5. SIGTERM and SIGHUP stop a run as Ctrl-C does ----------------------------------------------

BIG = 24 * 2**20
#: The source sends data at this rate, so the big image is in flight for the better part of a minute.
SOURCE_RATE = "512K"
#: Seconds a stopped run may take to finish its summary; past it, the signal counts as ignored.
STOP_GRACE = 15


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def child_pid(parent: int) -> int:
    """The one child of `parent` (unshare's: the process that is PID 1 in the new namespace)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def report_lines(path: Path) -> int:
    """Images reported so far (the report's first line is its header)."""
    return max(0, len(path.read_text().splitlines()) - 1) if path.exists() else 0


@pytest.fixture
def slow_source(tmp_path: Path) -> Iterator[tuple[ReplicatorServe, set[str], str]]:
    """A source whose downloads trickle at SOURCE_RATE, holding two small images and a big one:
    (server, small ids, big id).

    The server's bandwidth switch paces uploads too, so the images are seeded first and the same
    server folder is then served again with the switch on."""
    folder = tmp_path / "source"
    with InProcessServe(folder) as seeding:
        small = set(gc.seed_raw_images(seeding.url, [10_000, 10_000]))
        [big] = gc.seed_raw_images(seeding.url, [BIG])
    with InProcessServe(folder, extra_args=["--bandwidth", SOURCE_RATE]) as source:
        yield source, small, big


@pytest.mark.server
@pytest.mark.parametrize(
    ("how", "stop", "codes"),
    [
        ("a process", signal.SIGTERM, {143}),
        ("a process", signal.SIGHUP, {129, 143}),
        # A pod's container: the shipped Job runs `sh -c "exec replicator ..."`, so the replicator
        # is PID 1 of its namespace, where a signal without a handler is dropped by the kernel.
        ("PID 1 of a pod", signal.SIGTERM, {143}),
    ],
    ids=["SIGTERM", "SIGHUP", "SIGTERM to PID 1"],
)
def test_a_termination_signal_stops_a_run_as_ctrl_c_does(
    how: str, stop: signal.Signals, codes: set[int], slow_source, serve_one, tmp_path: Path
) -> None:
    source, small, big = slow_source
    target = serve_one
    report = tmp_path / "report.jsonl"
    argv = [sys.executable, "-m", "replicator", "livecopy", source.url, target.url, "-j", "3", "--report", str(report)]
    if how == "PID 1 of a pod":
        argv = ["unshare", "--pid", "--fork", "sh", "-c", 'exec "$0" "$@"', *argv]
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment(), start_new_session=True
    )
    try:
        # The small images are done and reported; the big one is being copied.
        wait_for(lambda: report_lines(report) >= 2, "the small images are reported")
        os.kill(child_pid(process.pid) if how == "PID 1 of a pod" else process.pid, stop)
        try:
            stdout, stderr = process.communicate(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{stop.name} was ignored: the run went on")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    result = subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)
    assert process.returncode in codes, describe(result)
    assert any(line.startswith("total") for line in stderr.splitlines()), f"no summary\n{describe(result)}"
    assert small <= {entry["id"] for entry in report_entries(report)}, describe(result)
    # The upload in flight was cut: the target never holds the big image half written as active.
    wait_for(lambda: gc.get_image(target.url, big)["status"] != "saving", "the target notices the cut", 10)
    assert gc.get_image(target.url, big)["status"] == "queued"


# --- 11. Option values: a number in range, or a usage error ---------------------------------------


@pytest.mark.server
@pytest.mark.parametrize(
    ("command", "option", "value"),
    [
        ("size", "--timeout", "nan"),
        ("size", "--timeout", "inf"),
        ("livecopy", "--timeout", "nan"),
        ("load", "--chunksize", "1T"),
        ("dump", "--chunksize", "1T"),
        ("livecopy", "--chunksize", "1T"),
    ],
)
def test_an_option_value_out_of_range_is_a_usage_error(
    command: str, option: str, value: str, serve_pair, tmp_path: Path
) -> None:
    source, target = serve_pair.source, serve_pair.target
    gc.seed_raw_images(source, [100_000])
    dump = tmp_path / "dump"
    if command == "load":
        dumped = image(os.urandom(100_000))
        dump.mkdir(mode=0o700)
        (dump / dumped.id).write_text(json.dumps(dumped.record))
        (dump / f"{dumped.id}.img").write_bytes(dumped.data)
    args = {
        "size": [source],
        "livecopy": [source, target],
        "load": [target, str(dump)],
        "dump": [source, str(dump)],
    }[command]

    result = replicator(command, *args, option, value)

    assert_run_error(result, option)
    assert gc.list_all(target) == [], "the run went ahead"
    if command == "dump":
        assert not dump.exists() or os.listdir(dump) == []


# --- 12. An unreachable Keystone is one line -------------------------------------------------------


@pytest.mark.server
def test_an_unreachable_keystone_is_one_line(tmp_path: Path) -> None:
    """With the default `password` auth type keystoneauth first tries version discovery and logs
    a warning when Keystone cannot be reached: that line must not reach the user."""
    clouds = tmp_path / "clouds.yaml"
    auth = {
        "auth_url": f"http://127.0.0.1:{free_port()}/v3",
        "username": "admin",
        "password": "secret",
        "project_name": "admin",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
    }
    clouds.write_text(yaml.safe_dump({"clouds": {"test": {"auth_type": "password", "auth": auth}}}))
    clouds.chmod(0o600)  # a password readable by others would add its own warning line
    env = environment(OS_CLIENT_CONFIG_FILE=str(clouds), OS_CLIENT_SECURE_FILE=str(tmp_path / "secure.yaml"))
    result = replicator("size", "--os-cloud", "test", env=env)
    assert_run_error(result)
    assert "secret" not in result.stderr


# --- 6. The server's control paths -----------------------------------------------------------------

ADMIN_TOKEN = "admin-" + uuid.uuid4().hex


def test_serve_has_no_control_paths_unless_started_with_control(start_serve) -> None:
    server = start_serve(control=False)
    image_id = gc.create_image(server.url, id=str(uuid.uuid4()), name="kept")["id"]
    answers = [
        gc.send_json("POST", f"{server.url}/_faults", {"error_rate": 1.0, "error_status": 500}),
        gc.send_json("POST", f"{server.url}/_token", {}),
        gc.request("GET", f"{server.url}/_faults"),
    ]
    assert [answer.status for answer in answers] == [404, 404, 404], [a.text[:200] for a in answers]
    # Nothing was switched on: the server still answers every client as before, without a token.
    for _ in range(5):
        assert gc.request("GET", f"{server.url}/v2/images/{image_id}").status == 200


def test_serve_control_paths_need_the_admin_token_and_valid_values(start_serve) -> None:
    server = start_serve("--control", "--control-token", ADMIN_TOKEN, control=False)
    faults = f"{server.url}/_faults"
    admin = {"X-Auth-Token": ADMIN_TOKEN, "Content-Type": "application/json"}

    for headers in (
        {"Content-Type": "application/json"},
        {"X-Auth-Token": "guess", "Content-Type": "application/json"},
    ):
        refused = gc.request("POST", faults, json.dumps({"error_rate": 1.0}).encode(), headers)
        assert refused.status in (401, 403), (refused.status, refused.text[:200])
        minted = gc.request("POST", f"{server.url}/_token", b"{}", headers)
        assert minted.status in (401, 403), (minted.status, minted.text[:200])

    bad = gc.request("POST", faults, json.dumps({"latency": "abc"}).encode(), admin)
    assert bad.status == 400, (bad.status, bad.text[:200])
    listing = gc.request("GET", f"{server.url}/v2/images", headers={"X-Auth-Token": ADMIN_TOKEN})
    assert listing.status == 200, (listing.status, listing.text[:200])


# --- A token need not sit in argv, where `ps` shows it to every user of the machine -------------

SOURCE_TOKEN, TARGET_TOKEN = "src-" + uuid.uuid4().hex, "tgt-" + uuid.uuid4().hex


@pytest.mark.server
@pytest.mark.parametrize(
    "variables",
    [
        {"REPLICATOR_TOKEN": SOURCE_TOKEN},
        {"OS_TOKEN": SOURCE_TOKEN},
        {"REPLICATOR_SOURCE_TOKEN": SOURCE_TOKEN, "REPLICATOR_TARGET_TOKEN": TARGET_TOKEN},
    ],
    ids=["REPLICATOR_TOKEN", "OS_TOKEN", "REPLICATOR_SOURCE_TOKEN and REPLICATOR_TARGET_TOKEN"],
)
def test_a_token_can_come_from_the_environment(variables: dict[str, str], start_serve) -> None:
    source = start_serve("--token", SOURCE_TOKEN)
    target = start_serve("--token", variables.get("REPLICATOR_TARGET_TOKEN", SOURCE_TOKEN))
    target_token = variables.get("REPLICATOR_TARGET_TOKEN", SOURCE_TOKEN)
    image_id = str(uuid.uuid4())
    body = json.dumps({"id": image_id, "name": "behind-a-token", "disk_format": "raw", "container_format": "bare"})
    created = gc.request(
        "POST",
        f"{source.url}/v2/images",
        body.encode(),
        {"X-Auth-Token": SOURCE_TOKEN, "Content-Type": "application/json"},
    )
    assert created.status == 201, created.text

    result = replicator("livecopy", source.url, target.url, env=environment(**variables))

    assert result.returncode == 0, describe(result)
    copied = gc.request("GET", f"{target.url}/v2/images/{image_id}", headers={"X-Auth-Token": target_token})
    assert copied.status == 200, copied.text
    assert SOURCE_TOKEN not in result.stderr and TARGET_TOKEN not in result.stderr
