"""Real Glance on SQLite with many threads cuts parallel uploads and answers "database is locked":
the retry path must still end with every image active and verified, or named with its reason.

The only test that asks for SQLite with many threads: the faults it needs are SQLite's (the
suite's other Glances run on a server database, see `glance_database`)."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from tests.support import glance_client as gc
from tests.support.cli import run
from tests.support.report_file import image_lines


def test_livecopy_at_concurrency_8_into_a_many_threaded_sqlite_glance(real_glance, start_real_glance, tmp_path: Path):
    target = start_real_glance(threads=8, sqlite=True)
    data: dict[str, bytes] = {}
    for index in range(12):
        image_id = str(uuid.uuid4())
        gc.create_image(real_glance.url, id=image_id, name=f"fault-{index}", disk_format="raw", container_format="bare")
        data[image_id] = os.urandom(4 * 1024 * 1024)
        gc.upload(real_glance.url, image_id, data[image_id])

    report = tmp_path / "report.jsonl"
    result = run(
        "livecopy", real_glance.url, target.url, "--concurrency", "8", "--retries", "5", "--report", str(report)
    )
    lines = image_lines(report)
    assert {line["id"] for line in lines} == set(data)
    failed = {line["id"]: line["error"] for line in lines if line["result"] == "failed"}
    for image_id, payload in data.items():
        image = gc.get_image(target.url, image_id)
        if image_id in failed:
            assert failed[image_id] and image_id in result.stderr
            assert image["status"] != "active" or image["checksum"] == hashlib.md5(payload).hexdigest()
        else:
            assert image["status"] == "active", image
            assert image["checksum"] == hashlib.md5(payload).hexdigest()
    assert result.exit_code == (1 if failed else 0)
