"""Keeping a second region in step (issue 17): `livecopy --prune` against running servers, each
guard on its own, and an image deleted from the source while a run copies it.

The hourly mirror as the CronJob runs it, through three "hours", is in `test_deploy.py`.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import glance_client as gc
from tests.support.pairs import ServerPair
from tests.support.report_file import image_lines
from tests.support.servers import ReplicatorServe

MARK = "replicated_by"
PRUNING = ["--prune", "deactivate", "--mark-property", MARK]


def mark_of(source: str) -> str:
    """The mark's value a mirror of `source` gives its copies: it names the source (issue 20)."""
    return f"replicator from Glance at {source}"


def replicator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "replicator", *args], capture_output=True, text=True, timeout=180)


def seed(base: str, count: int, size: int = 1000) -> list[str]:
    """`count` public raw images with random data (public: no member look-ups), their ids."""
    ids = []
    for _ in range(count):
        image_id = str(uuid.uuid4())
        gc.create_image(
            base,
            id=image_id,
            name=f"img-{image_id[:8]}",
            disk_format="raw",
            container_format="bare",
            visibility="public",
        )
        gc.upload(base, image_id, os.urandom(size))
        ids.append(image_id)
    return ids


def status_on(base: str, image_id: str) -> str | None:
    """The image's status, or None when the server has no such image (deleted)."""
    answer = gc.request("GET", f"{base}/v2/images/{image_id}")
    return answer.json()["status"] if answer.status == 200 else None


def report_by_id(path: Path) -> dict[str, dict]:
    return {line["id"]: line for line in image_lines(path)}


def mirrored(pair: ServerPair, count: int = 3) -> list[str]:
    """`count` images on the source, copied to the target with the mark by a first run."""
    ids = seed(pair.source, count)
    first = replicator("livecopy", pair.source, pair.target, *PRUNING)
    assert first.returncode == 0, first.stderr
    assert all(gc.get_image(pair.target, image_id)[MARK] == mark_of(pair.source) for image_id in ids)
    return ids


@pytest.mark.server
def test_an_image_deleted_on_the_source_is_deactivated_on_the_target_and_said_why(
    serve_pair: ServerPair, tmp_path: Path
) -> None:
    kept, gone = mirrored(serve_pair, 2)
    gc.delete(serve_pair.source, gone)
    report = tmp_path / "run.jsonl"
    completed = replicator("livecopy", serve_pair.source, serve_pair.target, *PRUNING, "--report", str(report))
    assert completed.returncode == 0, completed.stderr
    assert status_on(serve_pair.target, gone) == "deactivated"
    assert status_on(serve_pair.target, kept) == "active"
    line = report_by_id(report)[gone]
    assert (line["action"], line["result"]) == ("prune", "ok")
    assert line["reason"] == "gone from the source: deactivated"
    # The summary names it too (with --quiet as well, as a scheduled run is).
    assert f"1 pruned:\n  {gone} " in completed.stderr
    again = replicator("livecopy", serve_pair.source, serve_pair.target, *PRUNING, "--report", str(report))
    assert again.returncode == 0, again.stderr
    assert report_by_id(report)[gone]["reason"] == "gone from the source; already deactivated"


@pytest.mark.server
def test_a_protected_image_is_never_pruned(serve_pair: ServerPair, tmp_path: Path) -> None:
    protected, plain = mirrored(serve_pair, 2)
    gc.patch(serve_pair.target, protected, [{"op": "replace", "path": "/protected", "value": True}])
    for image_id in (protected, plain):
        gc.delete(serve_pair.source, image_id)
    report = tmp_path / "run.jsonl"
    for mode in ("deactivate", "delete"):
        completed = replicator(
            "livecopy", serve_pair.source, serve_pair.target, "--prune", mode, "--mark-property", MARK,
            "--report", str(report),
        )  # fmt: skip
        assert completed.returncode == 0, completed.stderr
        assert status_on(serve_pair.target, protected) == "active"
        line = report_by_id(report)[protected]
        assert (line["action"], line["result"]) == ("skip", "skipped")
        assert line["reason"] == "gone from the source; protected: never pruned"
    assert status_on(serve_pair.target, plain) is None  # deactivated, then deleted: the guard held only one


