"""The project's server behaves like real Glance 33 wherever the replicator depends on it.

Every test runs twice through `glance_any`: once against OpenStack Glance itself (the truth
each assertion was written from) and once against `python -m replicator.server`. A test that
fails only for "serve" is a difference the replicator's own tests would not notice.

Real Glance here runs with an admin context (see `glance_context`), as a replicator's
admin credentials would.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.support import glance_client as gc
from tests.support.servers import RealGlance, ReplicatorServe, ServerProcess

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

#: The keys of a new (queued) image record; no `direct_url` or `locations`, as Glance hides
#: them by default.
QUEUED_KEYS = {
    "id", "name", "status", "visibility", "protected", "os_hidden", "owner", "checksum",
    "os_hash_algo", "os_hash_value", "size", "virtual_size", "disk_format", "container_format",
    "min_ram", "min_disk", "tags", "created_at", "updated_at", "self", "file", "schema",
}  # fmt: skip

#: Attributes whose value only Glance sets, each with a value its schema accepts: Glance
#: validates values first (an invalid one answers 400), then refuses these with 403.
READ_ONLY_ON_CREATE = {
    "status": "active", "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z",
    "size": 3, "virtual_size": 3, "checksum": "abc", "direct_url": "file:///x", "self": "/x",
    "file": "/x", "schema": "/x", "stores": "fs",
}  # fmt: skip

SMALL_PAGE_CAP = 3


def new_id() -> str:
    """A fresh image id: ids of deleted images are never free again in Glance."""
    return str(uuid.uuid4())


def raw_image(url: str, **fields: Any) -> str:
    """Create a raw/bare image (Glance checks data against disk_format) and return its id."""
    return gc.create_image(url, id=new_id(), disk_format="raw", container_format="bare", **fields)["id"]


def active_image(url: str, data: bytes, **fields: Any) -> str:
    image_id = raw_image(url, **fields)
    gc.upload(url, image_id, data)
    return image_id


def put_file(url: str, image_id: str, data: bytes, **headers: str) -> gc.Response:
    return gc.request(
        "PUT",
        f"{url}/v2/images/{image_id}/file",
        data,
        {"Content-Type": gc.OCTET_STREAM, **headers},
    )


def all_ids(pages: list[dict[str, Any]]) -> list[str]:
    return [image["id"] for page in pages for image in page["images"]]


# --- create -----------------------------------------------------------------------------


def test_create_with_caller_id_returns_the_full_record(glance_any: ServerProcess) -> None:
    image_id = new_id()
    response = gc.send_json(
        "POST",
        glance_any.url + "/v2/images",
        {"id": image_id, "name": "n", "disk_format": "raw", "container_format": "bare"},
    )

    assert response.status == 201
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Location"].endswith(f"/v2/images/{image_id}")
    record = response.json()
    assert set(record) == QUEUED_KEYS
    assert record == record | {
        "id": image_id, "name": "n", "status": "queued", "disk_format": "raw",
        "container_format": "bare", "visibility": "shared", "protected": False,
        "os_hidden": False, "min_ram": 0, "min_disk": 0, "tags": [], "size": None,
        "virtual_size": None, "checksum": None, "os_hash_algo": None, "os_hash_value": None,
        "self": f"/v2/images/{image_id}", "file": f"/v2/images/{image_id}/file",
        "schema": "/v2/schemas/image",
    }  # fmt: skip
    assert TIMESTAMP.match(record["created_at"]) and TIMESTAMP.match(record["updated_at"])
    assert record["owner"] is None or isinstance(record["owner"], str)
    assert gc.get_image(glance_any.url, image_id) == record


def test_create_without_fields_leaves_them_null(glance_any: ServerProcess) -> None:
    record = gc.create_image(glance_any.url, id=new_id())
    assert set(record) == QUEUED_KEYS
    assert (record["name"], record["disk_format"], record["container_format"]) == (None,) * 3


def test_create_with_read_only_attribute_is_403(glance_any: ServerProcess) -> None:
    for attribute, value in READ_ONLY_ON_CREATE.items():
        response = gc.send_json("POST", glance_any.url + "/v2/images", {"id": new_id(), attribute: value})
        assert response.status == 403, attribute
        assert f"Attribute '{attribute}' is read-only." in response.text


def test_create_with_locations_is_403_reserved(glance_any: ServerProcess) -> None:
    response = gc.send_json("POST", glance_any.url + "/v2/images", {"locations": []})
    assert response.status == 403
    assert "Attribute 'locations' is reserved." in response.text


def test_create_ignores_hash_attributes(glance_any: ServerProcess) -> None:
    """`os_hash_algo` and `os_hash_value` are accepted on create but not stored."""
    record = gc.create_image(glance_any.url, id=new_id(), os_hash_algo="md5", os_hash_value="abc")
    assert (record["os_hash_algo"], record["os_hash_value"]) == (None, None)


def test_create_with_non_string_custom_property_is_400(glance_any: ServerProcess) -> None:
    response = gc.send_json("POST", glance_any.url + "/v2/images", {"id": new_id(), "num": 3})
    assert response.status == 400


def test_create_with_malformed_id_is_400(glance_any: ServerProcess) -> None:
    response = gc.send_json("POST", glance_any.url + "/v2/images", {"id": "not-a-uuid"})
    assert response.status == 400


def test_create_with_an_id_without_dashes_is_400(glance_any: ServerProcess) -> None:
    response = gc.send_json("POST", glance_any.url + "/v2/images", {"id": uuid.uuid4().hex})
    assert response.status == 400


@pytest.fixture
def glance_private(glance_kind: str, request: pytest.FixtureRequest) -> ServerProcess:
    """A server of `glance_kind` of this test's own, for a test that leaves behind what no
    later test could delete."""
    if glance_kind == "real":
        return request.getfixturevalue("start_real_glance")()
    return request.getfixturevalue("start_serve")()


def test_create_with_an_id_ending_in_a_line_break_never_succeeds(glance_private: ServerProcess) -> None:
    """Glance's id pattern ends in `$`, which also matches before a final line break: real
    Glance 33 stores such an image (listed, but unreachable: no path finds it) and answers 500,
    failing on its own `Location` header. Ours refuses it with 400 (`test_serve.py`). Neither
    tells the caller that an image was created."""
    url = glance_private.url
    response = gc.send_json("POST", url + "/v2/images", {"id": new_id() + "\n"})

    assert response.status in (400, 500)
    assert "Location" not in response.headers
    assert gc.request("GET", url + "/versions").status in (200, 300)


def test_create_with_existing_id_is_409(glance_any: ServerProcess) -> None:
    image_id = gc.create_image(glance_any.url, id=new_id())["id"]
    response = gc.send_json("POST", glance_any.url + "/v2/images", {"id": image_id})
    assert response.status == 409
    assert f"Image ID {image_id} already exists!" in response.text


def test_deleted_image_id_can_never_be_created_again(glance_any: ServerProcess) -> None:
    url = glance_any.url
    image_id = gc.create_image(url, id=new_id())["id"]

    assert gc.request("DELETE", f"{url}/v2/images/{image_id}").status == 204
    assert gc.request("GET", f"{url}/v2/images/{image_id}").status == 404
    assert gc.request("DELETE", f"{url}/v2/images/{image_id}").status == 404
    response = gc.send_json("POST", url + "/v2/images", {"id": image_id})
    assert response.status == 409
    assert f"Image ID {image_id} already exists!" in response.text


def test_unknown_image_is_404(glance_any: ServerProcess) -> None:
    image_id = new_id()
    response = gc.request("GET", f"{glance_any.url}/v2/images/{image_id}")
    assert response.status == 404
    assert f"No image found with ID {image_id}" in response.text


# --- metadata updates -------------------------------------------------------------------


def test_patch_adds_replaces_and_removes(glance_any: ServerProcess) -> None:
    url = glance_any.url
    image_id = raw_image(url, name="old", tags=["a"], color="red", size_class="big")
    ops = [
        {"op": "replace", "path": "/name", "value": "new"},
        {"op": "replace", "path": "/tags", "value": ["b", "c"]},
        {"op": "replace", "path": "/color", "value": "blue"},
        {"op": "add", "path": "/flavor", "value": "mint"},
        {"op": "remove", "path": "/size_class"},
        {"op": "add", "path": "/min_ram", "value": 512},
    ]

    response = gc.send_json("PATCH", f"{url}/v2/images/{image_id}", ops, gc.JSON_PATCH)

    assert response.status == 200
    for record in (response.json(), gc.get_image(url, image_id)):
        assert record["name"] == "new"
        assert sorted(record["tags"]) == ["b", "c"]
        assert (record["color"], record["flavor"], record["min_ram"]) == ("blue", "mint", 512)
        assert "size_class" not in record


def test_patch_add_overwrites_an_existing_property(glance_any: ServerProcess) -> None:
    image_id = raw_image(glance_any.url, color="red")
    record = gc.patch(glance_any.url, image_id, [{"op": "add", "path": "/color", "value": "x"}])
    assert record["color"] == "x"


def test_patch_removing_an_absent_property_is_409(glance_any: ServerProcess) -> None:
    image_id = raw_image(glance_any.url)
    response = gc.send_json(
        "PATCH",
        f"{glance_any.url}/v2/images/{image_id}",
        [{"op": "remove", "path": "/nothere"}],
        gc.JSON_PATCH,
    )
    assert response.status == 409
    assert "Property nothere does not exist." in response.text


def test_patch_of_read_only_attribute_is_403(glance_any: ServerProcess) -> None:
    image_id = raw_image(glance_any.url)
    response = gc.send_json(
        "PATCH",
        f"{glance_any.url}/v2/images/{image_id}",
        [{"op": "replace", "path": "/status", "value": "active"}],
        gc.JSON_PATCH,
    )
    assert response.status == 403
    assert "Attribute 'status' is read-only." in response.text


def test_patch_with_plain_json_is_415(glance_any: ServerProcess) -> None:
    image_id = raw_image(glance_any.url)
    response = gc.send_json(
        "PATCH",
        f"{glance_any.url}/v2/images/{image_id}",
        [{"op": "replace", "path": "/name", "value": "x"}],
    )
    assert response.status == 415
    assert gc.JSON_PATCH in response.headers["Accept-Patch"]


# --- data -------------------------------------------------------------------------------


def test_upload_download_round_trip(glance_any: ServerProcess) -> None:
    url = glance_any.url
    data = os.urandom(300_000)
    image_id = raw_image(url)

    assert put_file(url, image_id, data).status == 204
    record = gc.get_image(url, image_id)
    response = gc.request("GET", f"{url}/v2/images/{image_id}/file")

    assert set(record) == QUEUED_KEYS | {"stores"}
    assert record["status"] == "active"
    assert record["size"] == record["virtual_size"] == len(data)
    assert record["checksum"] == hashlib.md5(data).hexdigest()
    assert record["os_hash_algo"] == "sha512"
    assert record["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert response.status == 200
    assert response.body == data
    assert response.headers["Content-Type"] == gc.OCTET_STREAM
    assert response.headers["Content-Length"] == str(len(data))
    assert response.headers["Content-MD5"] == record["checksum"]


def test_range_download_is_206_with_content_range(glance_any: ServerProcess) -> None:
    url = glance_any.url
    data = os.urandom(10_000)
    image_id = active_image(url, data)
    file_url = f"{url}/v2/images/{image_id}/file"

    middle = gc.request("GET", file_url, headers={"Range": "bytes=10-19"})
    rest = gc.request("GET", file_url, headers={"Range": "bytes=9000-"})

    assert (middle.status, middle.body) == (206, data[10:20])
    assert middle.headers["Content-Range"] == "bytes 10-19/10000"
    assert (rest.status, rest.body) == (206, data[9000:])
    assert rest.headers["Content-Range"] == "bytes 9000-9999/10000"
    assert rest.headers["Content-Length"] == "1000"


def test_range_beyond_the_end_is_416(glance_any: ServerProcess) -> None:
    image_id = active_image(glance_any.url, b"0123456789")
    response = gc.request("GET", f"{glance_any.url}/v2/images/{image_id}/file", headers={"Range": "bytes=10-"})
    assert response.status == 416


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        (1005, "Size mismatch: expected 1005 bytes, got 1000 bytes"),
        (995, "Size exceeds: expected 995 bytes, got 1000 bytes"),
    ],
)
def test_upload_with_wrong_size_header_is_400_and_image_stays_queued(
    glance_any: ServerProcess, declared: int, message: str
) -> None:
    url = glance_any.url
    data = os.urandom(1000)
    image_id = raw_image(url)

    response = put_file(url, image_id, data, **{"x-openstack-image-size": str(declared)})

    assert response.status == 400
    assert message in response.text
    assert gc.get_image(url, image_id)["status"] == "queued"
    assert put_file(url, image_id, data).status == 204
    assert gc.get_image(url, image_id)["status"] == "active"


def test_upload_of_random_bytes_as_qcow2_is_415(glance_any: ServerProcess) -> None:
    url = glance_any.url
    image_id = gc.create_image(url, id=new_id(), disk_format="qcow2", container_format="bare")["id"]
    response = put_file(url, image_id, os.urandom(1000))
    assert response.status == 415
    assert "Image disk_format qcow2 does not match stream data raw" in response.text
    assert gc.get_image(url, image_id)["status"] == "queued"


def test_upload_without_disk_and_container_format_is_400(glance_any: ServerProcess) -> None:
    image_id = gc.create_image(glance_any.url, id=new_id())["id"]
    response = put_file(glance_any.url, image_id, b"data")
    assert response.status == 400
    assert "Properties disk_format, container_format must be set prior to saving data." in (response.text)


def test_upload_with_json_content_type_is_415(glance_any: ServerProcess) -> None:
    image_id = raw_image(glance_any.url)
    response = gc.request(
        "PUT",
        f"{glance_any.url}/v2/images/{image_id}/file",
        b"data",
        {"Content-Type": "application/json"},
    )
    assert response.status == 415


def test_second_upload_to_active_image_is_409(glance_any: ServerProcess) -> None:
    image_id = active_image(glance_any.url, b"data")
    response = put_file(glance_any.url, image_id, b"data")
    assert response.status == 409
    assert "Image status transition from active to saving is not allowed" in response.text


def test_file_of_queued_image_is_204_without_body(glance_any: ServerProcess) -> None:
    image_id = raw_image(glance_any.url)
    response = gc.request("GET", f"{glance_any.url}/v2/images/{image_id}/file")
    assert (response.status, response.body) == (204, b"")


def test_deactivated_image_still_downloads_for_an_admin(glance_any: ServerProcess) -> None:
    """Glance refuses deactivated data (403) to non-admins only; the replicator runs as admin."""
    url = glance_any.url
    data = os.urandom(1000)
    image_id = active_image(url, data)

    gc.deactivate(url, image_id)

    assert gc.get_image(url, image_id)["status"] == "deactivated"
    assert gc.download(url, image_id) == data
    gc.call("POST", f"{url}/v2/images/{image_id}/actions/reactivate", 204)
    assert gc.get_image(url, image_id)["status"] == "active"


def test_deactivating_a_queued_image_is_403(glance_any: ServerProcess) -> None:
    image_id = raw_image(glance_any.url)
    response = gc.request("POST", f"{glance_any.url}/v2/images/{image_id}/actions/deactivate")
    assert response.status == 403
    assert "Not allowed to deactivate image in status 'queued'" in response.text


# --- interoperable import ---------------------------------------------------------------


def test_info_lists_import_methods_and_stores(glance_any: ServerProcess) -> None:
    methods = gc.call("GET", glance_any.url + "/v2/info/import", 200).json()
    stores = gc.call("GET", glance_any.url + "/v2/info/stores", 200).json()

    assert "glance-direct" in methods["import-methods"]["value"]
    assert methods["import-methods"]["type"] == "array"
    assert [store for store in stores["stores"] if store.get("default") == "true"]


def test_stage_then_glance_direct_import(glance_any: ServerProcess) -> None:
    url = glance_any.url
    data = os.urandom(50_000)
    image_id = raw_image(url)

    staged = gc.request("PUT", f"{url}/v2/images/{image_id}/stage", data, {"Content-Type": gc.OCTET_STREAM})
    assert staged.status == 204
    assert gc.get_image(url, image_id)["status"] == "uploading"

    imported = gc.send_json("POST", f"{url}/v2/images/{image_id}/import", {"method": {"name": "glance-direct"}})
    assert imported.status == 202

    record = wait_for_status(url, image_id, {"uploading", "importing"})
    assert record["status"] == "active"
    assert record["checksum"] == hashlib.md5(data).hexdigest()
    assert gc.download(url, image_id) == data


def test_import_without_stage_is_409(glance_any: ServerProcess) -> None:
    image_id = raw_image(glance_any.url)
    response = gc.send_json(
        "POST",
        f"{glance_any.url}/v2/images/{image_id}/import",
        {"method": {"name": "glance-direct"}},
    )
    assert response.status == 409
    assert "Image needs to be staged before 'glance-direct' method can be used" in response.text


def wait_for_status(url: str, image_id: str, passing: set[str]) -> dict[str, Any]:
    """Poll the image until its status leaves `passing` (import runs in the background)."""
    deadline = time.monotonic() + 30
    while True:
        record = gc.get_image(url, image_id)
        if record["status"] not in passing or time.monotonic() > deadline:
            return record
        time.sleep(0.1)


# --- members ----------------------------------------------------------------------------


def test_members_add_list_and_update(glance_any: ServerProcess) -> None:
    url = glance_any.url
    image_id = raw_image(url, visibility="shared")

    added = gc.add_member(url, image_id, "project-b")
    members_url = f"{url}/v2/images/{image_id}/members"
    duplicate = gc.send_json("POST", members_url, {"member": "project-b"})
    updated = gc.update_member(url, image_id, "project-b", "accepted")
    listing = gc.call("GET", members_url, 200).json()

    assert added["member_id"] == "project-b" and added["image_id"] == image_id
    assert added["status"] == "pending"
    assert set(added) == {"member_id", "image_id", "status", "created_at", "updated_at", "schema"}
    assert duplicate.status == 409
    assert updated["status"] == "accepted"
    assert listing["schema"] == "/v2/schemas/members"
    assert [(m["member_id"], m["status"]) for m in listing["members"]] == [("project-b", "accepted")]


def test_member_status_must_be_a_known_one(glance_any: ServerProcess) -> None:
    url = glance_any.url
    image_id = raw_image(url, visibility="shared")
    gc.add_member(url, image_id, "project-b")
    response = gc.send_json("PUT", f"{url}/v2/images/{image_id}/members/project-b", {"status": "bogus"})
    assert response.status == 400


def test_private_image_has_no_members(glance_any: ServerProcess) -> None:
    url = glance_any.url
    image_id = raw_image(url, visibility="private")
    added = gc.send_json("POST", f"{url}/v2/images/{image_id}/members", {"member": "p"})
    listed = gc.request("GET", f"{url}/v2/images/{image_id}/members")
    assert added.status == 403
    assert listed.status == 403
    assert "Only shared images have members." in listed.text


# --- listing ----------------------------------------------------------------------------


def test_listing_pages_follow_next_until_absent(glance_any: ServerProcess) -> None:
    """A full page always carries `next`, so an exact multiple ends with an empty page."""
    url = glance_any.url
    created = {gc.create_image(url, id=new_id())["id"] for _ in range(4)}

    pages = gc.list_pages(url, limit=2)

    assert [len(page["images"]) for page in pages] == [2, 2, 0]
    assert ["next" in page for page in pages] == [True, True, False]
    assert all(page["next"].startswith("/v2/images?") for page in pages[:-1])
    assert sorted(all_ids(pages)) == sorted(created)


def test_listing_with_unknown_marker_is_400(glance_any: ServerProcess) -> None:
    response = gc.request("GET", f"{glance_any.url}/v2/images?marker={new_id()}")
    assert response.status == 400


def test_listing_by_id_ascending_pages_by_marker_in_byte_order(glance_any: ServerProcess) -> None:
    """The order a side-by-side walk of two listings needs: ids ascending as byte strings (an
    upper-case id before every lower-case one), `next` keeping the order, and a marker placing
    the page even when the marker image is not listed itself (a hidden one here)."""
    url = glance_any.url
    ids = [gc.create_image(url, id=new_id(), visibility=v)["id"] for v in ("public", "private", "shared", "community")]
    ids.append(gc.create_image(url, id=new_id().upper())["id"])
    hidden = gc.create_image(url, id=new_id(), os_hidden=True)["id"]
    expected = sorted(ids)
    everything = {"visibility": "all", "member_status": "all"}

    classic = gc.list_pages(url, sort_key="id", sort_dir="asc", limit=2, **everything)
    uniform = gc.list_pages(url, sort="id:asc", limit=2, **everything)
    descending = gc.list_pages(url, sort="id", **everything)  # a key alone sorts descending
    after = gc.list_pages(url, sort_key="id", sort_dir="asc", marker=expected[1], **everything)
    after_hidden = gc.list_pages(url, sort_key="id", sort_dir="asc", marker=hidden, **everything)

    assert all_ids(classic) == all_ids(uniform) == expected
    assert [len(page["images"]) for page in classic] == [2, 2, 1]
    assert all("sort_key=id" in page["next"] and "sort_dir=asc" in page["next"] for page in classic[:-1])
    assert all_ids(descending) == expected[::-1]
    assert all_ids(after) == expected[2:]
    assert all_ids(after_hidden) == [image_id for image_id in expected if image_id > hidden]
    assert all_ids(gc.list_pages(url, sort_key="id", sort_dir="asc", os_hidden="true", **everything)) == [hidden]


def test_listing_parameters_are_checked(glance_any: ServerProcess) -> None:
    bad = [
        "sort_key=bogus", "sort_dir=up", "sort=id:up", "sort=id:asc&sort_key=name",
        "sort_key=id&sort_key=name&sort_dir=asc&sort_dir=desc&sort_dir=asc", "os_hidden=yes",
        "member_status=bogus", "visibility=bogus", "limit=-1", "limit=x", f"marker={new_id()}",
    ]  # fmt: skip
    statuses = {query: gc.request("GET", f"{glance_any.url}/v2/images?{query}").status for query in bad}
    assert statuses == dict.fromkeys(bad, 400)
    good = ["sort_key=id&sort_dir=asc&sort_key=name", "sort=id:asc,name:desc", "os_hidden=TRUE", "limit=0"]
    statuses = {query: gc.request("GET", f"{glance_any.url}/v2/images?{query}").status for query in good}
    assert statuses == dict.fromkeys(good, 200)


@pytest.fixture
def glance_small_cap(glance_kind: str, request: pytest.FixtureRequest) -> ServerProcess:
    """A server of `glance_kind` whose page size cap is `SMALL_PAGE_CAP`, not 1000.

    Both kinds take Glance's option name, `api_limit_max`.
    """
    if glance_kind == "real":
        start_real: Callable[..., RealGlance] = request.getfixturevalue("start_real_glance")
        return start_real(overrides={"DEFAULT": {"api_limit_max": str(SMALL_PAGE_CAP)}})
    start_serve: Callable[..., ReplicatorServe] = request.getfixturevalue("start_serve")
    return start_serve("--api-limit-max", str(SMALL_PAGE_CAP))


def test_limit_above_the_cap_is_cut_to_the_cap(glance_small_cap: ServerProcess) -> None:
    url = glance_small_cap.url
    created = {gc.create_image(url, id=new_id())["id"] for _ in range(SMALL_PAGE_CAP + 1)}

    pages = gc.list_pages(url, limit=1000)

    assert [len(page["images"]) for page in pages] == [SMALL_PAGE_CAP, 1]
    assert sorted(all_ids(pages)) == sorted(created)


def test_visibility_all_lists_every_visibility(glance_any: ServerProcess) -> None:
    url = glance_any.url
    by_visibility = {
        visibility: gc.create_image(url, id=new_id(), visibility=visibility)["id"]
        for visibility in ("public", "private", "shared", "community")
    }

    pages = gc.list_pages(url, visibility="all", member_status="all")

    assert sorted(all_ids(pages)) == sorted(by_visibility.values())
    community = gc.list_pages(url, visibility="community")
    assert all_ids(community) == [by_visibility["community"]]


def test_hidden_images_are_listed_only_with_os_hidden_true(glance_any: ServerProcess) -> None:
    url = glance_any.url
    shown = gc.create_image(url, id=new_id())["id"]
    hidden = gc.create_image(url, id=new_id(), os_hidden=True)["id"]

    assert all_ids(gc.list_pages(url, visibility="all")) == [shown]
    assert all_ids(gc.list_pages(url, visibility="all", os_hidden="true")) == [hidden]
    assert gc.get_image(url, hidden)["os_hidden"] is True
