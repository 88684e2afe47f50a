"""Nothing destroyed on one word (issue 20): ids exact, every deletion confirmed by the source's
own API, only our own images written into, and the mark naming the mirror.

Each test performs the attack: a tenant's case-twin of an image on a real Glance, a proxy that
answers HTML 404 pages in front of a real Glance source, a target tenant's image created first
under the source's id, a second mirror writing into the same target.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest

from replicator.model.records import ImageRecord
from replicator.stores.glance.core import merge_by_id
from tests.support import glance_client as gc
from tests.support.hostile_glance import HidingTarget, IngressNotFound, SlowDestruction
from tests.support.pairs import ServerPair
from tests.support.report_file import image_lines
from tests.support.servers import ReplicatorServe

MARK = "replicated_by"

#: The CLI runs as a process here.
pytestmark = pytest.mark.server


def replicator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "replicator", *args], capture_output=True, text=True, timeout=300)


def mark_of(source: str) -> str:
    return f"replicator from Glance at {source}"


def seed(base: str, count: int, size: int = 1000, **fields: Any) -> list[str]:
    """`count` public raw images with random data, their ids."""
    ids = []
    for _ in range(count):
        image_id = str(uuid.uuid4())
        gc.create_image(
            base, id=image_id, name=f"img-{image_id[:8]}", disk_format="raw", container_format="bare",
            visibility="public", **fields,
        )  # fmt: skip
        gc.upload(base, image_id, os.urandom(size))
        ids.append(image_id)
    return ids


def twin_of(image_id: str) -> str:
    """The same id with its first hex letter upper-cased: a UUID Glance's schema accepts."""
    index = next(i for i, c in enumerate(image_id) if c in "abcdef")
    return image_id[:index] + image_id[index].upper() + image_id[index + 1 :]


def status_on(base: str, image_id: str) -> str | None:
    answer = gc.request("GET", f"{base}/v2/images/{image_id}")
    return answer.json()["status"] if answer.status == 200 else None


def report_by_id(path: Path) -> dict[str, dict]:
    return {line["id"]: line for line in image_lines(path)}


def in_step(pair: ServerPair, ids: list[str]) -> None:
    """Every image of `ids` is on the target, active, with the source's bytes."""
    for image_id in ids:
        assert status_on(pair.target, image_id) == "active", image_id
        assert gc.download(pair.target, image_id) == gc.download(pair.source, image_id)


# 1. Ids are equal only when byte-equal.


async def _listing(*ids: str) -> AsyncGenerator[ImageRecord, None]:
    for image_id in ids:
        yield ImageRecord(id=image_id, status="active", attributes={})


async def test_a_case_twin_is_another_image_and_a_repeat_is_given_once():
    low = "2d3eef64-fa5f-41cd-864a-8270763fc8ac"
    twin, before, after = twin_of(low), "1" + low[1:], "3" + low[1:]
    # Byte order puts the twin first (SQLite, PostgreSQL); the other listing repeats two ids.
    merged = [r.id async for r in merge_by_id(_listing(twin, low, after), _listing(before, low, twin))]
    assert sorted(merged) == sorted([twin, before, low, after])
    lower = [image_id for image_id in merged if image_id == image_id.lower()]
    assert lower == sorted(lower)  # the march walks these in order: a twin never holds them back