@pytest.mark.server
def test_more_than_max_prune_prunes_nothing_exits_2_names_the_count_and_still_copies(
    serve_pair: ServerPair, tmp_path: Path
) -> None:
    ids = mirrored(serve_pair, 4)
    gone = ids[:3]
    for image_id in gone:
        gc.delete(serve_pair.source, image_id)
    (new,) = seed(serve_pair.source, 1)
    report = tmp_path / "run.jsonl"
    completed = replicator(
        "livecopy", serve_pair.source, serve_pair.target, *PRUNING, "--max-prune", "2", "--report", str(report)
    )
    assert completed.returncode == 2, completed.stderr
    error = completed.stderr.strip().splitlines()[-1]
    assert error.startswith("replicator: error: 3 target images would be pruned")
    assert "more than the 2 a run may prune: none was pruned" in error
    assert all(status_on(serve_pair.target, image_id) == "active" for image_id in gone)
    # The copies of the run were done all the same.
    assert gc.download(serve_pair.target, new) == gc.download(serve_pair.source, new)
    lines = report_by_id(report)
    assert (lines[new]["action"], lines[new]["result"]) == ("create", "ok")
    for image_id in gone:
        assert (lines[image_id]["action"], lines[image_id]["result"]) == ("prune", "skipped")
        assert "not pruned: this run would prune more images than the 2 a run may prune" in lines[image_id]["reason"]

    dry = replicator("livecopy", serve_pair.source, serve_pair.target, *PRUNING, "--max-prune", "2", "--dry-run")
    assert dry.returncode == 2, dry.stderr  # as the run ends
    assert "3 images would be pruned, more than --max-prune 2: a run would prune none of them" in dry.stdout
    assert all(f"prune    {image_id} " in dry.stdout for image_id in gone)

    allowed = replicator("livecopy", serve_pair.source, serve_pair.target, *PRUNING, "--max-prune", "3")
    assert allowed.returncode == 0, allowed.stderr
    assert all(status_on(serve_pair.target, image_id) == "deactivated" for image_id in gone)


def seed_passing_first(passes: int, fails: int, rate: float) -> int:
    """A seed for the server's error dice (one `random.Random(seed).random()` draw per request
    on the faulted paths) with which the first `passes` requests are answered and the `fails`
    after them get the injected error."""
    for candidate in range(100_000):
        dice = random.Random(candidate)
        draws = [dice.random() for _ in range(passes + fails)]
        if all(draw >= rate for draw in draws[:passes]) and all(draw < rate for draw in draws[passes:]):
            return candidate
    raise AssertionError("no such seed")


@pytest.fixture
def paged_pair(start_serve) -> Iterator[ServerPair]:
    """A source that lists two images a page, and a target."""
    yield ServerPair(start_serve("--page-cap", "2"), start_serve())


@pytest.mark.server
def test_a_source_listing_that_fails_midway_prunes_nothing(paged_pair: ServerPair) -> None:
    ids = mirrored(paged_pair, 5)
    gone = ids[0]
    gc.delete(paged_pair.source, gone)
    source = paged_pair.source_server
    assert isinstance(source, ReplicatorServe)
    # The listing's first page (and the one page of hidden images) is answered; every request
    # on the listing after it fails, retries included.
    source.set_faults(error_paths=["/v2/images"], error_rate=0.5, seed=seed_passing_first(2, 8, 0.5))
    completed = replicator("livecopy", paged_pair.source, paged_pair.target, *PRUNING, "--retries", "3")
    assert completed.returncode == 2, completed.stderr
    assert "list images on" in completed.stderr
    assert source.faults()["fired"]["errors"] == 4  # the second page, tried four times
    assert status_on(paged_pair.target, gone) == "active"

    source.set_faults(error_rate=0)
    completed = replicator("livecopy", paged_pair.source, paged_pair.target, *PRUNING)
    assert completed.returncode == 0, completed.stderr
    assert status_on(paged_pair.target, gone) == "deactivated"


@pytest.mark.server
def test_images_the_replicator_did_not_create_are_pruned_only_with_prune_existing(
    serve_pair: ServerPair, tmp_path: Path
) -> None:
    """The first run against a target that holds images already (an earlier migration, made by
    hand): they carry no mark, and only --prune-existing prunes them."""
    theirs = seed(serve_pair.target, 2)
    ours = seed(serve_pair.source, 1)
    report = tmp_path / "run.jsonl"
    completed = replicator("livecopy", serve_pair.source, serve_pair.target, *PRUNING, "--report", str(report))
    assert completed.returncode == 0, completed.stderr
    assert all(status_on(serve_pair.target, image_id) == "active" for image_id in theirs)
    lines = report_by_id(report)
    assert all(
        lines[image_id]["reason"] == "gone from the source; not created by the replicator (no mark): not pruned"
        for image_id in theirs
    )
    assert lines[ours[0]]["result"] == "ok"

    completed = replicator("livecopy", serve_pair.source, serve_pair.target, *PRUNING, "--prune-existing")
    assert completed.returncode == 0, completed.stderr
    assert all(status_on(serve_pair.target, image_id) == "deactivated" for image_id in theirs)
    assert status_on(serve_pair.target, ours[0]) == "active"


