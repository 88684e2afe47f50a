"""The Glance v1 API: our v1 store against `replicator serve --api v1`, copies between v1 and v2
clouds with attributes mapped both ways, and the v1 server's own behaviour."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import pytest

from replicator.model.errors import ImageError
from replicator.model.records import ImageRecord
from replicator.model.settings import Settings
from replicator.openstack.connect import Side, open_glance
from replicator.stores.glance.v1 import GlanceV1Store
from replicator.stores.glance.v1_codec import held_attributes, record_from_v1, to_headers, v1_from_headers
from tests.support import glance_client as gc
from tests.support.cli import assert_one_line_error, replicator, run, summary_count
from tests.support.glance_v1 import v1_create, v1_detail
from tests.support.records import IMAGE_ID
from tests.support.report_file import image_lines

V1_ONLY = ("--api", "v1")


@pytest.fixture
def v1_source(start_serve) -> tuple[str, dict[str, bytes]]:
    """A v1-only server with a public image with properties, a private one, and a record without data."""
    server = start_serve(*V1_ONLY)
    public = os.urandom(300_000)
    private = os.urandom(70_000)
    data = {
        v1_create(
            server.url,
            public,
            name="ubuntu",
            is_public=True,
            min_ram=512,
            properties={"os_distro": "ubuntu", "hw_disk_bus": "virtio"},
        ): public,
        v1_create(server.url, private, name="secret", is_public=False, protected=True): private,
    }
    v1_create(server.url, None, name="empty")
    return server.url, data


def test_attributes_map_to_v1_headers() -> None:
    headers = to_headers(
        {
            "name": "n",
            "visibility": "public",
            "min_ram": 512,
            "protected": False,
            "tags": ["a"],
            "os_hidden": False,
            "os_distro": "ubuntu",
            "owner": None,
        }
    )
    assert headers == {
        "x-image-meta-name": "n",
        "x-image-meta-is_public": "True",
        "x-image-meta-min_ram": "512",
        "x-image-meta-protected": "False",
        "x-image-meta-property-os_distro": "ubuntu",
        "x-image-meta-owner": "",  # unset, as v1 reads an empty value
    }
    assert to_headers({"visibility": "shared"}) == {"x-image-meta-is_public": "False"}


def test_v1_headers_read_back_into_the_same_record() -> None:
    """What `HEAD` says about an image maps to the record the listing gives (types included)."""
    headers = {
        "X-Image-Meta-Id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
        "x-image-meta-size": "42",
        "x-image-meta-is_public": "False",
        "x-image-meta-protected": "True",
        "x-image-meta-min_ram": "64",
        "x-image-meta-status": "active",
        "x-image-meta-property-os_distro": "centos",
        "ETag": "abc",
    }
    raw = v1_from_headers(headers)
    assert raw == {
        "id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
        "size": 42,
        "is_public": False,
        "protected": True,
        "min_ram": 64,
        "status": "active",
        "properties": {"os_distro": "centos"},
    }
    record = record_from_v1(raw)
    assert dict(record.attributes) == {"visibility": "private", "protected": True, "min_ram": 64, "os_distro": "centos"}
    assert to_headers(record.attributes)["x-image-meta-property-os_distro"] == "centos"


def test_what_v1_cannot_express_is_folded_as_it_would_read_back() -> None:
    held = held_attributes({"visibility": "shared", "tags": ["a"], "os_hidden": True, "Build-Id": "7", "min_ram": 1})
    assert held == {"visibility": "private", "build_id": "7", "min_ram": 1}
    assert held_attributes({"visibility": "community"})["visibility"] == "private"
    assert held_attributes({"visibility": "public"})["visibility"] == "public"


def test_a_property_v1_would_read_as_a_base_attribute_is_left_out_and_said(
    serve_one, start_serve, tmp_path: Path
) -> None:
    """Issue 20: a v2 property `Name` or `MIN-RAM` folds, in a v1 header name, into the base
    attribute: it is never sent to a v1 target nor compared as the attribute, and the image's
    line says it was not copied (-v, the report)."""
    assert held_attributes({"name": "real", "Name": "forged", "MIN-RAM": "9", "min_ram": 1}) == {
        "name": "real",
        "min_ram": 1,
    }
    (image_id,) = gc.seed_raw_images(serve_one.url, [1000])
    gc.patch(
        serve_one.url,
        image_id,
        [{"op": "add", "path": "/Name", "value": "forged"}, {"op": "add", "path": "/MIN-RAM", "value": "9"}],
    )
    target = start_serve(*V1_ONLY).url
    report = tmp_path / "run.jsonl"
    first = run("livecopy", serve_one.url, target, "--report", str(report))
    assert first.exit_code == 0, first.stderr
    said = "properties MIN-RAM, Name not copied"
    (line,) = image_lines(report)
    assert said in line["reason"]
    held = v1_detail(target)[image_id]
    assert held["name"] != "forged" and held["min_ram"] == 0 and held["properties"] == {}
    again = run("livecopy", serve_one.url, target, "-v")
    assert again.exit_code == 0, again.stderr
    assert f"identical; {said}" in again.stderr
    assert run("compare", serve_one.url, target).exit_code == 0


def test_a_value_no_header_can_carry_is_refused() -> None:
    with pytest.raises(ValueError, match="'note' holds a line break"):
        to_headers({"note": "two\nlines"})


def test_v1_listing_shows_public_images_unless_asked_for_all(v1_source) -> None:
    base, _ = v1_source
    default = gc.call("GET", f"{base}/v1/images/detail", 200).json()["images"]
    assert [image["name"] for image in default] == ["ubuntu"]
    everything = v1_detail(base)
    assert sorted(image["name"] for image in everything.values()) == ["empty", "secret", "ubuntu"]
    (ubuntu,) = [image for image in everything.values() if image["name"] == "ubuntu"]
    assert ubuntu["properties"] == {"os_distro": "ubuntu", "hw_disk_bus": "virtio"} and ubuntu["is_public"] is True
    head = gc.call("HEAD", f"{base}/v1/images/{ubuntu['id']}", 200).headers
    assert head["x-image-meta-property-os_distro"] == "ubuntu" and head["x-image-meta-is_public"] == "True"
    assert head["x-image-meta-size"] == "300000"
    assert gc.request("HEAD", f"{base}/v1/images/{uuid.uuid4()}").status == 404
    # A v1-only Glance serves no v2, and says which versions it has.
    assert gc.request("GET", f"{base}/v2/images").status == 300
    assert [v["id"] for v in gc.call("GET", f"{base}/versions", 200).json()["versions"]] == ["v1.1"]


def test_livecopy_from_v1_to_v2_maps_attributes_and_verifies_data(v1_source, serve_one) -> None:
    base, data = v1_source
    result = run("livecopy", base, serve_one.url)  # both API versions found by asking
    assert result.exit_code == 0, result.stderr
    records = {image["name"]: image for image in gc.list_all(serve_one.url)}
    ubuntu, secret, empty = records["ubuntu"], records["secret"], records["empty"]
    assert (ubuntu["visibility"], ubuntu["os_distro"], ubuntu["hw_disk_bus"], ubuntu["min_ram"]) == (
        "public",
        "ubuntu",
        "virtio",
        512,
    )
    assert (secret["visibility"], secret["protected"]) == ("private", True)
    assert empty["status"] == "queued"
    for image_id, payload in data.items():
        assert gc.get_image(serve_one.url, image_id)["os_hash_value"] == hashlib.sha512(payload).hexdigest()
        assert gc.download(serve_one.url, image_id) == payload
    assert run("compare", base, serve_one.url).exit_code == 0
    again = run("livecopy", base, serve_one.url)
    assert summary_count(again.stderr, "skip", "skipped") == 3


def test_livecopy_into_v1_creates_updates_and_leaves_out_what_v1_cannot_hold(v1_source, start_serve) -> None:
    base, data = v1_source
    target = start_serve(*V1_ONLY).url
    assert run("livecopy", base, target).exit_code == 0
    copied = v1_detail(target)
    assert {k: v["checksum"] for k, v in copied.items() if k in data} == {
        k: hashlib.md5(v).hexdigest() for k, v in data.items()
    }
    # A property changed and one removed on the source: the update reaches the v1 target.
    ubuntu = next(k for k, v in v1_detail(base).items() if v["name"] == "ubuntu")
    gc.call(
        "PUT",
        f"{base}/v1/images/{ubuntu}",
        200,
        None,
        {"x-image-meta-property-os_distro": "debian", "x-glance-registry-purge-props": "true"},
    )
    differences = json.loads(run("compare", base, target, "--json").stdout)
    assert [entry["id"] for entry in differences["images"]] == [ubuntu]
    assert run("livecopy", base, target).exit_code == 0
    assert v1_detail(target)[ubuntu]["properties"] == {"os_distro": "debian"}
    assert run("compare", base, target).exit_code == 0


def test_v2_image_with_tags_into_v1_is_not_reported_different_forever(serve_one, start_serve) -> None:
    (image_id,) = gc.seed_raw_images(serve_one.url, [1000])
    gc.patch(
        serve_one.url,
        image_id,
        [
            {"op": "add", "path": "/tags", "value": ["gold"]},
            {"op": "replace", "path": "/visibility", "value": "public"},
        ],
    )
    target = start_serve(*V1_ONLY).url
    assert run("livecopy", serve_one.url, target).exit_code == 0
    assert v1_detail(target)[image_id]["is_public"] is True
    assert run("compare", serve_one.url, target).exit_code == 0


def test_download_cut_from_a_v1_source_resumes(v1_source, serve_one, start_serve) -> None:
    server = start_serve(*V1_ONLY, "--drop-after-bytes", "100000", "--drop-count", "1")
    payload = os.urandom(250_000)
    image_id = v1_create(server.url, payload, name="cut")
    result = run("livecopy", server.url, serve_one.url)
    assert result.exit_code == 0, result.stderr
    assert "retry 1" in result.stderr
    assert gc.download(serve_one.url, image_id) == payload


def test_dump_of_a_v1_cloud_keeps_v1_records_and_loads_into_v2(v1_source, serve_one, tmp_path: Path) -> None:
    base, data = v1_source
    folder = tmp_path / "dump"
    assert run("dump", base, str(folder)).exit_code == 0
    for image_id in data:
        record = json.loads((folder / image_id).read_text())
        assert "properties" in record and "is_public" in record  # the v1 record, as the old tool wrote it
    assert run("load", serve_one.url, str(folder)).exit_code == 0
    assert run("compare", base, serve_one.url).exit_code == 0


def test_api_version_flags(v1_source, serve_one) -> None:
    base, _ = v1_source
    wrong = run("size", base, "--api-version", "2")
    assert wrong.exit_code == 2 and "300 Multiple Choices" in wrong.stderr
    assert run("size", base, "--api-version", "1").stdout.startswith("Total size is 370000 bytes")
    bad = run("compare", base, serve_one.url, "--target-api-version", "3")
    assert bad.exit_code == 2 and "API version must be one of auto, 1, 2" in bad.stderr
    assert run("compare", base, serve_one.url, "--source-api-version", "1", "--target-api-version", "2").exit_code == 1


def test_v1_server_behaves_as_a_v1_glance_did(v1_source) -> None:
    """The v1 rules clients depended on: PUT replaces properties, immutable fields, no Range."""
    base, data = v1_source
    ubuntu, payload = next((k, v) for k, v in data.items() if len(v) == 300_000)
    url = f"{base}/v1/images/{ubuntu}"
    # A PUT names the whole set of properties unless told to merge.
    gc.call("PUT", url, 200, None, {"x-image-meta-property-extra": "1", "x-glance-registry-purge-props": "false"})
    assert v1_detail(base)[ubuntu]["properties"] == {"os_distro": "ubuntu", "hw_disk_bus": "virtio", "extra": "1"}
    gc.call("PUT", url, 200, None, {"x-image-meta-property-os_distro": "debian"})
    assert v1_detail(base)[ubuntu]["properties"] == {"os_distro": "debian"}
    assert v1_detail(base)[ubuntu]["min_ram"] == 512  # base attributes are not properties: kept
    assert gc.request("PUT", url, None, {"x-image-meta-status": "queued"}).status == 403
    assert gc.request("PUT", url, None, {"x-image-meta-size": "1"}).status == 403
    assert gc.request("PUT", url, None, {"x-image-meta-colour": "red"}).status == 400  # not a v1 field
    # The whole image, whatever range is asked for (webob ignored Range for v1).
    ranged = gc.request("GET", url, None, {"Range": "bytes=1000-"})
    assert (ranged.status, ranged.body) == (200, payload)
    (empty,) = [k for k, v in v1_detail(base).items() if v["name"] == "empty"]
    assert gc.request("GET", f"{base}/v1/images/{empty}").status == 404  # not active


def test_our_load_into_a_v1_cloud(serve_one, start_serve, tmp_path: Path) -> None:
    """A v2 cloud dumped and loaded into a v1 one: what v1 can hold arrives, and compares equal
    (tags, "shared" and property names v1 would rewrite are compared the way v1 holds them)."""
    payloads = gc.seed_raw_images(serve_one.url, [5000, 7000])
    first = next(iter(payloads))
    gc.patch(
        serve_one.url,
        first,
        [
            {"op": "add", "path": "/distro", "value": "arch"},
            {"op": "add", "path": "/Build-Id", "value": "42"},
            {"op": "add", "path": "/tags", "value": ["t"]},
            {"op": "replace", "path": "/visibility", "value": "public"},
        ],
    )
    folder = tmp_path / "dump"
    assert run("dump", serve_one.url, str(folder)).exit_code == 0
    target = start_serve(*V1_ONLY).url
    loaded = run("load", target, str(folder))
    assert loaded.exit_code == 0, loaded.stderr
    copies = v1_detail(target)
    assert copies[first]["properties"] == {"distro": "arch", "build_id": "42"} and copies[first]["is_public"] is True
    (other,) = set(payloads) - {first}
    assert gc.get_image(serve_one.url, other)["visibility"] == "shared" and copies[other]["is_public"] is False
    assert {k: v["checksum"] for k, v in copies.items()} == {k: hashlib.md5(v).hexdigest() for k, v in payloads.items()}
    assert run("compare", serve_one.url, target).exit_code == 0
    assert summary_count(run("load", target, str(folder)).stderr, "skip", "skipped") == 2


def test_an_upload_cut_on_a_v1_target_kills_the_image_and_we_say_so(serve_one, start_serve) -> None:
    """v1 marks an image whose upload failed `killed` and never takes data for it again: the
    retry fails with that reason, and a later run reports it instead of trying."""
    (image_id,) = gc.seed_raw_images(serve_one.url, [200_000])
    target = start_serve(*V1_ONLY, "--drop-upload-after-bytes", "50000", "--drop-count", "1").url
    result = run("livecopy", serve_one.url, target)
    assert result.exit_code != 0
    assert "marked it 'killed'" in result.stderr and "Traceback" not in result.stderr
    assert v1_detail(target)[image_id]["status"] == "killed"
    again = run("livecopy", serve_one.url, target)
    assert again.exit_code != 0 and "target image is killed" in again.stderr


@pytest.mark.server
@pytest.mark.parametrize(
    ("fake_server", "message"),
    [
        ((200, b'{"servers": []}'), "not a Glance v1 answer"),
        ((200, b'{"images": [{"id": "../../etc/passwd"}]}'), "without a valid image id"),
        ((200, json.dumps({"images": [{"id": IMAGE_ID, "status": "active", "size": "lots"}]}).encode()), "bad record"),
        # The same page whatever the marker: a server that ignores it would page forever.
        ((200, json.dumps({"images": [{"id": IMAGE_ID, "status": "active", "size": 1}]}).encode()), "loops"),
    ],
    indirect=["fake_server"],
)
def test_v1_listings_that_are_not_a_glance_answer(fake_server: str, message: str) -> None:
    result = replicator("size", fake_server, "--retries", "0", "--api-version", "1")
    assert_one_line_error(result, message)


async def test_a_create_whose_answer_was_lost_is_not_an_error_but_a_deleted_id_is(start_serve) -> None:
    """A 409 on create is looked up with `HEAD`: our own earlier create (it carries our mark: issue
    20) is fine, a deleted image's id is an error that says why (Glance never reuses an id)."""
    base = start_serve(*V1_ONLY).url
    store = await open_glance(Side(base), Settings(mark_property="replicated_by"))
    try:
        assert isinstance(store, GlanceV1Store)  # found by asking /versions
        image = ImageRecord(id=str(uuid.uuid4()), status="queued", attributes={"name": "twice"})
        ours = {"name": "twice", "disk_format": "raw", "container_format": "bare", "replicated_by": "replicator"}
        await store.create_image(image, ours)
        await store.create_image(image, ours)
        assert [v["name"] for v in v1_detail(base).values()] == ["twice"]
        gc.call("DELETE", f"{base}/v1/images/{image.id}", 200)
        with pytest.raises(ImageError, match="409.*deleted on the target"):
            await store.create_image(image, {"name": "twice"})
    finally:
        await store.close()


