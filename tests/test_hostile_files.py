"""Files someone else left where the replicator reads or writes (issue 20): FIFOs named like a
dump's records or like `--report` and `--metrics-file` (opening one would hang the run), a huge
sparse record, a dump directory in `/tmp`'s mode, a record file another user wrote, a report
path that is a symlink. Each is refused or passed over at once, never followed, never waited on.
"""

from __future__ import annotations

import json
import os
import stat
import uuid
from pathlib import Path

import pytest

from tests.support import glance_client as gc
from tests.support.hostile_cli import assert_run_error, replicator
from tests.support.hostile_glance import DribblingListing, image

TIMEOUT = 60.0  # a hang is what is tested: it fails the test instead of holding it

#: The CLI runs as a process here.
pytestmark = pytest.mark.server


def dump_of(folder: Path, count: int = 1) -> list[str]:
    """A dump of `count` small active images in `folder` (owner-only), their ids."""
    folder.mkdir(mode=0o700, exist_ok=True)
    ids = []
    for _ in range(count):
        each = image(os.urandom(2000))
        (folder / each.id).write_text(json.dumps(each.record))
        (folder / f"{each.id}.img").write_bytes(each.data)
        ids.append(each.id)
    return ids


def test_a_fifo_named_like_a_record_or_its_data_is_passed_over(serve_one, tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    (good,) = dump_of(dump)
    planted = str(uuid.uuid4())
    os.mkfifo(dump / planted)
    os.mkfifo(dump / f"{planted}.img")
    result = replicator("load", serve_one.url, str(dump), timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert [entry["id"] for entry in gc.list_all(serve_one.url)] == [good]
    result = replicator("dump", serve_one.url, str(dump), timeout=TIMEOUT)  # dumping into it walks it too
    assert result.returncode == 0, result.stderr


def test_a_huge_sparse_record_is_refused_before_it_is_read(serve_one, tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    dump_of(dump)
    huge = str(uuid.uuid4())
    with open(dump / huge, "wb") as stream:
        stream.truncate(2**40)  # a terabyte that takes no disk
    result = replicator("load", serve_one.url, str(dump), timeout=TIMEOUT)
    assert_run_error(result, huge, "larger than any image record")
    assert huge not in {entry["id"] for entry in gc.list_all(serve_one.url)}


def test_a_dump_directory_in_the_mode_of_tmp_is_refused(serve_one, tmp_path: Path) -> None:
    """Sticky and writable by all: others cannot remove our files, but can add records under
    the names of images not written yet, which a load would take with admin rights."""
    dump = tmp_path / "shared"
    dump_of(dump)
    dump.chmod(0o1777)
    for command in ("load", "dump"):
        assert_run_error(replicator(command, serve_one.url, str(dump), timeout=TIMEOUT), str(dump))
    assert gc.list_all(serve_one.url) == []


@pytest.mark.skipif(os.getuid() != 0, reason="giving a file to another user needs root")
def test_a_record_file_of_another_user_is_refused(serve_one, tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    (theirs,) = dump_of(dump)
    os.chown(dump / theirs, 4242, 4242)
    assert_run_error(replicator("load", serve_one.url, str(dump), timeout=TIMEOUT), theirs, "another user")
    assert gc.list_all(serve_one.url) == []


def test_a_fifo_at_report_or_metrics_file_never_holds_the_start(serve_pair, tmp_path: Path) -> None:
    report, metrics = tmp_path / "run.jsonl", tmp_path / "run.prom"
    os.mkfifo(report)
    result = replicator("livecopy", serve_pair.source, serve_pair.target, "--report", str(report), timeout=TIMEOUT)
    assert_run_error(result, str(report))
    os.unlink(report)
    os.mkfifo(metrics)
    result = replicator(
        "livecopy", serve_pair.source, serve_pair.target, "--metrics-file", str(metrics), timeout=TIMEOUT
    )
    assert result.returncode == 0, result.stderr
    assert stat.S_ISREG(metrics.lstat().st_mode)  # replaced by the run's numbers, never read


def test_the_report_is_owner_only_and_never_written_through_a_symlink(serve_pair, tmp_path: Path) -> None:
    report = tmp_path / "run.jsonl"
    assert replicator("livecopy", serve_pair.source, serve_pair.target, "--report", str(report)).returncode == 0
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("kept\n")
    report.unlink()
    report.symlink_to(elsewhere)
    result = replicator("livecopy", serve_pair.source, serve_pair.target, "--report", str(report))
    assert_run_error(result, str(report))
    assert elsewhere.read_text() == "kept\n"


def test_a_listing_sent_one_byte_at_a_time_ends_at_the_answer_deadline(tmp_path: Path) -> None:
    """Every read gets a byte within `--timeout`, and the listing would take many minutes: the
    answer's own deadline (5 x --timeout) ends it with one line."""
    with DribblingListing([image(os.urandom(100)) for _ in range(3)]) as source:
        result = replicator("size", source.url, "--timeout", "1", "--retries", "0", timeout=TIMEOUT)
    assert_run_error(result, "did not send its whole answer within 5 s")
