"""Server-side copy between two regions: the target Glance fetches each image itself from the
source region (Glance's `glance-download` import), so the data never crosses our process.

Real software throughout: one Keystone 30 with RegionOne and RegionTwo, a Glance 33 with Keystone
auth in each (its image endpoint in the catalog). RegionTwo's Glance offers glance-download and may
fetch from 127.0.0.1 on any port (import filtering refuses loopback addresses and ports other
than 80 and 443 by default); RegionOne's offers only the default methods. RegionOne lets a token
download an image's data only where its project owns the image or the image is public, so a
target working in another project cannot fetch a private image: that image is streamed instead.

Both Glances run on the session's server database with several workers and threads (see
`glance_database`), as production does, so runs that pull take several images at a time
(`--concurrency 4`): Glance on SQLite lost imports that ran side by side ("database is locked").
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from replicator.cli.session import open_pair
from replicator.cli.views import progress
from replicator.engine.events import BytesCopied, Event, FetchStage, ImageFetching
from replicator.engine.run import replicate
from replicator.model.settings import Settings
from replicator.model.vocabulary import Role
from replicator.openstack.connect import Side
from tests.support import glance_client as gc
from tests.support.cli import assert_one_line_error
from tests.support.clouds import write_private
from tests.support.keystone_server import RealKeystone
from tests.support.pairs import start_all
from tests.support.report_file import image_lines
from tests.support.servers import GlanceTemplate, RealGlance

pytestmark = pytest.mark.realglance

FETCHED = "fetched by the target from the source region (glance-download)"
STREAMED = "streamed: the target could not fetch it itself"
SIDE_BY_SIDE = ("--concurrency", "4")
#: RegionOne's rule for downloads: the owner's project, or anyone for a public image.
OWNER_OR_PUBLIC = "project_id:%(project_id)s or 'public':%(visibility)s"


class TwoRegionGlances:
    """A real Keystone whose catalog lists a real Glance in RegionOne (`one`) and one in
    RegionTwo (`two`), both checking tokens against it; `x` is the cloud of the admin on its own
    project in a clouds.yaml, `x-other` the same admin working in another project."""

    def __init__(self, template: GlanceTemplate, folder: Path) -> None:
        self.folder = folder
        self.keystone = RealKeystone(folder / "keystone", token_seconds=3600)
        keystone_auth = self.keystone.glance_settings()
        policy = json.loads(template.policy_file.read_text())
        policy["download_image"] = OWNER_OR_PUBLIC
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "region-one-policy.json").write_text(json.dumps(policy))
        self.one = RealGlance(
            template,
            folder / "region-one",
            overrides={**keystone_auth, "oslo_policy": {"policy_file": str(folder / "region-one-policy.json")}},
        )
        self.two = RealGlance(
            template,
            folder / "region-two",
            overrides={
                **keystone_auth,
                "DEFAULT": {"enabled_import_methods": "[glance-direct,web-download,copy-image,glance-download]"},
                "import_filtering_opts": {"allowed_hosts": "[127.0.0.1]", "allowed_ports": "[]"},
            },
        )

    def start(self) -> None:
        start_all([self.keystone, self.one, self.two])  # Glance asks Keystone only when a request comes
        self.keystone.add_region("RegionTwo")
        self.keystone.add_image_endpoint(self.one.url, "RegionOne")
        self.keystone.add_image_endpoint(self.two.url, "RegionTwo")
        other = self.keystone.add_project("other")
        self.keystone.grant_admin(other)
        token = self.keystone.token()
        for glance in (self.one, self.two):
            gc.authorize(glance.url, token)
        admin = self.keystone.admin_auth()
        clouds = {
            "x": {"auth_type": "password", "auth": admin, "identity_api_version": 3, "interface": "public"},
            "x-other": {
                "auth_type": "password",
                "auth": {**admin, "project_name": "other"},
                "identity_api_version": 3,
                "interface": "public",
            },
        }
        self.clouds = write_private(self.folder / "clouds.yaml", yaml.safe_dump({"clouds": clouds}))
        self.secure = write_private(self.folder / "secure.yaml", yaml.safe_dump({"clouds": {}}))

    def stop(self) -> None:
        for glance in (self.one, self.two):
            gc.authorize(glance.url, None)
        for server in (self.one, self.two, self.keystone):
            server.stop()

    def environment(self) -> dict[str, str]:
        """Our environment without the machine's OS_* variables, with the clouds.yaml above."""
        clean = {name: value for name, value in os.environ.items() if not name.startswith("OS_")}
        return {**clean, "OS_CLIENT_CONFIG_FILE": str(self.clouds), "OS_CLIENT_SECURE_FILE": str(self.secure)}

    def replicator(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "replicator", *args],
            capture_output=True,
            text=True,
            timeout=300,
            env=self.environment(),
        )