def test_real_glance_a_tenants_case_twin_neither_hides_nor_prunes_the_image(
    real_glance_pair: ServerPair, tmp_path: Path
) -> None:
    """Glance takes a caller-chosen id: a tenant creates one that differs from a public image's
    only in case. Both are images, on the source walk, in compare, size and dump, and on the
    target; the victim's copy is never pruned."""
    (victim,) = seed(real_glance_pair.source, 1)
    twin = twin_of(victim)
    gc.create_image(real_glance_pair.source, id=twin, name="twin", disk_format="raw", container_format="bare")
    gc.upload(real_glance_pair.source, twin, b"the tenant's")
    pruning = ("--prune", "delete", "--mark-property", MARK, "--max-prune", "100")
    for _ in range(2):
        report = tmp_path / "run.jsonl"
        run = replicator(
            "livecopy", real_glance_pair.source, real_glance_pair.target, *pruning, "--report", str(report)
        )
        assert run.returncode == 0, run.stderr
        assert set(report_by_id(report)) == {victim, twin}
        in_step(real_glance_pair, [victim, twin])
    assert report_by_id(report)[victim]["reason"] == "identical"

    compared = replicator("compare", real_glance_pair.source, real_glance_pair.target, *pruning, "--json")
    assert compared.returncode == 0, compared.stdout + compared.stderr
    size = replicator("size", real_glance_pair.source, "--json")
    assert json.loads(size.stdout)["images"] == 2, size.stdout
    dumped = tmp_path / "dump"
    assert replicator("dump", real_glance_pair.source, str(dumped)).returncode == 0
    assert {victim, twin} <= set(os.listdir(dumped))


def test_real_glance_a_twin_on_the_target_does_not_block_the_image(real_glance_pair: ServerPair) -> None:
    """A target tenant creates the case-twin of a source image's id before the mirror copies it:
    the image is copied all the same, and a deactivation on the source reaches its copy."""
    (victim,) = seed(real_glance_pair.source, 1)
    gc.create_image(
        real_glance_pair.target, id=twin_of(victim), name="twin", disk_format="raw", container_format="bare"
    )
    first = replicator("livecopy", real_glance_pair.source, real_glance_pair.target, "--mark-property", MARK)
    assert first.returncode == 0, first.stderr
    in_step(real_glance_pair, [victim])
    gc.deactivate(real_glance_pair.source, victim)
    second = replicator("livecopy", real_glance_pair.source, real_glance_pair.target, "--mark-property", MARK)
    assert second.returncode == 0, second.stderr
    assert status_on(real_glance_pair.target, victim) == "deactivated"
    assert status_on(real_glance_pair.target, twin_of(victim)) == "queued"  # the tenant's, untouched


# 2. and the rule: no deletion or deactivation on one answer.


