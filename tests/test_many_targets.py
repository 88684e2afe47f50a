"""One source, many targets (`livecopy SOURCE T1 T2 T3`): each image read from the source once
and landed on every target that needs it; each target walked, planned and summed on its own.

The servers are the project's (`replicator serve`, in process), whose `GET /_faults` says how
many bytes of image data each served: the source's count is the proof that each image was read
once, however many targets it went to. Faults are switched on one target at a time.
"""

from __future__ import annotations

import hashlib
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import glance_client as gc
from tests.support.cli import run
from tests.support.clouds import OS_VARIABLES, write_clouds
from tests.support.fake_keystone import FakeKeystone, clouds_yaml
from tests.support.pairs import ServerPair
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


def rows(stderr: str) -> dict[str, list[str]]:
    """The summary's row per target: {name: [images, ok, failed, bytes, unit, status...]}."""
    table: dict[str, list[str]] = {}
    for line in stderr.splitlines():
        words = line.split()
        if len(words) >= 7 and words[0].startswith("http://") and words[1].isdigit():
            table[words[0]] = words[1:]
    return table


def test_a_failing_and_a_slow_target_end_faithful_after_a_rerun(
    four: tuple[ReplicatorServe, list[ReplicatorServe]], tmp_path: Path
):
    source, (steady, failing, slow) = four
    data = gc.seed_raw_images(source.url, SIZES)
    large = {image_id for image_id, payload in data.items() if len(payload) > 200_000}
    # Every upload takes one of the count, the small one too (it ends before the cut).
    failing.set_faults(drop_upload_after_bytes=200_000, drop_count=len(data))
    slow.set_faults(bandwidth=2 * 1024 * 1024)
    report = tmp_path / "report.jsonl"
    urls = [steady.url, failing.url, slow.url]

    result = run("livecopy", source.url, *urls, "--report", str(report))

    assert result.exit_code == 1, result.stderr
    assert failing.faults()["fired"]["upload_drops"] == len(data)
    faithful(steady.url, data)
    faithful(slow.url, data)
    # Read once for the three, though one target dropped out of three images midway.
    assert served(source) == sum(SIZES)
    lines = image_lines(report)
    by_target = {url: {line["id"]: line for line in lines if line["target"] == url} for url in urls}
    for url in (steady.url, slow.url):
        assert set(by_target[url]) == set(data)
        assert all(line["result"] == "ok" for line in by_target[url].values())
    failed = {image_id for image_id, line in by_target[failing.url].items() if line["result"] == "failed"}
    assert failed == large
    assert set(by_target[failing.url]) == set(data)
    table = rows(result.stderr)
    assert table[steady.url][:3] == ["4", "4", "0"] and table[steady.url][-2:] == ["in", "line"]
    assert table[failing.url][:3] == ["4", "1", "3"] and table[failing.url][-2:] == ["3", "failed"]
    assert table[slow.url][:3] == ["4", "4", "0"]
    summary = result.stderr.split("target ")[-1]
    assert f"{failing.url}: 3 failed:" in summary
    for image_id in large:
        assert f"[{failing.url}] FAILED  {image_id}" in result.stderr
        assert f"  {image_id} " in summary

    # The rerun completes the failed images on that target alone, reading only them again.
    failing.set_faults(drop_upload_after_bytes=None)
    slow.set_faults(bandwidth=None)
    again = tmp_path / "again.jsonl"
    result = run("livecopy", source.url, *urls, "--report", str(again))

    assert result.exit_code == 0, result.stderr
    for url in urls:
        faithful(url, data)
    assert served(source) == sum(SIZES) + sum(len(data[image_id]) for image_id in large)
    copied = [(line["target"], line["id"]) for line in image_lines(again) if line["action"] != "skip"]
    assert sorted(copied) == sorted((failing.url, image_id) for image_id in large)
    assert run("compare", source.url, *urls).exit_code == 0