@pytest.fixture(scope="module")
def _regions(glance_template: GlanceTemplate, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoRegionGlances]:
    regions = TwoRegionGlances(glance_template, tmp_path_factory.mktemp("two-region-glances"))
    try:
        regions.start()
        yield regions
    finally:
        regions.stop()


@pytest.fixture
def regions(_regions: TwoRegionGlances) -> TwoRegionGlances:
    """The two regions, both Glances emptied for this test (ids are never reused: fresh ones)."""
    for glance in (_regions.one, _regions.two):
        gc.delete_all(glance.url)
    return _regions


def seed(base: str, sizes: list[int], **fields: Any) -> dict[str, bytes]:
    """Active raw images of random data, each with a custom property glance-download does not
    copy (`color`) and one it does (`hw_disk_bus`), and a tag: {id: data}."""
    data = {}
    for index, size in enumerate(sizes):
        image_id = str(uuid.uuid4())
        gc.create_image(
            base,
            id=image_id,
            name=f"img-{index}",
            disk_format="raw",
            container_format="bare",
            color=f"blue-{index}",
            hw_disk_bus="scsi",
            tags=["seeded"],
            **fields,
        )
        data[image_id] = os.urandom(size)
        gc.upload(base, image_id, data[image_id])
    return data


def assert_same_images(source: str, target: str, data: dict[str, bytes]) -> None:
    """Each image is active on the target with the source's data, hashes and metadata."""
    for image_id, payload in data.items():
        original, copy = gc.get_image(source, image_id), gc.get_image(target, image_id)
        assert copy["status"] == "active", copy
        assert copy["checksum"] == original["checksum"] == hashlib.md5(payload).hexdigest()
        assert copy["os_hash_value"] == original["os_hash_value"] == hashlib.sha512(payload).hexdigest()
        assert (copy["size"], copy["color"], copy["hw_disk_bus"]) == (len(payload), original["color"], "scsi")
        assert copy["tags"] == original["tags"]