def test_real_glance_html_404s_from_a_proxy_burn_no_id(real_glance_pair: ServerPair, tmp_path: Path) -> None:
    """A proxy in front of the source answers its own HTML 404 to every GET of a record (and,
    for some, of the data): no copy is deleted, no id burnt, and a rerun without it is in step."""
    ids = seed(real_glance_pair.source, 15)
    with IngressNotFound(real_glance_pair.source) as records_lost:
        run = replicator("livecopy", records_lost.url, real_glance_pair.target, "--mark-property", MARK)
    assert run.returncode == 0, run.stderr
    in_step(real_glance_pair, ids)
    assert "pruned" not in run.stderr

    more = seed(real_glance_pair.source, 3)
    report = tmp_path / "run.jsonl"
    with IngressNotFound(real_glance_pair.source, downloads=True) as all_lost:
        run = replicator(
            "livecopy", all_lost.url, real_glance_pair.target, "--mark-property", MARK, "--report", str(report)
        )
    assert run.returncode == 1, run.stderr  # the three downloads failed, and nothing else happened
    lines = report_by_id(report)
    assert {lines[image_id]["result"] for image_id in more} == {"failed"}
    # Kept, to be filled: queued once Glance has settled the uploads the failed downloads cut
    # (the worker that took one resets it to queued, maybe after our run has ended).
    deadline = time.monotonic() + 30
    while (
        "saving" in (statuses := [status_on(real_glance_pair.target, i) for i in more]) and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    assert statuses == ["queued"] * len(more), statuses
    rerun = replicator("livecopy", real_glance_pair.source, real_glance_pair.target, "--mark-property", MARK)
    assert rerun.returncode == 0, rerun.stderr
    in_step(real_glance_pair, ids + more)


def test_real_glance_a_short_listing_and_html_404s_prune_nothing(real_glance_pair: ServerPair, tmp_path: Path) -> None:
    """The source's listing leaves images out for a while and its records answer HTML 404s: the
    listing alone and a page from a proxy are no proof, so nothing is pruned, and each is said.
    (A real deletion, confirmed by Glance's own 404: `test_mirror`.)"""
    ids = seed(real_glance_pair.source, 4)
    pruning = ("--prune", "delete", "--mark-property", MARK, "--max-prune", "100")
    report = tmp_path / "run.jsonl"
    with IngressNotFound(real_glance_pair.source) as proxy:  # one mirror: its address names it
        assert replicator("livecopy", proxy.url, real_glance_pair.target, *pruning).returncode == 0
        proxy.hidden.update(ids)
        run = replicator("livecopy", proxy.url, real_glance_pair.target, *pruning, "--report", str(report))
    assert run.returncode == 0, run.stderr
    in_step(real_glance_pair, ids)
    for image_id in ids:
        line = report_by_id(report)[image_id]
        assert (line["action"], line["result"]) == ("prune", "skipped")
        assert "not pruned: the source did not confirm it is gone" in line["reason"]
    assert "pruned:" not in run.stderr


def test_a_listing_short_for_a_while_prunes_nothing_on_serve(serve_pair: ServerPair, tmp_path: Path) -> None:
    """The image is still there when asked for (a listing of the moment left it out)."""
    ids = seed(serve_pair.source, 2)
    pruning = ("--prune", "deactivate", "--mark-property", MARK)
    report = tmp_path / "run.jsonl"
    with HidingTarget(serve_pair.source, set()) as source:
        assert replicator("livecopy", source.url, serve_pair.target, *pruning).returncode == 0
        source.hidden.add(ids[0])
        run = replicator("livecopy", source.url, serve_pair.target, *pruning, "--report", str(report))
    assert run.returncode == 0, run.stderr
    assert status_on(serve_pair.target, ids[0]) == "active"
    assert "not pruned: the source did not confirm it is gone" in report_by_id(report)[ids[0]]["reason"]


# 3. Data and metadata only into images that are ours.


def test_real_glance_a_target_tenants_image_under_the_source_id_is_never_filled(
    real_glance_pair: ServerPair, tmp_path: Path
) -> None:
    """A target project creates an empty image under a private source image's id first: neither
    the data nor the metadata go into it, with or without `-D owner`, listed or not; each run
    says so for that image."""
    secret = str(uuid.uuid4())
    gc.create_image(
        real_glance_pair.source, id=secret, name="secret", disk_format="raw", container_format="bare",
        visibility="private", owner="p-source", classified="yes",
    )  # fmt: skip
    gc.upload(real_glance_pair.source, secret, b"private bytes" * 100)
    gc.create_image(
        real_glance_pair.target, id=secret, name="bait", disk_format="raw", container_format="bare",
        visibility="private", owner="p-tenant",
    )  # fmt: skip
    report = tmp_path / "run.jsonl"
    for extra in ([], ["-D", "owner"]):
        run = replicator("livecopy", real_glance_pair.source, real_glance_pair.target, *extra, "--report", str(report))
        assert run.returncode == 1, run.stderr
        line = report_by_id(report)[secret]
        assert (line["action"], line["result"]) == ("problem", "failed")
        assert "owned by p-tenant" in line["reason"] and "not ours" in line["reason"]
    with HidingTarget(real_glance_pair.target, {secret}) as unlisted:  # as another project's private image
        run = replicator("livecopy", real_glance_pair.source, unlisted.url, "-D", "owner", "--report", str(report))
    assert run.returncode == 1, run.stderr
    line = report_by_id(report)[secret]
    assert "the id is taken on the target" in line["error"] and "no mark of this mirror" in line["error"]
    bait = gc.get_image(real_glance_pair.target, secret)
    assert (bait["status"], bait["name"], bait["owner"], bait.get("classified")) == ("queued", "bait", "p-tenant", None)


# 4. The mark names the mirror.


def test_two_mirrors_into_one_target_prune_only_their_own_copies(start_serve, tmp_path: Path) -> None:
    first, second, target = start_serve(), start_serve(), start_serve()
    mine, theirs = seed(first.url, 1)[0], seed(second.url, 1)[0]
    pruning = ("--prune", "deactivate", "--mark-property", MARK)
    for source in (first, second):
        assert replicator("livecopy", source.url, target.url, *pruning).returncode == 0
    assert gc.get_image(target.url, theirs)[MARK] == mark_of(second.url)
    report = tmp_path / "run.jsonl"
    run = replicator("livecopy", first.url, target.url, *pruning, "--report", str(report))
    assert run.returncode == 0, run.stderr
    assert status_on(target.url, theirs) == "active"
    assert report_by_id(report)[theirs]["reason"] == (
        "gone from the source; marked by another mirror (its mark names another source): not pruned"
    )
    gc.delete(first.url, mine)
    assert replicator("livecopy", first.url, target.url, *pruning).returncode == 0
    assert status_on(target.url, mine) == "deactivated"
    assert status_on(target.url, theirs) == "active"


def test_an_older_replicators_mark_is_renamed_on_copies_of_this_source_and_else_not_pruned(
    serve_pair: ServerPair, tmp_path: Path
) -> None:
    """A copy marked `replicator` (no source named) whose image this source has takes this
    mirror's mark; one this source lacks is left, said why (it may be another mirror's)."""
    kept, unknown = seed(serve_pair.source, 1)[0], seed(serve_pair.target, 1, 1000, **{MARK: "replicator"})[0]
    assert replicator("livecopy", serve_pair.source, serve_pair.target).returncode == 0
    gc.patch(serve_pair.target, kept, [{"op": "add", "path": f"/{MARK}", "value": "replicator"}])
    report = tmp_path / "run.jsonl"
    pruning = ("--prune", "deactivate", "--mark-property", MARK)
    run = replicator("livecopy", serve_pair.source, serve_pair.target, *pruning, "--report", str(report))
    assert run.returncode == 0, run.stderr
    assert gc.get_image(serve_pair.target, kept)[MARK] == mark_of(serve_pair.source)
    assert status_on(serve_pair.target, unknown) == "active"
    assert report_by_id(report)[unknown]["reason"] == (
        "gone from the source; its mark names no source (an older replicator's): not pruned"
    )


def test_a_stop_signal_never_leaves_a_deletion_in_flight_unreported(serve_pair: ServerPair, tmp_path: Path) -> None:
    """SIGTERM while the target holds a DELETE: the deletion is seen to its end and is in the
    report, so what the run did to the target is always known."""
    ids = seed(serve_pair.source, 2)
    pruning = ("--prune", "delete", "--mark-property", MARK, "--concurrency", "1")
    assert replicator("livecopy", serve_pair.source, serve_pair.target, *pruning).returncode == 0
    for image_id in ids:
        gc.delete(serve_pair.source, image_id)
    report = tmp_path / "run.jsonl"
    with SlowDestruction(serve_pair.target, seconds=2.0) as target:
        run = subprocess.Popen(
            [sys.executable, "-m", "replicator", "livecopy", serve_pair.source, target.url, *pruning,
             "--report", str(report)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not target.requests_to("DELETE", "/v2/images/"):
                assert time.monotonic() < deadline and run.poll() is None, "no deletion was sent"
                time.sleep(0.02)
            run.send_signal(signal.SIGTERM)
            _, stderr = run.communicate(timeout=60)
        finally:
            run.kill()
    assert run.returncode != 0, stderr
    deleted = [image_id for image_id in ids if status_on(serve_pair.target, image_id) is None]
    assert deleted, "the deletion in flight did not reach the target"
    lines = report_by_id(report)
    for image_id in deleted:
        assert (lines[image_id]["action"], lines[image_id]["result"]) == ("prune", "ok")


def test_removals_of_copies_whose_source_vanished_count_toward_max_prune(
    serve_pair: ServerPair, tmp_path: Path
) -> None:
    """Two source images are deleted while the run copies the first: with `--max-prune 1` one
    copy is removed (reported as a prune), the other's empty record is kept and said why; the
    next run prunes it, confirmed, and the target is in step with the source."""
    ids = seed(serve_pair.source, 2, size=300_000)
    streaming, waiting = sorted(ids)  # one at a time, in id order
    source = serve_pair.source_server
    assert isinstance(source, ReplicatorServe)
    source.set_faults(bandwidth=100_000)
    pruning = ("--prune", "delete", "--mark-property", MARK, "--max-prune", "1", "--concurrency", "1")
    report = tmp_path / "run.jsonl"
    run = subprocess.Popen(
        [sys.executable, "-m", "replicator", "livecopy", serve_pair.source, serve_pair.target, *pruning,
         "--report", str(report)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while status_on(serve_pair.target, streaming) != "saving":
            assert time.monotonic() < deadline and run.poll() is None, "the first upload did not start"
            time.sleep(0.02)
        for image_id in ids:
            gc.delete(serve_pair.source, image_id)
        _, stderr = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 0, stderr
    lines = report_by_id(report)
    assert (lines[streaming]["action"], lines[streaming]["result"]) == ("prune", "ok")
    assert lines[waiting]["result"] == "skipped"
    assert "was kept, this run has already deleted or deactivated the 1 images a run may" in lines[waiting]["reason"]
    assert status_on(serve_pair.target, streaming) is None
    assert status_on(serve_pair.target, waiting) == "queued"
    again = replicator("livecopy", serve_pair.source, serve_pair.target, *pruning)
    assert again.returncode == 0, again.stderr
    assert gc.list_all(serve_pair.target) == []


# 5. A file in the working directory never redirects a run.


def test_a_replicator_toml_left_in_the_working_directory_never_overrides_the_target_argument(
    serve_pair: ServerPair, tmp_path: Path
) -> None:
    """Someone leaves `replicator.toml` with `target-endpoint` pointing at their host in the
    directory a run starts from: TARGET given on the command line wins, no request (and no
    token) reaches that host, and the run says which file it read and what it ignored."""
    (image_id,) = seed(serve_pair.source, 1)
    with HidingTarget(serve_pair.target, set()) as elsewhere:
        (tmp_path / "replicator.toml").write_text(f'target-endpoint = "{elsewhere.url}"\nretries = 1\n')
        run = subprocess.run(
            [sys.executable, "-m", "replicator", "livecopy", serve_pair.source, serve_pair.target, "-v"],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
        )  # fmt: skip
        assert elsewhere.requests == []
    assert run.returncode == 0, run.stderr
    assert "config file replicator.toml: target-endpoint not used, TARGET is given on the command line" in run.stderr
    in_step(serve_pair, [image_id])


def test_a_config_file_writable_by_others_is_refused(serve_pair: ServerPair, tmp_path: Path) -> None:
    settings = tmp_path / "shared.toml"
    settings.write_text("retries = 1\n")
    settings.chmod(0o666)
    run = replicator("livecopy", serve_pair.source, serve_pair.target, "--config", str(settings))
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"replicator: error: config file {settings} is writable by others (mode 666): refused (chmod o-w {settings})"
    ]
    assert gc.list_all(serve_pair.target) == []


def test_a_connection_setting_from_a_config_file_is_said_on_stderr(serve_pair: ServerPair, tmp_path: Path) -> None:
    settings = tmp_path / "mirror.toml"
    settings.write_text('api-version = "2"\n')
    run = replicator("size", serve_pair.source, "--config", str(settings))
    assert run.returncode == 0, run.stderr
    assert f"replicator: config file {settings} sets api-version" in run.stderr
