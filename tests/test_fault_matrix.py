"""Livecopy through injected faults: each cell ends with every image copied and verified, or
reported failed with its reason, and never a corrupt image on the target.

The faults come from the project's server (`replicator serve`), switched on after the source
is seeded. Each cell also reads the server's fault counters, so a cell whose fault never fired
fails instead of passing for the wrong reason.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support import glance_client as gc
from tests.support.cli import run
from tests.support.report_file import image_lines
from tests.support.servers import ReplicatorServe

SIZES = (64 * 1024, 300_000, 1_200_000, 2_500_000)


@dataclass(frozen=True)
class Cell:
    """One fault, where it is injected, and what the run must end with."""

    source: dict[str, Any] = field(default_factory=dict)
    target: dict[str, Any] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    #: Counters of the faulty server that must have fired: {"drops": 3} means exactly 3.
    fired: dict[str, int] = field(default_factory=dict)
    #: Whether every image must end copied; otherwise failures are allowed but must be reported.
    all_copied: bool = True
    #: Text each failure reason must contain.
    reason: str = ""


CELLS = {
    "download cut mid-stream resumes with Range": Cell(
        source={"drop_after_bytes": 100_000, "drop_count": 3}, fired={"drops": 3}
    ),
    "download stalls past --timeout": Cell(
        source={"stall_seconds": 2.5, "stall_count": 2}, args=("--timeout", "1"), fired={"stalls": 2}
    ),
    "upload cut mid-stream is uploaded again": Cell(
        target={"drop_upload_after_bytes": 200_000, "drop_count": 2}, fired={"upload_drops": 2}
    ),
    "503 with Retry-After from the target": Cell(
        target={"error_rate": 0.3, "error_status": 503, "retry_after": 0.2, "seed": 7},
        args=("--retries", "10"),
    ),
    "500 from the source": Cell(source={"error_rate": 0.3, "error_status": 500, "seed": 3}, args=("--retries", "10")),
    "slow responses on both sides": Cell(source={"latency": 0.05}, target={"latency": 0.05}),
    "bandwidth cap on the source": Cell(source={"bandwidth": 4 * 1024 * 1024}),
    "corrupt download fails that image only": Cell(
        source={"corrupt_after_bytes": 5000, "corrupt_count": 1},
        fired={"corruptions": 1},
        all_copied=False,
        reason="does not match",
    ),
    "403 on direct upload switches to the glance-direct import": Cell(
        target={"error_rate": 1.0, "error_status": 403, "error_paths": ["/file"]},
        # One image at a time: the first upload meets the 403, every later one is staged.
        args=("--concurrency", "1"),
        fired={"errors": 1},
    ),
    "403 on upload and on staging fails each image at once": Cell(
        target={"error_rate": 1.0, "error_status": 403, "error_paths": ["/file", "/stage"]},
        # One at a time, so that the count is exact: the first image meets the 403 on /file and
        # switches the run to the import, which meets it too (two); every later image is staged
        # at once (one each). At -j N, every image in flight when the switch came is staged too.
        args=("--concurrency", "1"),
        fired={"errors": len(SIZES) + 1},
        all_copied=False,
        reason="403",
    ),
    "503 on every upload exhausts the retries": Cell(
        target={"error_rate": 1.0, "error_status": 503, "error_paths": ["/file"]},
        args=("--retries", "2"),
        fired={"errors": len(SIZES) * 3},
        all_copied=False,
        reason="503",
    ),
}


def fired(server: ReplicatorServe) -> dict[str, int]:
    return server.faults()["fired"]


def settled_records(target_url: str, timeout: float = 10.0) -> dict[str, dict[str, Any]]:
    """The target's records once no upload is still `saving`: a server learns that an upload
    was cut when it next reads from the connection, a moment after the client has gone."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            records = {image["id"]: image for image in gc.list_all(target_url)}
        except gc.GlanceError as exc:
            # The target's injected 503s are still on while the test looks: ask again.
            if exc.response.status != 503 or time.monotonic() > deadline:
                raise
            continue
        if all(r["status"] != "saving" for r in records.values()) or time.monotonic() > deadline:
            return records
        time.sleep(0.1)