PROJECT_B, PROJECT_C = "2f0e3f1a9c5b4d6e8f7a6b5c4d3e2f1a", "9a8b7c6d5e4f4a3b2c1d0e9f8a7b6c5d"


def v1_members(base: str, image_id: str) -> set[str]:
    return {m["member_id"] for m in gc.call("GET", f"{base}/v1/images/{image_id}/members", 200).json()["members"]}


def test_v1_shares_become_v2_shared_images_with_accepted_members(start_serve, serve_one) -> None:
    """A v1 member needed no step of its own to see the image: in v2 that is an accepted member."""
    source = start_serve(*V1_ONLY).url
    shared = v1_create(source, os.urandom(3000), name="shared")
    alone = v1_create(source, os.urandom(3000), name="alone")
    for member in (PROJECT_B, PROJECT_C):
        gc.call("PUT", f"{source}/v1/images/{shared}/members/{member}", 204)
    assert run("livecopy", source, serve_one.url).exit_code == 0
    assert gc.get_image(serve_one.url, shared)["visibility"] == "shared"
    assert gc.get_image(serve_one.url, alone)["visibility"] == "private"
    assert {m["member_id"]: m["status"] for m in gc.list_members(serve_one.url, shared)} == {
        PROJECT_B: "accepted",
        PROJECT_C: "accepted",
    }
    assert run("compare", source, serve_one.url).exit_code == 0
    gc.call("DELETE", f"{source}/v1/images/{shared}/members/{PROJECT_C}", 204)
    assert run("livecopy", source, serve_one.url).exit_code == 0
    assert [m["member_id"] for m in gc.list_members(serve_one.url, shared)] == [PROJECT_B]


