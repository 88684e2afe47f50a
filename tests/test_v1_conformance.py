"""The built-in server's v1 API held to what the old `glance-replicator` expects of a v1 Glance.

No current Glance has a v1 API to hold the double to (Glance 33 answers 300 on `/v1`), so the
old tool is the reference: its own client (`glance.cmd.replicator.ImageService`, imported from
Glance 33, in this process) is pointed at `replicator serve --api v1`, and its own rules decide
(`_image_present`, `_dict_diff`, `_check_upload_response_headers`). What the old tool does with
these answers as a whole process is `test_old_tool_peer.py`; this module checks each answer it
relies on: the detail listing and its paging, `HEAD`'s headers, the `x-image-meta-*` round trip
of a create and an update, the data download. Members, which the old tool never copies, are
checked against the v1 API's documented shapes.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from tests.support import glance_client as gc
from tests.support.glance_v1 import v1_create, v1_detail
from tests.support.servers import ReplicatorServe

#: The old tool's default `--dontreplicate`: what it strips before comparing or copying.
DONTREPLICATE = "created_at date deleted_at location updated_at".split()
PAGE = 3


@pytest.fixture(scope="module")
def old() -> ModuleType:
    """The old tool's module (imported when first needed: it pulls in much of Glance)."""
    import glance.cmd.replicator

    return glance.cmd.replicator


@pytest.fixture
def v1_server(start_serve: Callable[..., ReplicatorServe]) -> ReplicatorServe:
    """A v1-only server whose pages hold `PAGE` images when the client names no limit."""
    return start_serve("--api", "v1", "--limit-param-default", str(PAGE))


@pytest.fixture
def client(old: ModuleType, v1_server: ReplicatorServe) -> Iterator[Any]:
    """The old tool's client of `v1_server`, on one kept-alive connection as the tool keeps it."""
    connection = http.client.HTTPConnection("127.0.0.1", v1_server.port, timeout=30)
    yield old.ImageService(connection, None)
    connection.close()


def stripped(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key not in DONTREPLICATE}


def seed(base: str, count: int) -> dict[str, bytes]:
    """Active images, public and private, every attribute the old tool sends set: {id: data}."""
    data = {}
    for index in range(count):
        payload = os.urandom(1000 + index)
        image_id = v1_create(
            base,
            payload,
            name=f"img-{index}",
            is_public=index % 2 == 0,
            owner="p1",
            min_ram=index,
            properties={"os_distro": "debian", "index": str(index)},
        )
        data[image_id] = payload
    return data


def test_the_detail_listing_pages_by_marker_through_every_image_once(client: Any, v1_server: ReplicatorServe) -> None:
    data = seed(v1_server.url, 2 * PAGE + 1)
    v1_create(v1_server.url, None, name="queued")

    first_page = gc.call("GET", f"{v1_server.url}/v1/images/detail?is_public=None", 200).json()["images"]
    listed = [image["id"] for image in client.get_images()]

    # Public and private alike (`is_public=None`), queued ones too, each once, over three pages
    # and the empty one that ends the tool's walk.
    assert len(first_page) == PAGE
    assert len(listed) == len(set(listed)) == len(data) + 1
    assert set(data) <= set(listed)


def test_an_image_reads_back_through_head_as_the_listing_shows_it(client: Any, old: ModuleType, v1_server) -> None:
    data = seed(v1_server.url, 2)

    for image in client.get_images():
        headers = client.get_image_meta(image["id"])
        # The tool's own test: a copy whose HEAD differs from the source's listing is updated on
        # every run. Values compare as text, properties as one dict.
        assert not old._dict_diff(stripped(image), stripped(headers)), (image, headers)
        assert headers["status"] == "active" and int(headers["size"]) == len(data[image["id"]])
        assert headers["checksum"] == hashlib.md5(data[image["id"]]).hexdigest()


def test_presence_is_a_status_header_and_an_absent_image_has_none(client: Any, old: ModuleType, v1_server) -> None:
    (image_id,) = seed(v1_server.url, 1)
    assert old._image_present(client, image_id)
    assert not old._image_present(client, str(uuid.uuid4()))


def test_the_data_downloads_with_its_metadata_in_headers(client: Any, v1_server) -> None:
    data = seed(v1_server.url, 1)
    ((image_id, payload),) = data.items()

    response = client.get_image(image_id)
    body = response.read()

    assert body == payload
    assert response.getheader("x-image-meta-checksum") == hashlib.md5(payload).hexdigest()
    assert response.getheader("x-image-meta-size") == str(len(payload))


def test_a_listed_record_sent_back_as_headers_creates_the_same_image(
    client: Any, old: ModuleType, v1_server, start_serve
) -> None:
    """The old tool's livecopy: every key of the source's listing record is sent as an
    `x-image-meta-*` header (ids, sizes, checksums and timestamps among them), the data as body."""
    data = seed(v1_server.url, 2)
    target = start_serve("--api", "v1")
    target_client = old.ImageService(http.client.HTTPConnection("127.0.0.1", target.port, timeout=30), None)

    for image in client.get_images():
        meta = stripped(image)
        headers, body = target_client.add_image(meta, client.get_image(image["id"]))
        old._check_upload_response_headers(headers, body)  # raises when the answer says no status

    copies = v1_detail(target.url)
    assert set(copies) == set(data)
    for image in client.get_images():
        assert not old._dict_diff(stripped(image), stripped(target_client.get_image_meta(image["id"])))
        assert gc.call("GET", f"{target.url}/v1/images/{image['id']}", 200).body == data[image["id"]]


def test_an_update_sent_as_headers_changes_the_image_and_keeps_its_data(
    client: Any, old: ModuleType, v1_server
) -> None:
    """The old tool's livecopy of a changed image: the whole record again, by `PUT`, no body."""
    data = seed(v1_server.url, 1)
    (image,) = client.get_images()
    changed = stripped(image)
    changed["name"] = "renamed"
    changed["properties"] = {**image["properties"], "os_distro": "ubuntu", "added": "yes"}

    headers, body = client.add_image_meta(changed)
    old._check_upload_response_headers(headers, body)

    after = client.get_image_meta(image["id"])
    assert not old._dict_diff(changed, stripped(after))
    assert after["properties"]["added"] == "yes" and after["name"] == "renamed"
    assert client.get_image(image["id"]).read() == data[image["id"]]


def test_members_are_added_listed_and_removed_as_v1_documents_them(v1_server) -> None:
    (image_id,) = seed(v1_server.url, 1)
    members = f"{v1_server.url}/v1/images/{image_id}/members"

    for member in ("p2", "p3", "p2"):  # adding a member twice is no error
        assert gc.request("PUT", f"{members}/{member}", b"").status == 204
    listed = gc.call("GET", members, 200).json()
    assert sorted(listed["members"], key=lambda m: m["member_id"]) == [
        {"member_id": "p2", "can_share": False},
        {"member_id": "p3", "can_share": False},
    ]

    assert gc.request("DELETE", f"{members}/p2").status == 204
    assert gc.call("GET", members, 200).json() == {"members": [{"member_id": "p3", "can_share": False}]}