def assert_nothing_corrupt(target_url: str, data: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    """No target image is active with data other than the source's; returns the target records."""
    records = settled_records(target_url)
    for image_id, payload in data.items():
        record = records.get(image_id)
        if record is not None and record["status"] == "active":
            assert record["checksum"] == hashlib.md5(payload).hexdigest(), record
            assert record["os_hash_value"] == hashlib.sha512(payload).hexdigest(), record
    return records


@pytest.fixture
def pair(start_serve: Callable[..., ReplicatorServe]) -> tuple[ReplicatorServe, ReplicatorServe]:
    return start_serve(), start_serve()


@pytest.mark.parametrize("cell", CELLS.values(), ids=CELLS.keys())
def test_livecopy_through_fault(cell: Cell, pair: tuple[ReplicatorServe, ReplicatorServe], tmp_path: Path) -> None:
    source, target = pair
    data = gc.seed_raw_images(source.url, SIZES)
    for server, switches in ((source, cell.source), (target, cell.target)):
        if switches:
            server.set_faults(**switches)
    report = tmp_path / "report.jsonl"

    result = run("livecopy", source.url, target.url, "--concurrency", "4", "--report", str(report), *cell.args)

    lines = {line["id"]: line for line in image_lines(report)}
    assert set(lines) == set(data)
    records = assert_nothing_corrupt(target.url, data)
    failed = {image_id: line["error"] for image_id, line in lines.items() if line["result"] == "failed"}
    for image_id in data:
        if image_id in failed:
            assert cell.reason in failed[image_id] and failed[image_id] in result.stderr
            assert records[image_id]["status"] == "queued"
        else:
            assert records[image_id]["status"] == "active"
    if cell.all_copied:
        assert not failed, failed
        assert result.exit_code == 0, result.stderr
    else:
        assert failed and result.exit_code == 1
    faulty = source if cell.source else target
    counters = fired(faulty)
    for counter, count in cell.fired.items():
        assert counters.get(counter) == count, counters

    # The faults gone, the same command finishes the job and then has nothing left to do.
    for server in (source, target):
        server.set_faults(
            error_rate=0.0,
            drop_after_bytes=None,
            drop_upload_after_bytes=None,
            corrupt_after_bytes=None,
            stall_seconds=0,
            latency=0,
            bandwidth=None,
        )
    assert run("livecopy", source.url, target.url).exit_code == 0
    records = assert_nothing_corrupt(target.url, data)
    assert all(records[image_id]["status"] == "active" for image_id in data)
    assert run("compare", source.url, target.url).exit_code == 0


def test_expired_static_token_fails_clearly_and_is_never_shown(
    pair: tuple[ReplicatorServe, ReplicatorServe], tmp_path: Path
) -> None:
    """A token that expires mid-run cannot be renewed by us: the run says so, in words that
    never include the token itself (nor does the report)."""
    source, target = pair
    data = gc.seed_raw_images(source.url, SIZES)
    # Long enough for the listing (two pages, member lookups) even on a busy machine; each
    # image then takes three answers of 0.4 s, so the token dies a few images in.
    source.set_faults(token_ttl=2.5, latency=0.4)
    token = source.issue_token()
    report = tmp_path / "report.jsonl"

    result = run(
        "livecopy", source.url, target.url, "--sourcetoken", token, "--concurrency", "1", "--report", str(report)
    )

    # The run stops at the first refusal, with the summary of what it did and one line of why.
    assert result.exit_code == 2, result.stderr
    assert (
        "was refused (401 Unauthorized): it has expired or is wrong, and a static token cannot be renewed"
        in result.stderr
    )
    assert "action   result" in result.stderr
    assert fired(source).get("unauthorized", 0) >= 1
    everything = result.stdout + result.stderr + (report.read_text() if report.exists() else "")
    assert token not in everything
    assert_nothing_corrupt(target.url, data)
    # With a new token, the same command finishes the job.
    source.set_faults(token_ttl=600.0, latency=0)
    fresh = source.issue_token()
    assert run("livecopy", source.url, target.url, "--sourcetoken", fresh).exit_code == 0
    assert all(record["status"] == "active" for record in assert_nothing_corrupt(target.url, data).values())