def region_copy(regions: TwoRegionGlances, report: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One cloud for both sides, RegionOne to RegionTwo, every request logged (`--debug`)."""
    return regions.replicator(
        "livecopy",
        "--source-cloud", "x", "--target-cloud", "x",
        "--source-region", "RegionOne", "--target-region", "RegionTwo",
        "--report", str(report), "--debug", *SIDE_BY_SIDE, *args,
    )  # fmt: skip


def data_reads(log: str, base: str) -> list[str]:
    """The `--debug` lines of downloads of image data from the Glance at `base`."""
    return [line for line in log.splitlines() if f" GET {base}/v2/images/" in line and "/file " in line]


def test_regions_of_one_keystone_copy_server_side(regions: TwoRegionGlances, tmp_path: Path) -> None:
    data = seed(regions.one.url, [3 * 2**20, 1000, 200_000])
    first = next(iter(data))
    # One image's record is there already (a metadata-only run), and its colour changed since:
    # its data is fetched into that record, and the metadata pass brings the new colour.
    early = regions.replicator(
        "livecopy", "-", "-", "--os-cloud", "x", "--source-region", "RegionOne", "--target-region", "RegionTwo",
        "--metaonly", "--id", first,
    )  # fmt: skip
    assert early.returncode == 0, early.stderr
    assert gc.get_image(regions.two.url, first)["status"] == "queued"
    gc.patch(regions.one.url, first, [{"op": "replace", "path": "/color", "value": "green"}])

    result = region_copy(regions, tmp_path / "report.jsonl")
    assert result.returncode == 0, result.stderr
    lines = {line["id"]: line for line in image_lines(tmp_path / "report.jsonl")}
    assert set(lines) == set(data)
    for line in lines.values():
        assert line["result"] == "ok" and line["verified"] is True, line
        assert FETCHED in line["reason"], line
    assert lines[first]["action"] == "upload"
    # Our process read no image data: every request is logged, and none fetched a file.
    assert f"POST {regions.two.url}/v2/images/{first}/import" in result.stderr
    assert data_reads(result.stderr, regions.one.url) == []
    assert_same_images(regions.one.url, regions.two.url, data)
    assert gc.get_image(regions.two.url, first)["color"] == "green"

    compared = regions.replicator(
        "compare", "--source-cloud", "x", "--target-cloud", "x",
        "--source-region", "RegionOne", "--target-region", "RegionTwo",
    )  # fmt: skip
    assert compared.returncode == 0, compared.stdout + compared.stderr


def test_a_target_without_glance_download_is_streamed_to(regions: TwoRegionGlances, tmp_path: Path) -> None:
    """RegionOne's Glance does not offer glance-download: `auto` streams, as between any two."""
    data = seed(regions.two.url, [100_000, 300_000])
    result = regions.replicator(
        "livecopy", "--os-cloud", "x", "--source-region", "RegionTwo", "--target-region", "RegionOne",
        "--report", str(tmp_path / "report.jsonl"), "--debug",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for line in image_lines(tmp_path / "report.jsonl"):
        assert line["result"] == "ok" and line["verified"] is True, line
        assert "fetch" not in line["reason"], line
    assert len(data_reads(result.stderr, regions.two.url)) == len(data)
    assert f"POST {regions.one.url}/v2/images/" not in result.stderr  # no import asked for
    assert_same_images(regions.two.url, regions.one.url, data)


def test_an_image_the_target_cannot_fetch_is_streamed(regions: TwoRegionGlances, tmp_path: Path) -> None:
    """The target works in another project: RegionOne lets it fetch the public image, not the
    private one, whose import fails on the target; that image is streamed, the reason said."""
    public = seed(regions.one.url, [150_000], visibility="public")
    private = seed(regions.one.url, [250_000], visibility="private")
    result = regions.replicator(
        "livecopy", "--source-cloud", "x", "--target-cloud", "x-other",
        "--source-region", "RegionOne", "--target-region", "RegionTwo",
        "--report", str(tmp_path / "report.jsonl"), "--debug", *SIDE_BY_SIDE,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = {line["id"]: line for line in image_lines(tmp_path / "report.jsonl")}
    [public_id], [private_id] = public, private
    assert FETCHED in lines[public_id]["reason"], lines[public_id]
    assert STREAMED in lines[private_id]["reason"], lines[private_id]
    # Glance's reason, as its task gives it (its log has RegionOne's 403; its API has only this).
    failed = f"import image {private_id}: Glance's import into store fs failed: Task failed due to Internal Error"
    assert failed in lines[private_id]["reason"], lines[private_id]
    assert all(line["result"] == "ok" and line["verified"] is True for line in lines.values()), lines
    assert [private_id in line for line in data_reads(result.stderr, regions.one.url)] == [True]
    assert_same_images(regions.one.url, regions.two.url, {**public, **private})


def test_an_image_whose_import_failed_before_is_streamed_while_glance_keeps_its_lock(
    regions: TwoRegionGlances, tmp_path: Path
) -> None:
    """An earlier glance-download of the image failed (asked for by hand, in a project RegionOne
    refuses): Glance 33 puts the record back to `queued` but keeps that import's lock on it for an
    hour, and refuses another import (409). The next run streams it, saying why."""
    [image_id] = seed(regions.one.url, [120_000], visibility="private")
    early = region_copy(regions, tmp_path / "early.jsonl", "--metaonly")
    assert early.returncode == 0, early.stderr
    method = {"name": "glance-download", "glance_image_id": image_id, "glance_region": "RegionOne"}
    asked = gc.request(
        "POST",
        f"{regions.two.url}/v2/images/{image_id}/import",
        json.dumps({"method": method}).encode(),
        {"Content-Type": "application/json", "X-Auth-Token": regions.keystone.token("other")},
    )
    assert asked.status == 202, asked.text
    tasks = f"{regions.two.url}/v2/images/{image_id}/tasks"
    while gc.call("GET", tasks, 200).json()["tasks"][0]["status"] != "failure":
        time.sleep(0.1)
    left = gc.get_image(regions.two.url, image_id)
    assert (left["status"], left["os_glance_failed_import"]) == ("queued", "fs")

    result = region_copy(regions, tmp_path / "report.jsonl")
    assert result.returncode == 0, result.stderr
    [line] = image_lines(tmp_path / "report.jsonl")
    assert line["result"] == "ok" and line["verified"] is True, line
    assert STREAMED in line["reason"] and "409 Conflict" in line["reason"], line
    assert f"Glance keeps an earlier import's lock on it (task {left['os_glance_import_task']})" in line["reason"]
    assert_same_images(regions.one.url, regions.two.url, {image_id: gc.download(regions.one.url, image_id)})


def test_a_fetched_copy_unlike_the_source_is_deactivated(regions: TwoRegionGlances, tmp_path: Path) -> None:
    """The source's stored data rotted (same size, other bytes): the target fetches what it is
    served, the read-back finds other hashes than the source's record, and the copy is
    deactivated, never left active nor deleted."""
    [image_id] = seed(regions.one.url, [64_000])
    (regions.one.workdir / "images" / image_id).write_bytes(os.urandom(64_000))
    result = region_copy(regions, tmp_path / "report.jsonl")
    assert result.returncode == 1, result.stderr
    [line] = image_lines(tmp_path / "report.jsonl")
    assert line["result"] == "failed" and FETCHED in line["reason"], line
    assert "deactivated" in line["error"], line
    assert gc.get_image(regions.two.url, image_id)["status"] == "deactivated"


def test_glance_download_where_it_cannot_be_is_a_one_line_error(regions: TwoRegionGlances) -> None:
    seed(regions.one.url, [1000])
    seed(regions.two.url, [1000])
    token = regions.keystone.token()
    refusals = {
        "both sides need a cloud": ("livecopy", regions.one.url, regions.two.url, "--token", token),
        "the source must be its cloud's image endpoint from the catalog": (
            "livecopy", regions.one.url, "-", "--os-cloud", "x", "--target-region", "RegionTwo",
        ),
        "the target does not offer the glance-download import (its enabled_import_methods)": (
            "livecopy", "--os-cloud", "x", "--source-region", "RegionTwo", "--target-region", "RegionOne",
        ),
    }  # fmt: skip
    for reason, args in refusals.items():
        result = regions.replicator(*args, "--upload-method", "glance-download")
        assert_one_line_error(result, "--upload-method glance-download cannot be used here: ", reason)
    assert len(gc.list_all(regions.one.url)) == len(gc.list_all(regions.two.url)) == 1  # nothing was copied


async def test_a_pull_reports_its_stages_and_moves_no_bytes(
    regions: TwoRegionGlances, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the progress views are told of a pull: waiting, (importing,) done, never a byte
    streamed; the image's bar line says where the target's fetch stands."""
    data = seed(regions.one.url, [500_000])
    for name, value in regions.environment().items():
        if name.startswith("OS_"):
            monkeypatch.setenv(name, value)
    settings = Settings(concurrency=1)
    opened = await open_pair(
        Side(None, cloud="x", region="RegionOne", role=Role.SOURCE),
        Side(None, cloud="x", region="RegionTwo", role=Role.TARGET),
        settings,
    )
    source, target = opened.source, opened.target
    events: list[Event] = []
    try:
        await replicate(source, target, settings, events.append)
    finally:
        await source.close()
        await target.close()
    [image_id] = data
    stages = [event for event in events if isinstance(event, ImageFetching)]
    assert stages[0] == ImageFetching(image_id, FetchStage.WAITING)
    assert stages[-1] == ImageFetching(image_id, FetchStage.DONE, len(data[image_id]))
    assert {event.stage for event in stages[1:-1]} <= {FetchStage.IMPORTING}
    assert not [event for event in events if isinstance(event, BytesCopied)]

    shown = io_bars(events[: events.index(stages[0]) + 1])
    assert "img-0 (the target fetches it: waiting)" in shown
    bars = progress.ProgressLines()
    for event in events:
        bars.tally.update(event)
    assert bars.tally.done_bytes == bars.tally.total_bytes == len(data[image_id])


def io_bars(events: list[Event]) -> str:
    """What the terminal's bars show after `events`."""
    out = io.StringIO()
    bars = progress.ProgressBars(Console(file=out, force_terminal=True, color_system=None, width=200))
    with bars:
        for event in events:
            bars(event)
        bars._progress.refresh()
    return out.getvalue()