@pytest.mark.server
def test_prune_without_a_mark_or_prune_existing_is_a_usage_error(serve_pair: ServerPair) -> None:
    """Such a run could never prune anything: said before anything is contacted."""
    completed = replicator("livecopy", serve_pair.source, serve_pair.target, "--prune", "deactivate")
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [
        "replicator: error: --prune prunes only images a run marked with --mark-property NAME (give it on every "
        "run, from the first), or, with --prune-existing, any image"
    ]


@pytest.mark.server
@pytest.mark.parametrize("name", ["name", "visibility", "os_glance_mark", " pad", "members"])
def test_a_mark_property_glance_gives_a_meaning_to_is_refused(serve_pair: ServerPair, name: str) -> None:
    completed = replicator("livecopy", serve_pair.source, serve_pair.target, *PRUNING[:2], "--mark-property", name)
    assert completed.returncode == 2
    assert completed.stderr.startswith("replicator: error: --mark-property")
    assert gc.list_all(serve_pair.target) == []


@pytest.mark.server
def test_dry_run_compare_summary_and_report_name_each_image_and_why(serve_pair: ServerPair, tmp_path: Path) -> None:
    first, second, protected, kept = mirrored(serve_pair, 4)
    gc.patch(serve_pair.target, protected, [{"op": "replace", "path": "/protected", "value": True}])
    (theirs,) = seed(serve_pair.target, 1)
    for image_id in (first, second, protected):
        gc.delete(serve_pair.source, image_id)
    why = {
        first: "gone from the source: to be deactivated",
        second: "gone from the source: to be deactivated",
        protected: "gone from the source; protected: never pruned",
        theirs: "gone from the source; not created by the replicator (no mark): not pruned",
    }

    dry = replicator("livecopy", serve_pair.source, serve_pair.target, *PRUNING, "--dry-run", "-v")
    assert dry.returncode == 0, dry.stderr
    for image_id, reason in why.items():
        kind = "prune" if image_id in (first, second) else "skip"
        assert f"{kind:<8} {image_id} " in dry.stdout and reason in dry.stdout
    assert "plan: 0 of 1 images need work, 0.0 B to copy; 2 target images to prune (dry run" in dry.stdout
    assert status_on(serve_pair.target, first) == "active"  # a dry run changes nothing

    compared = replicator("compare", serve_pair.source, serve_pair.target, *PRUNING, "--json")
    assert compared.returncode == 1
    entries = {entry["id"]: entry for entry in json.loads(compared.stdout)["images"]}
    assert {image_id: (entry["status"], entry["reason"]) for image_id, entry in entries.items()} == {
        image_id: ("extra", reason) for image_id, reason in why.items()
    }
    text = replicator("compare", serve_pair.source, serve_pair.target, *PRUNING).stdout
    assert all(f"extra     {image_id} " in text for image_id in why)
    assert "1 images compared: 0 missing, 0 different, 1 identical; 4 on the target only" in text

    report = tmp_path / "run.jsonl"
    completed = replicator(
        "livecopy", serve_pair.source, serve_pair.target, *PRUNING, "--quiet", "--report", str(report)
    )
    assert completed.returncode == 0, completed.stderr
    lines = report_by_id(report)
    done = {image_id: reason.replace("to be deactivated", "deactivated") for image_id, reason in why.items()}
    assert {image_id: lines[image_id]["reason"] for image_id in why} == done  # carried out: no "to be"
    assert "to be" not in completed.stderr
    assert lines[kept]["reason"] == "identical"  # the mark is neither copied nor compared
    pruned = completed.stderr[completed.stderr.index("2 pruned:") :].splitlines()[1:3]
    assert sorted(line.split()[0] for line in pruned) == sorted([first, second])

    # Pruned, the mirror is in step: what is left on the target only is no difference.
    after = replicator("compare", serve_pair.source, serve_pair.target, *PRUNING)
    assert after.returncode == 1  # the protected image and the one not ours remain differences
    assert f"extra     {first} " not in after.stdout and f"extra     {protected} " in after.stdout


