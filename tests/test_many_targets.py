"""One source, many targets (`livecopy SOURCE T1 T2 T3`): each image read from the source once
and landed on every target that needs it; each target walked, planned and summed on its own.

The servers are the project's (`replicator serve`, in process), whose `GET /_faults` says how
many bytes of image data each served: the source's count is the proof that each image was read
once, however many targets it went to. Faults are switched on one target at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import glance_client as gc
from tests.support.cli import run
from tests.support.report_file import image_lines
from tests.support.servers import ReplicatorServe

SIZES = (64 * 1024, 300_000, 1_200_000, 2_500_000)


@pytest.fixture
def four(start_serve: Callable[..., ReplicatorServe]) -> tuple[ReplicatorServe, list[ReplicatorServe]]:
    return start_serve(), [start_serve(), start_serve(), start_serve()]


def faithful(url: str, data: dict[str, bytes]) -> None:
    """Every image is on the target, active, with the source's bytes."""
    records = {record["id"]: record for record in gc.list_all(url)}
    for image_id, payload in data.items():
        assert records[image_id]["status"] == "active", records[image_id]
        assert gc.download(url, image_id) == payload
        assert records[image_id]["checksum"] == hashlib.md5(payload).hexdigest()


def served(server: ReplicatorServe) -> int:
    return int(server.faults()["served_bytes"])


def test_three_targets_read_the_source_once(four: tuple[ReplicatorServe, list[ReplicatorServe]], tmp_path: Path):
    source, targets = four
    data = gc.seed_raw_images(source.url, SIZES)
    report = tmp_path / "report.jsonl"

    result = run("livecopy", source.url, *(t.url for t in targets), "--report", str(report))

    assert result.exit_code == 0, result.stderr
    for target in targets:
        faithful(target.url, data)
    assert served(source) == sum(SIZES)
    lines = image_lines(report)
    for target in targets:
        mine = [line for line in lines if line["target"] == target.url]
        assert sorted(line["id"] for line in mine) == sorted(data)
        assert all(line["result"] == "ok" and line["verified"] for line in mine)
    print(result.stderr)
