"""Mapping store formats onto the neutral record: which attributes travel, v1 and v2 shapes."""

import pytest

from replicator.model.records import RecordError, is_image_id, record_from_v2
from replicator.stores.dumpdir import record_from_dump
from tests.support.records import IMAGE_ID


def test_v2_record_keeps_settable_attributes_and_drops_computed_ones():
    record = record_from_v2(
        {
            "id": IMAGE_ID,
            "status": "active",
            "name": "n",
            "size": 5,
            "checksum": "ab",
            "os_hash_algo": "sha512",
            "os_hash_value": "cd",
            "created_at": "x",
            "updated_at": "y",
            "self": "/v2/images/x",
            "file": "/f",
            "schema": "/s",
            "stores": "fs",
            "virtual_size": None,
            "os_glance_importing_to_stores": "",
            "tags": ["a"],
            "custom": "v",
            "visibility": "shared",
        }
    )
    assert record.attributes == {"name": "n", "tags": ["a"], "custom": "v", "visibility": "shared"}
    assert (record.size, record.checksum, record.hash_algo, record.hash_value) == (5, "ab", "sha512", "cd")


def test_v1_dump_record_is_mapped_to_v2_attributes():
    record = record_from_dump(
        {
            "id": IMAGE_ID,
            "name": "old",
            "status": "active",
            "is_public": True,
            "protected": "False",
            "min_ram": "512",
            "min_disk": 0,
            "size": 3,
            "checksum": "ab",
            "disk_format": "raw",
            "container_format": "bare",
            "deleted": False,
            "owner": "p",
            "properties": {"kernel_id": "k", "os_distro": "debian"},
        }
    )
    assert record.attributes == {
        "name": "old",
        "visibility": "public",
        "protected": False,
        "min_ram": 512,
        "min_disk": 0,
        "disk_format": "raw",
        "container_format": "bare",
        "owner": "p",
        "kernel_id": "k",
        "os_distro": "debian",
    }
    assert record.size == 3 and record.checksum == "ab"


def test_private_v1_image_becomes_private():
    record = record_from_dump({"id": IMAGE_ID, "is_public": False, "properties": {}})
    assert record.attributes["visibility"] == "private"


@pytest.mark.parametrize("bad", ["../../etc/passwd", "abc", "", None, 5, IMAGE_ID + "/x"])
def test_ids_that_are_not_uuids_are_refused(bad):
    assert not is_image_id(bad)
    with pytest.raises(ValueError):
        record_from_v2({"id": bad})


def test_server_reason_is_plain_text_from_webob_bodies():
    from replicator.stores.glance.transport import server_reason

    body = b"403 Forbidden\n\nYou are not authorized to complete upload_image action.&lt;br /&gt;&lt;br /&gt;\n\n\n"
    assert server_reason(body) == "403 Forbidden You are not authorized to complete upload_image action."
    html = b"<html><head><title>409 Conflict</title></head><body><h1>409 Conflict</h1>Image with identifier x already exists!<br /><br /></body></html>"
    assert server_reason(html) == "Image with identifier x already exists!"
    assert server_reason(b'{"message": "bad thing<br /><br />\\n\\n", "code": "409 Conflict"}') == "bad thing"


def test_hashes_that_are_not_text_are_no_image_record() -> None:
    """A listing whose checksum is a list would otherwise fail deep in the copy, as a crash."""
    with pytest.raises(ValueError, match="checksum is not text"):
        record_from_v2({"id": IMAGE_ID, "status": "active", "checksum": ["a"]})
    with pytest.raises(ValueError, match="os_hash_value is not text"):
        record_from_v2({"id": IMAGE_ID, "status": "active", "os_hash_value": 7})


@pytest.mark.parametrize(
    "raw",
    [
        {"id": IMAGE_ID, "size": {"a": 1}},
        {"id": IMAGE_ID, "size": "lots"},
        {"id": IMAGE_ID, "size": True},
        {"id": IMAGE_ID, "size": float("inf")},
        {"id": IMAGE_ID, "members": ["p"]},
        {"id": IMAGE_ID, "members": [{"status": "accepted"}]},
        {"id": IMAGE_ID, "properties": ["a"], "is_public": True},  # v1: properties not an object
        {"id": IMAGE_ID, "properties": {}, "min_ram": "much"},
        {"id": IMAGE_ID, "properties": {}, "tags": 7},
        {"id": IMAGE_ID, "properties": {}, "size": []},
    ],
)
def test_a_record_of_the_wrong_shape_is_a_record_error(raw) -> None:
    """Bad input is a RecordError, the only error the stores turn into "bad record"."""
    with pytest.raises(RecordError):
        record_from_dump(raw)


async def test_a_bug_in_a_decoder_is_not_reported_as_a_bad_record(monkeypatch) -> None:
    """Only RecordError means a bad record: an error of ours in a decoder stays itself."""
    from replicator.model import records
    from replicator.model.settings import Settings
    from replicator.openstack.connect import transport_for
    from replicator.stores.glance.v2 import GlanceV2Store

    def broken(attributes):
        raise TypeError("a bug of ours")

    monkeypatch.setattr(records, "without_null_properties", broken)
    store = GlanceV2Store(transport_for("http://127.0.0.1:9", Settings(), True, None, None), Settings())
    try:
        with pytest.raises(TypeError, match="a bug of ours"):
            store._decode({"id": IMAGE_ID, "status": "active"})
    finally:
        await store.close()
