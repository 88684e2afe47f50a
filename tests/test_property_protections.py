"""A target with property protections (`property_protection_file`, rules by role) and
credentials that are a plain project member's: real Glance 33 refuses (403) a whole PATCH for
one protected property. The changes it allows are made, the refused one is named with advice."""

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

# A member may create and read `locked_*` properties, never change or remove them.
PROTECTIONS = """
[^locked_.*]
create = admin,member
read = admin,member
update = admin
delete = admin

[.*]
create = admin,member
read = admin,member
update = admin,member
delete = admin,member
"""


@pytest.fixture
def protected_target(glance_template, start_real_glance, tmp_path: Path):
    rules = json.loads(glance_template.policy_file.read_text())
    rules["context_is_admin"] = "role:admin"  # with "@", anyone would count as an admin
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(rules))
    protections = tmp_path / "property-protections.conf"
    protections.write_text(PROTECTIONS)
    overrides = {
        "oslo_policy": {"policy_file": str(policy)},
        "DEFAULT": {"property_protection_file": str(protections), "property_protection_rule_format": "roles"},
    }
    return start_real_glance(overrides=overrides, env={ADMIN_VARIABLE: "0"})


def test_a_protected_property_costs_only_its_own_change(real_glance, protected_target, tmp_path) -> None:
    source, target = real_glance.url, protected_target.url
    image_id = str(uuid.uuid4())
    gc.create_image(
        source, id=image_id, name="p", disk_format="raw", container_format="bare", color="blue", locked_a="1"
    )
    gc.upload(source, image_id, os.urandom(4096))
    first = run("livecopy", source, target)
    assert first.exit_code == 0, first.output
    assert gc.get_image(target, image_id)["locked_a"] == "1"

    gc.patch(
        source,
        image_id,
        [{"op": "replace", "path": "/color", "value": "green"}, {"op": "replace", "path": "/locked_a", "value": "2"}],
    )
    report = tmp_path / "again.jsonl"
    again = run("livecopy", source, target, "--report", str(report))
    assert again.exit_code == 1, again.output
    copy = gc.get_image(target, image_id)
    assert (copy["color"], copy["locked_a"]) == ("green", "1")  # the allowed change is made
    [line] = image_lines(report)
    assert "property locked_a: change refused by the target" in line["error"], line
    assert '-D "locked_a"' in line["error"]