@pytest.mark.server
def test_prune_delete_deletes(serve_pair: ServerPair, tmp_path: Path) -> None:
    kept, gone = mirrored(serve_pair, 2)
    gc.delete(serve_pair.source, gone)
    report = tmp_path / "run.jsonl"
    completed = replicator(
        "livecopy", serve_pair.source, serve_pair.target, "--prune", "delete", "--mark-property", MARK,
        "--report", str(report),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert status_on(serve_pair.target, gone) is None
    assert status_on(serve_pair.target, kept) == "active"
    line = report_by_id(report)[gone]
    assert (line["action"], line["result"], line["reason"]) == ("prune", "ok", "gone from the source: deleted")


@pytest.mark.server
def test_a_run_without_the_mark_option_keeps_the_marks(serve_pair: ServerPair) -> None:
    """A one-off copy by hand, without --mark-property, would otherwise remove the mark as a
    property the source lacks, and the image could never be pruned again."""
    kept, gone = mirrored(serve_pair, 2)
    plain = replicator("livecopy", serve_pair.source, serve_pair.target)
    assert plain.returncode == 0, plain.stderr
    assert "update" not in plain.stderr
    assert gc.get_image(serve_pair.target, kept)[MARK] == mark_of(serve_pair.source)
    gc.delete(serve_pair.source, gone)
    assert replicator("livecopy", serve_pair.source, serve_pair.target, *PRUNING).returncode == 0
    assert status_on(serve_pair.target, gone) == "deactivated"


@pytest.mark.server
def test_an_empty_record_left_on_the_target_is_deleted_not_deactivated(serve_pair: ServerPair) -> None:
    """Glance deactivates only an image with data: a marked record that never got its data
    (its upload cut, its source deleted since) holds nothing to keep."""
    empty = str(uuid.uuid4())
    gc.create_image(
        serve_pair.target,
        id=empty,
        name="left",
        disk_format="raw",
        container_format="bare",
        **{MARK: mark_of(serve_pair.source)},
    )
    completed = replicator("livecopy", serve_pair.source, serve_pair.target, *PRUNING)
    assert completed.returncode == 0, completed.stderr
    assert status_on(serve_pair.target, empty) is None


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


@pytest.mark.server
def test_an_image_deleted_on_the_source_during_its_copy_leaves_nothing_behind(
    serve_pair: ServerPair, tmp_path: Path
) -> None:
    """One image is deleted while it streams (the server sends the file to its end all the
    same, as Glance's file store does), the other while it waits for its turn: neither is left
    on the target, not as a copy, not as an empty record, and the report says so."""
    ids = seed(serve_pair.source, 2, size=300_000)
    streaming, waiting = sorted(ids)  # one at a time, in id order
    source = serve_pair.source_server
    assert isinstance(source, ReplicatorServe)
    source.set_faults(bandwidth=100_000)
    report = tmp_path / "run.jsonl"
    run = subprocess.Popen(
        [sys.executable, "-m", "replicator", "livecopy", serve_pair.source, serve_pair.target, *PRUNING,
         "--concurrency", "1", "--report", str(report)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: status_on(serve_pair.target, streaming) == "saving", "the first upload to start")
        for image_id in ids:
            gc.delete(serve_pair.source, image_id)
        _, stderr = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 0, stderr
    assert [status_on(serve_pair.target, image_id) for image_id in ids] == [None, None]
    assert gc.list_all(serve_pair.target) == []
    lines = report_by_id(report)
    # A removal is a destructive act like a prune (issue 20): confirmed by the source, counted
    # toward --max-prune, reported as a prune and named in the summary.
    assert {(lines[i]["action"], lines[i]["result"]) for i in (streaming, waiting)} == {("prune", "ok")}
    assert "2 pruned:" in stderr
    assert (
        "the source image was deleted during the run: the copy this run created for it was removed"
        in (lines[streaming]["reason"])
    )
    assert (
        "the source image was deleted during the run: the empty record this run created for it was removed"
        in (lines[waiting]["reason"])
    )


def test_real_glance_a_marked_image_deleted_on_the_source_is_deactivated(real_glance_pair: ServerPair) -> None:
    kept, gone = mirrored(real_glance_pair, 2)
    gc.delete(real_glance_pair.source, gone)
    completed = replicator("livecopy", real_glance_pair.source, real_glance_pair.target, *PRUNING)
    assert completed.returncode == 0, completed.stderr
    assert status_on(real_glance_pair.target, gone) == "deactivated"
    assert status_on(real_glance_pair.target, kept) == "active"