def test_a_stalled_target_drops_out_of_the_image_and_the_others_go_on(
    four: tuple[ReplicatorServe, list[ReplicatorServe]], tmp_path: Path
):
    source, (first, stalled, third) = four
    # Large enough that the stalled upload fills every buffer between us and the server.
    data = gc.seed_raw_images(source.url, (24 * 1024 * 1024,))
    (image_id,) = data
    stalled.set_faults(stall_seconds=6, stall_count=1)
    report = tmp_path / "report.jsonl"

    result = run("livecopy", source.url, first.url, stalled.url, third.url, "--timeout", "1", "--report", str(report))

    assert result.exit_code == 1, result.stderr
    assert stalled.faults()["fired"]["stalls"] == 1
    faithful(first.url, data)
    faithful(third.url, data)
    lines = {line["target"]: line for line in image_lines(report)}
    assert lines[first.url]["result"] == lines[third.url]["result"] == "ok"
    assert lines[stalled.url]["result"] == "failed"
    assert "took no data for 1s" in lines[stalled.url]["error"]
    assert served(source) == len(data[image_id])
    assert gc.get_image(stalled.url, image_id)["status"] != "active"

    assert run("livecopy", source.url, first.url, stalled.url, third.url).exit_code == 0
    faithful(stalled.url, data)


def test_each_target_has_its_own_token_in_order(start_serve: Callable[..., ReplicatorServe]):
    source = start_serve("--token", "source-secret")
    targets = [start_serve("--token", f"target-{n}-secret") for n in range(3)]
    gc.authorize(source.url, "source-secret")
    data = gc.seed_raw_images(source.url, SIZES[:2])
    tokens = [arg for n in range(3) for arg in ("--targettoken", f"target-{n}-secret")]

    result = run("livecopy", source.url, *(t.url for t in targets), "--sourcetoken", "source-secret", *tokens)

    assert result.exit_code == 0, result.stderr
    for n, target in enumerate(targets):
        assert target.faults()["fired"].get("unauthorized", 0) == 0
        gc.authorize(target.url, f"target-{n}-secret")
        records = {r["id"]: r for r in gc.list_all(target.url)}
        assert set(records) == set(data) and all(r["status"] == "active" for r in records.values())


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("--target-region", "R1", "--target-region", "R2"), "--target-region is given 2 times for 3 targets"),
        (("--targettoken", "a", "--targettoken", "b"), "--targettoken is given 2 times for 3 targets"),
    ],
)
def test_a_repeated_option_that_does_not_match_the_targets_is_one_line(args: tuple[str, ...], problem: str):
    result = run("livecopy", "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4", *args)
    assert result.exit_code == 2
    assert problem in result.stderr and "Traceback" not in result.stderr


def test_the_same_target_twice_is_refused():
    result = run("livecopy", "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:2")
    assert result.exit_code == 2
    assert "the same target is named twice: 127.0.0.1:2" in result.stderr


def test_compare_and_dry_run_take_every_target(four: tuple[ReplicatorServe, list[ReplicatorServe]]):
    source, targets = four
    data = gc.seed_raw_images(source.url, SIZES[:2])
    urls = [t.url for t in targets]
    assert run("livecopy", source.url, urls[0], urls[2]).exit_code == 0

    compared = run("compare", source.url, *urls)
    assert compared.exit_code == 1
    assert compared.stdout.count("target ") == 3
    behind = compared.stdout.split(f"target {urls[1]}:")[1].split("target ")[0]
    assert all(image_id in behind for image_id in data)
    ahead = compared.stdout.split(f"target {urls[2]}:")[1]
    assert not any(image_id in ahead for image_id in data)

    assert served(source) == sum(SIZES[:2])  # the copy went to two targets: read once

    planned = run("livecopy", source.url, *urls, "--dry-run")
    assert planned.exit_code == 0, planned.stderr
    assert planned.stdout.count("target ") == 3
    assert "2 of 2 images need work" in planned.stdout.split(f"target {urls[1]}:")[1].split("target ")[0]
    assert gc.list_all(urls[1]) == []  # --dry-run wrote nothing


