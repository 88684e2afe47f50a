"""The old `glance-replicator` (Glance 33's, a v1-only client no one here wrote) run against
`replicator serve --api v1,v2`: its five commands work there, and their results agree with ours.

What the old tool cannot do on Python 3, found here and checked so that a change is noticed:
- `load` opens each `.img` file in text mode, so it fails on any data that is not UTF-8
  (`UnicodeDecodeError`); the peer tests give it ASCII data to load.
- `compare` compares the listing's JSON values with `HEAD`'s header strings (`100000` against
  `"100000"`), so it calls every image present on both sides different; only what it calls
  missing is meaningful, and that agrees with ours.
- `livecopy` (and `load`) send every attribute of the record as a header, unset ones (None)
  included, which Python 3's http.client refuses: an image with no owner (or any other unset
  attribute the default --dontreplicate does not strip) stops the whole run with
  "ERROR: expected string or bytes-like object, got 'NoneType'". Python 2 sent "None".
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import glance_client as gc
from tests.support.cli import run
from tests.support.glance_v1 import v1_create, v1_detail

# The old glance-replicator runs as a process.
pytestmark = pytest.mark.server

OLD_TOOL = Path(sys.executable).parent / "glance-replicator"
BOTH = ("--api", "v1,v2")


def old_tool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the old tool; its log lines (where `compare` reports) go to stderr."""
    return subprocess.run([str(OLD_TOOL), *args], capture_output=True, text=True, timeout=120)


def host_port(url: str) -> str:
    return url.removeprefix("http://")


@pytest.fixture
def old_source(start_serve) -> tuple[str, dict[str, bytes]]:
    """A v1,v2 server holding binary images: public with properties, private, one without data."""
    server = start_serve(*BOTH)
    data = {}
    for n, size in enumerate((150_000, 40_000, 1)):
        payload = os.urandom(size)
        image_id = v1_create(
            server.url,
            payload,
            name=f"img-{n}",
            is_public=n == 0,
            owner="p1",
            properties={"os_distro": "cirros"} if n == 0 else {},
        )
        data[image_id] = payload
    v1_create(server.url, None, name="no-data", owner="p1")
    return server.url, data


def test_size_agrees(old_source) -> None:
    base, _ = old_source
    theirs = old_tool("size", host_port(base))
    assert theirs.returncode == 0, theirs.stderr
    ours = run("size", host_port(base))
    assert ours.exit_code == 0
    assert theirs.stdout.strip() == ours.stdout.strip() == "Total size is 190001 bytes (185.5 KiB) across 3 images"


def test_its_dump_loads_into_v2_with_nothing_lost(old_source, serve_one, tmp_path: Path) -> None:
    base, data = old_source
    folder = tmp_path / "old-dump"
    folder.mkdir()
    dumped = old_tool("dump", host_port(base), str(folder))
    assert dumped.returncode == 0, dumped.stderr
    assert sorted(p.name for p in folder.glob("*.img")) == sorted(f"{i}.img" for i in data)
    result = run("load", serve_one.url, str(folder))
    assert result.exit_code == 0, result.stderr
    for image_id, payload in data.items():
        assert gc.download(serve_one.url, image_id) == payload
    # Every attribute the v1 cloud had, the v2 copy has: compared by our own reading of both.
    assert run("compare", base, serve_one.url, "--source-api-version", "1").exit_code == 0
    by_name = {image["name"]: image for image in gc.list_all(serve_one.url)}
    assert by_name["img-0"]["visibility"] == "public" and by_name["img-0"]["os_distro"] == "cirros"
    assert by_name["img-1"]["visibility"] == "private" and by_name["img-1"]["owner"] == "p1"


def test_our_dump_of_a_v1_cloud_is_loaded_by_it(start_serve, tmp_path: Path) -> None:
    source = start_serve(*BOTH).url
    texts = {
        v1_create(
            source, f"image {n} ".encode() * 500, name=f"txt-{n}", is_public=True, properties={"n": str(n)}
        ): f"image {n} ".encode() * 500
        for n in range(3)
    }
    folder = tmp_path / "our-dump"
    assert run("dump", source, str(folder), "--api-version", "1").exit_code == 0
    target = start_serve(*BOTH).url
    loaded = old_tool("load", host_port(target), str(folder))
    assert loaded.returncode == 0, loaded.stderr
    copies = v1_detail(target)
    assert {k: v["checksum"] for k, v in copies.items()} == {k: hashlib.md5(v).hexdigest() for k, v in texts.items()}
    assert run("compare", source, target, "--api-version", "1").exit_code == 0


def test_its_load_fails_on_binary_data(old_source, start_serve, tmp_path: Path) -> None:
    """Why the test above loads text: the old tool reads `.img` files as text."""
    base, _ = old_source
    folder = tmp_path / "dump"
    assert run("dump", base, str(folder), "--api-version", "1").exit_code == 0
    loaded = old_tool("load", host_port(start_serve(*BOTH).url), str(folder))
    assert "UnicodeDecodeError" in loaded.stdout + loaded.stderr