def test_v2_shares_reach_a_v1_cloud_without_their_status(serve_one, start_serve) -> None:
    (image_id,) = gc.seed_raw_images(serve_one.url, [2000])
    gc.add_member(serve_one.url, image_id, PROJECT_B)
    gc.add_member(serve_one.url, image_id, PROJECT_C)
    gc.update_member(serve_one.url, image_id, PROJECT_C, "rejected")
    target = start_serve(*V1_ONLY).url
    assert run("livecopy", serve_one.url, target).exit_code == 0
    assert v1_members(target, image_id) == {PROJECT_B, PROJECT_C}
    # v1 has no member status: a pending and a rejected share are the same share there.
    assert run("compare", serve_one.url, target).exit_code == 0
    gc.call("DELETE", f"{serve_one.url}/v2/images/{image_id}/members/{PROJECT_B}", 204)
    assert json.loads(run("compare", serve_one.url, target, "--json").stdout)["summary"]["different"] == 1
    assert run("livecopy", serve_one.url, target).exit_code == 0
    assert v1_members(target, image_id) == {PROJECT_C}


def test_a_v1_dump_stays_in_the_old_tools_format_with_shares(start_serve, tmp_path: Path) -> None:
    """The old tool's `load` sends every key of a record as a header: a v1 record gets no
    `members` key, and a rerun of the dump does not find the share missing from it."""
    source = start_serve(*V1_ONLY).url
    image_id = v1_create(source, os.urandom(3000), name="shared")
    gc.call("PUT", f"{source}/v1/images/{image_id}/members/{PROJECT_B}", 204)
    folder = tmp_path / "dump"
    assert run("dump", source, str(folder)).exit_code == 0
    assert "members" not in json.loads((folder / image_id).read_text())
    assert summary_count(run("dump", source, str(folder)).stderr, "skip", "skipped") == 1


def test_a_deactivated_image_is_not_made_usable_on_a_v1_cloud(serve_one, start_serve) -> None:
    payloads = gc.seed_raw_images(serve_one.url, [1000, 2000])
    retired, kept = list(payloads)
    gc.deactivate(serve_one.url, retired)
    target = start_serve(*V1_ONLY).url
    result = run("livecopy", serve_one.url, target)
    assert result.exit_code != 0 and "Glance v1 cannot deactivate its copy" in result.stderr
    assert list(v1_detail(target)) == [kept]


@pytest.mark.server
@pytest.mark.parametrize(
    "fake_server",
    [(200, json.dumps({"images": [1, 2]}).encode()), (200, json.dumps({"images": [{"id": "../x"}]}).encode())],
    indirect=True,
)
def test_a_v1_page_whose_last_entry_is_no_image_record_is_one_line(fake_server: str) -> None:
    result = replicator("size", fake_server, "--retries", "0", "--api-version", "1")
    assert_one_line_error(result, "the image listing holds a record without a valid image id")
