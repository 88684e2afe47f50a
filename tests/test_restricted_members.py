"""Members into a target whose credentials are a plain project member's: real Glance 33 lets an
image's owner add members but not set their status (only the member project, or an admin, may
accept or reject a share). Every member is added, and each status refused is reported apart."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from tests.support import glance_client as gc
from tests.support.cli import run
from tests.support.glance_context import ADMIN_VARIABLE
from tests.support.report_file import image_lines

pytestmark = pytest.mark.realglance

MEMBERS = {
    "c0000000000000000000000000000001": "accepted",
    "c0000000000000000000000000000002": "pending",
    "c0000000000000000000000000000003": "rejected",
    "c0000000000000000000000000000004": "pending",
}


@pytest.fixture
def member_target(glance_template, start_real_glance, tmp_path: Path):
    rules = json.loads(glance_template.policy_file.read_text())
    rules["context_is_admin"] = "role:admin"  # with "@", anyone would count as an admin
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(rules))
    return start_real_glance(overrides={"oslo_policy": {"policy_file": str(policy)}}, env={ADMIN_VARIABLE: "0"})


def shared_image(url: str) -> str:
    image_id = str(uuid.uuid4())
    gc.create_image(url, id=image_id, name="shared", disk_format="raw", container_format="bare", visibility="shared")
    gc.upload(url, image_id, os.urandom(4096))
    for member, status in MEMBERS.items():
        gc.send_json("POST", f"{url}/v2/images/{image_id}/members", {"member": member})
        if status != "pending":
            gc.send_json("PUT", f"{url}/v2/images/{image_id}/members/{member}", {"status": status})
    return image_id


def test_every_member_is_added_and_each_refused_status_is_reported(real_glance, member_target, tmp_path) -> None:
    image_id = shared_image(real_glance.url)
    report = tmp_path / "report.jsonl"
    result = run("livecopy", real_glance.url, member_target.url, "--report", str(report))
    assert result.exit_code == 1, result.output
    members = gc.call("GET", f"{member_target.url}/v2/images/{image_id}/members", 200).json()["members"]
    assert {m["member_id"]: m["status"] for m in members} == dict.fromkeys(MEMBERS, "pending")
    [line] = image_lines(report)
    assert line["result"] == "failed", line
    for member in ("c0000000000000000000000000000001", "c0000000000000000000000000000003"):
        assert f"member {member}: status {MEMBERS[member]} refused" in line["error"], line
    assert "c0000000000000000000000000000004" not in line["error"]