def test_its_livecopy_and_ours_reach_the_same_target_state(old_source, start_serve) -> None:
    base, data = old_source
    theirs, ours = start_serve(*BOTH).url, start_serve(*BOTH).url
    copied = old_tool("livecopy", host_port(base), host_port(theirs))
    assert copied.returncode == 0, copied.stderr
    assert run("livecopy", base, ours, "--api-version", "1").exit_code == 0

    def state(url: str) -> dict[str, tuple]:
        return {
            k: (v["name"], v["status"], v["checksum"], v["is_public"], v["owner"], v["properties"])
            for k, v in v1_detail(url).items()
        }

    # The old tool copies active images only; ours also creates the record without data.
    assert state(theirs) == {k: v for k, v in state(ours).items() if k in data}
    assert run("compare", base, theirs, "--api-version", "1").exit_code == 1  # "no-data" missing there
    assert json.loads(run("compare", base, theirs, "--json").stdout)["summary"]["missing"] == 1


def test_its_compare_and_ours_agree_on_what_is_missing(old_source, start_serve) -> None:
    """On what is missing they agree; an identical copy it calls different (its own bug)."""
    base, data = old_source
    target = start_serve(*BOTH).url
    first = next(iter(data))
    assert run("livecopy", base, target, "--id", first).exit_code == 0
    theirs = old_tool("compare", host_port(base), host_port(target))
    assert theirs.returncode == 0, theirs.stderr
    their_missing = set(re.findall(r"Image (\S+) \(\"[^\"]*\"\) entirely missing", theirs.stdout + theirs.stderr))
    ours = json.loads(run("compare", base, target, "--json").stdout)
    our_missing = {entry["id"] for entry in ours["images"] if entry["status"] == "missing"}
    # It reports active images only; ours also names the record without data.
    active_missing = {i for i in our_missing if i in data}
    assert their_missing == active_missing == set(data) - {first}
    assert f"{first}: field size differs (source is 150000, destination is 150000)" in theirs.stderr
    assert first not in {entry["id"] for entry in ours["images"]}  # identical, so not listed


def test_a_source_change_reaches_the_target_the_same_way_with_both_tools(old_source, start_serve) -> None:
    """A property changed and one dropped on the source: both tools' reruns make the same target."""
    base, data = old_source
    theirs, ours = start_serve(*BOTH).url, start_serve(*BOTH).url
    assert old_tool("livecopy", host_port(base), host_port(theirs)).returncode == 0
    assert run("livecopy", base, ours, "--api-version", "1").exit_code == 0
    (changed,) = [k for k, v in v1_detail(base).items() if v["properties"]]
    # A v1 PUT replaces the whole set of properties: os_distro goes, version comes.
    gc.call(
        "PUT",
        f"{base}/v1/images/{changed}",
        200,
        None,
        {"x-image-meta-property-version": "2", "x-image-meta-name": "renamed"},
    )
    rerun = old_tool("livecopy", host_port(base), host_port(theirs))
    assert rerun.returncode == 0 and f"Image {changed} (renamed) metadata has changed" in rerun.stderr
    assert run("livecopy", base, ours).exit_code == 0

    def state(url: str) -> dict[str, tuple]:
        return {k: (v["name"], v["checksum"], v["properties"]) for k, v in v1_detail(url).items() if k in data}

    assert state(theirs) == state(ours)
    assert state(ours)[changed][::2] == ("renamed", {"version": "2"})
    summary = json.loads(run("compare", base, theirs, "--json").stdout)["summary"]
    assert (summary["different"], summary["missing"]) == (0, 1)  # it never copies the image without data


def test_its_livecopy_stops_at_an_unset_attribute_and_ours_does_not(start_serve) -> None:
    """The Python 3 bug in the module docstring: an image with no owner ends its run."""
    source, theirs, ours = (start_serve(*BOTH).url for _ in range(3))
    payload = os.urandom(20_000)
    image_id = v1_create(source, payload, name="ownerless", owner="")
    assert v1_detail(source)[image_id]["owner"] is None
    copied = old_tool("livecopy", host_port(source), host_port(theirs))
    assert copied.returncode == 1
    assert "ERROR: expected string or bytes-like object, got 'NoneType'" in copied.stderr
    assert v1_detail(theirs) == {}
    assert run("livecopy", source, ours, "--api-version", "1").exit_code == 0
    assert v1_detail(ours)[image_id]["checksum"] == hashlib.md5(payload).hexdigest()


def test_against_a_glance_without_v1_it_sees_nothing_and_ours_sees_all(glance_any) -> None:
    """Why the v1 side exists the other way round too: the old tool cannot read a current Glance.
    Its /v1 answers 300 with the version list (ours without --api v1 as well) and it counts 0."""
    payloads = gc.seed_raw_images(glance_any.url, [1000, 2000])
    assert gc.request("GET", f"{glance_any.url}/v1/images/detail").status == 300
    theirs = old_tool("size", host_port(glance_any.url))
    assert theirs.stdout.strip() == "Total size is 0 bytes (0.0 B) across 0 images"
    ours = run("size", glance_any.url)
    assert ours.stdout.startswith(f"Total size is {sum(map(len, payloads.values()))} bytes")
    assert ours.stdout.rstrip().endswith(f"across {len(payloads)} images")
