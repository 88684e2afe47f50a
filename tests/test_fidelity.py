"""Complete copies: members with their status, deactivated images, and the old tool's v1 dumps."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

from tests.support import glance_client as gc
from tests.support.cli import run, summary_count
from tests.support.records import settable

PROJECT_B, PROJECT_C = "2f0e3f1a9c5b4d6e8f7a6b5c4d3e2f1a", "9a8b7c6d5e4f4a3b2c1d0e9f8a7b6c5d"


def raw_image(base: str, name: str, data: bytes | None = None, **fields) -> str:
    image_id = str(uuid.uuid4())
    gc.create_image(base, id=image_id, name=name, disk_format="raw", container_format="bare", **fields)
    if data is not None:
        gc.upload(base, image_id, data)
    return image_id


def members(base: str, image_id: str) -> dict[str, str]:
    return {m["member_id"]: m["status"] for m in gc.list_members(base, image_id)}


def test_members_and_their_status_are_replicated_and_compared(glance_pair_any):
    source, target = glance_pair_any.source, glance_pair_any.target
    image_id = raw_image(source, "shared", os.urandom(1000), visibility="shared")
    gc.add_member(source, image_id, PROJECT_B)
    gc.add_member(source, image_id, PROJECT_C)
    gc.update_member(source, image_id, PROJECT_B, "accepted")

    assert run("livecopy", source, target).exit_code == 0
    assert members(target, image_id) == {PROJECT_B: "accepted", PROJECT_C: "pending"}
    assert run("compare", source, target).exit_code == 0

    gc.update_member(source, image_id, PROJECT_C, "rejected")
    gc.call("DELETE", f"{source}/v2/images/{image_id}/members/{PROJECT_B}", 204)
    compared = run("compare", source, target)
    assert compared.exit_code == 1 and "different" in compared.stdout
    assert run("livecopy", source, target).exit_code == 0
    assert members(target, image_id) == {PROJECT_C: "rejected"}
    assert run("livecopy", source, target, "--dontreplicate", "members").exit_code == 0


def test_deactivated_image_is_copied_with_its_data_and_stays_deactivated(glance_pair_any):
    source, target = glance_pair_any.source, glance_pair_any.target
    payload = os.urandom(50_000)
    image_id = raw_image(source, "retired", payload)
    gc.deactivate(source, image_id)

    result = run("livecopy", source, target)
    assert result.exit_code == 0, result.output
    copied = gc.get_image(target, image_id)
    assert copied["status"] == "deactivated"
    assert copied["checksum"] == hashlib.md5(payload).hexdigest()
    assert run("compare", source, target).exit_code == 0

    gc.call("POST", f"{source}/v2/images/{image_id}/actions/reactivate", 204)
    assert run("livecopy", source, target).exit_code == 0
    assert gc.get_image(target, image_id)["status"] == "active"


def write_v1_dump(folder: Path, image_id: str, data: bytes) -> None:
    """A dump as the old glance-replicator wrote it: v1 headers as JSON, data beside it."""
    record = {
        "id": image_id,
        "name": "from-v1",
        "status": "active",
        "is_public": True,
        "protected": False,
        "disk_format": "raw",
        "container_format": "bare",
        "min_ram": 256,
        "min_disk": 1,
        "size": len(data),
        "checksum": hashlib.md5(data).hexdigest(),
        "deleted": False,
        "deleted_at": None,
        "created_at": "2015-01-01T00:00:00",
        "updated_at": "2015-01-01T00:00:00",
        "owner": None,
        "properties": {"os_distro": "centos", "kernel_id": "none"},
    }
    (folder / image_id).write_text(json.dumps(record))
    (folder / f"{image_id}.img").write_bytes(data)


def test_old_tool_v1_dump_loads_into_v2_with_nothing_lost(glance_any, tmp_path: Path):
    image_id, data = str(uuid.uuid4()), os.urandom(70_000)
    write_v1_dump(tmp_path, image_id, data)

    result = run("load", glance_any.url, str(tmp_path))
    assert result.exit_code == 0, result.output
    loaded = gc.get_image(glance_any.url, image_id)
    assert loaded["status"] == "active" and loaded["checksum"] == hashlib.md5(data).hexdigest()
    assert (loaded["visibility"], loaded["min_ram"], loaded["min_disk"]) == ("public", 256, 1)
    assert (loaded["os_distro"], loaded["kernel_id"], loaded["name"]) == ("centos", "none", "from-v1")
    assert gc.download(glance_any.url, image_id) == data
    assert run("load", glance_any.url, str(tmp_path)).exit_code == 0
    assert summary_count(run("load", glance_any.url, str(tmp_path)).stderr, "skip", "skipped") == 1


def test_every_settable_attribute_survives_dump_and_load(glance_pair_any, tmp_path: Path):
    source, target = glance_pair_any.source, glance_pair_any.target
    image_id = raw_image(
        source,
        "all-fields",
        os.urandom(3000),
        visibility="shared",
        protected=True,
        min_ram=128,
        min_disk=3,
        tags=["x", "y"],
        os_hidden=True,
        custom_a="1",
        custom_b="two",
    )
    gc.add_member(source, image_id, PROJECT_B)
    assert run("dump", source, str(tmp_path)).exit_code == 0
    assert run("load", target, str(tmp_path)).exit_code == 0
    assert settable(gc.get_image(target, image_id)) == settable(gc.get_image(source, image_id))
    assert members(target, image_id) == {PROJECT_B: "pending"}