def test_regions_of_one_cloud_are_targets_named_by_cloud_and_region(
    start_serve: Callable[..., ReplicatorServe], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    for name in OS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    source, one, two = start_serve(), start_serve(), start_serve()
    keystone = FakeKeystone(
        catalog=[("Home", "public", source.url), ("RegionOne", "public", one.url), ("RegionTwo", "public", two.url)]
    ).start()
    try:
        write_clouds(tmp_path, monkeypatch, clouds_yaml(keystone))
        data = gc.seed_raw_images(source.url, SIZES[:2])
        report = tmp_path / "report.jsonl"
        regions = ("--target-region", "RegionOne", "--target-region", "RegionTwo")

        result = run("livecopy", "--os-cloud", "test", "--source-region", "Home", *regions, "--report", str(report))

        assert result.exit_code == 0, result.stderr
        faithful(one.url, data)
        faithful(two.url, data)
        assert served(source) == sum(SIZES[:2])
        assert {line["target"] for line in image_lines(report)} == {"test/RegionOne", "test/RegionTwo"}
        assert "test/RegionOne" in result.stderr and "test/RegionTwo" in result.stderr
        assert run("compare", "--os-cloud", "test", "--source-region", "Home", *regions).exit_code == 0
    finally:
        keystone.stop()


def test_the_config_file_lists_the_targets(four: tuple[ReplicatorServe, list[ReplicatorServe]], tmp_path: Path):
    source, targets = four
    data = gc.seed_raw_images(source.url, SIZES[:1])
    config = tmp_path / "replicator.toml"
    endpoints = ", ".join(f'"{t.url}"' for t in targets[:2])
    config.write_text(f"[livecopy]\ntarget-endpoint = [{endpoints}]\n")

    result = run("livecopy", source.url, "--config", str(config))

    assert result.exit_code == 0, result.stderr
    for target in targets[:2]:
        faithful(target.url, data)
        assert target.url in result.stderr
    assert gc.list_all(targets[2].url) == []


@pytest.mark.realglance
def test_two_real_glance_targets_from_one_source(
    start_serve: Callable[..., ReplicatorServe], real_glance_pair: ServerPair, tmp_path: Path
):
    source = start_serve()
    data = gc.seed_raw_images(source.url, SIZES[:3])
    urls = [real_glance_pair.source, real_glance_pair.target]
    report = tmp_path / "report.jsonl"

    result = run("livecopy", source.url, *urls, "--report", str(report))

    assert result.exit_code == 0, result.stderr
    for url in urls:
        faithful(url, data)
    assert served(source) == sum(SIZES[:3])
    lines = image_lines(report)
    for url in urls:
        mine = [line for line in lines if line["target"] == url]
        assert sorted(line["id"] for line in mine) == sorted(data)
        assert all(line["result"] == "ok" and line["verified"] for line in mine)
    assert run("compare", source.url, *urls).exit_code == 0
    again = run("livecopy", source.url, *urls)
    assert again.exit_code == 0 and served(source) == sum(SIZES[:3])  # nothing to copy: nothing read


@pytest.mark.unit
def test_target_metrics_carry_the_target_s_name_and_the_source_s_bytes():
    from prometheus_client import CollectorRegistry

    from replicator.cli.views.target_metrics import TargetMetrics
    from replicator.engine.actions import ActionKind, Outcome
    from replicator.engine.events import BytesCopied, ImageFinished, ImageResult

    registry = CollectorRegistry()
    metrics = TargetMetrics(registry, ["east", "west"])
    finished = ImageResult("an-id", "a name", ActionKind.CREATE, Outcome.OK, 10, 0.1)
    metrics.for_target("east")(BytesCopied("an-id", 10))
    metrics.for_target("east")(ImageFinished(finished))
    metrics.source_read(10)
    metrics.source_read(10)  # a total, not an increment

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("replicator_target_copied_bytes_total", target="east") == 10
    assert sample("replicator_target_copied_bytes_total", target="west") == 0
    assert sample("replicator_target_images_total", target="east", action="create", result="ok") == 1
    assert sample("replicator_target_images_total", target="west", action="create", result="ok") == 0
    assert sample("replicator_source_read_bytes_total") == 10


def test_walks_at_different_paces_with_one_worker_each_all_finish(
    start_serve: Callable[..., ReplicatorServe], monkeypatch: pytest.MonkeyPatch
):
    """Pages of 3, a hub that lets a walk be 2 images ahead of the others, one worker per
    target, one target that already has half the images and one that answers slowly: the
    waiting rules (one order for the shared images; no walk waits when another waits for it)
    let every target finish, and each image is still read once for all that need it."""
    from replicator.engine import fanout

    monkeypatch.setattr(fanout, "AHEAD", 2)
    source = start_serve("--api-limit-max", "3")
    fresh, half, slow = (start_serve("--api-limit-max", "3") for _ in range(3))
    first = gc.seed_raw_images(source.url, [1000 + n for n in range(6)])
    assert run("livecopy", source.url, half.url).exit_code == 0
    later = gc.seed_raw_images(source.url, [2000 + n for n in range(6)])
    data = first | later
    slow.set_faults(latency=0.02)
    before = served(source)

    result = run("livecopy", source.url, fresh.url, half.url, slow.url, "--concurrency", "1")

    assert result.exit_code == 0, result.stderr
    for target in (fresh, half, slow):
        faithful(target.url, data)
    assert served(source) - before == sum(len(payload) for payload in data.values())
    table = rows(result.stderr)
    assert table[half.url][:3] == ["12", "6", "0"]  # six copied, six it already had
    assert table[fresh.url][:3] == table[slow.url][:3] == ["12", "12", "0"]


def test_a_target_whose_run_cannot_go_on_is_stopped_and_the_others_finish(
    start_serve: Callable[..., ReplicatorServe], tmp_path: Path
):
    source, good, refusing = start_serve(), start_serve(), start_serve("--token", "the-right-one")
    data = gc.seed_raw_images(source.url, SIZES[:2])

    result = run("livecopy", source.url, good.url, refusing.url, "--targettoken", "any", "--targettoken", "a-wrong-one")

    assert result.exit_code == 2, result.stderr
    faithful(good.url, data)
    table = rows(result.stderr)
    assert table[good.url][-2:] == ["in", "line"]
    assert table[refusing.url][-1] == "stopped"
    assert f"{refusing.url}: stopped: " in result.stderr
    assert "a-wrong-one" not in result.stderr
    assert served(source) == sum(SIZES[:2])


def test_a_source_cut_midway_is_resumed_once_for_every_target(four: tuple[ReplicatorServe, list[ReplicatorServe]]):
    source, targets = four
    data = gc.seed_raw_images(source.url, SIZES[2:])
    source.set_faults(drop_after_bytes=500_000, drop_count=2)

    result = run("livecopy", source.url, *(t.url for t in targets))

    assert result.exit_code == 0, result.stderr
    assert source.faults()["fired"]["drops"] == 2
    for target in targets:
        faithful(target.url, data)
        assert result.stderr.count(f"[{target.url}] retry 1 for ") == 2  # each target is told of each reopening
    # Resumed where it was cut (Range), not read again from the start for anyone: at most what
    # each cut had written and the client never got is served twice (a read again of even one
    # image for the other two targets would be 2 x 1.2 MB more).
    assert sum(SIZES[2:]) <= served(source) <= sum(SIZES[2:]) + 2 * 500_000


@pytest.mark.server
def test_ctrl_c_stops_every_target_and_the_same_command_finishes_them(start_serve: Callable[..., ReplicatorServe]):
    from tests.support.stopping import assert_target_holds_only_good_data, finish, replicator, settle, wait_for

    source, targets = start_serve(), [start_serve(), start_serve()]
    data = gc.seed_raw_images(source.url, [3 * 1024 * 1024] * 6)
    source.set_faults(bandwidth=4 * 1024 * 1024)
    urls = [t.url for t in targets]
    process = replicator("livecopy", source.url, *urls, "--concurrency", "2")
    wait_for(lambda: any(record["status"] == "active" for record in gc.list_all(urls[0])))

    process.send_signal(signal.SIGINT)
    code, stderr = finish(process)

    assert code == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.count("interrupted") >= 3  # each target's row, then the run's line
    for url in urls:
        settle(url)
        assert_target_holds_only_good_data(url, data)
    assert sum(record["status"] == "active" for record in gc.list_all(urls[0])) < len(data)

    source.set_faults(bandwidth=None)
    code, stderr = finish(replicator("livecopy", source.url, *urls))
    assert code == 0, stderr
    for url in urls:
        faithful(url, data)
