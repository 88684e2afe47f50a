"""A target whose credentials may not publish images or give them another project's owner.

Real Glance refuses both with 403: `publicize_image`/`communitize_image` by policy, and an
owner other than the caller's project for anyone but an admin. Such images fail with that
reason, or with `--fallback-visibility`/`--fallback-owner` are created anyway, as the target
allows, with the difference said in the result.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support import glance_client as gc
from tests.support.cli import run
from tests.support.glance_context import ADMIN_VARIABLE, PROJECT_ID
from tests.support.report_file import image_lines

pytestmark = pytest.mark.realglance

OTHER_PROJECT = "c0000000000000000000000000000002"


@pytest.fixture
def restricted_target(glance_template, start_real_glance, tmp_path: Path):
    """A Glance where the caller is a plain member and may not make images public or community."""
    rules = json.loads(glance_template.policy_file.read_text())
    # With every rule "@", Glance would count anyone as an admin through `context_is_admin`.
    rules.update({"publicize_image": "!", "communitize_image": "!", "context_is_admin": "role:admin"})
    policy = tmp_path / "restricted-policy.json"
    policy.write_text(json.dumps(rules))
    return start_real_glance(overrides={"oslo_policy": {"policy_file": str(policy)}}, env={ADMIN_VARIABLE: "0"})


def seed(url: str) -> dict[str, dict[str, Any]]:
    images = {
        "public": {"visibility": "public"},
        "community": {"visibility": "community"},
        "other-owner": {"visibility": "private", "owner": OTHER_PROJECT},
        "plain": {"visibility": "private"},
    }
    ids = {}
    for name, fields in images.items():
        image_id = str(uuid.uuid4())
        gc.create_image(url, id=image_id, name=name, disk_format="raw", container_format="bare", **fields)
        gc.upload(url, image_id, os.urandom(10_000))
        ids[name] = image_id
    return {name: {"id": image_id} for name, image_id in ids.items()}


def report_of(path: Path) -> dict[str, dict[str, Any]]:
    return {line["name"]: line for line in image_lines(path)}


def test_refused_visibility_and_owner_fail_with_glance_reason(real_glance, restricted_target, tmp_path: Path):
    seed(real_glance.url)
    report = tmp_path / "report.jsonl"

    result = run("livecopy", real_glance.url, restricted_target.url, "--report", str(report))

    lines = report_of(report)
    assert result.exit_code == 1
    assert "publicize_image" in lines["public"]["error"]
    assert "communitize_image" in lines["community"]["error"]
    assert "owned by" in lines["other-owner"]["error"]
    assert lines["plain"]["result"] == "ok"


def test_fallbacks_create_them_as_the_target_allows(real_glance, restricted_target, tmp_path: Path):
    ids = seed(real_glance.url)
    report = tmp_path / "report.jsonl"
    args = ("--fallback-visibility", "private", "--fallback-owner")

    result = run("livecopy", real_glance.url, restricted_target.url, *args, "--report", str(report))

    assert result.exit_code == 0, result.stderr
    lines = report_of(report)
    assert "the target refused public" in lines["public"]["reason"]
    assert "refused owner" in lines["other-owner"]["reason"]
    target = {image["name"]: image for image in gc.list_all(restricted_target.url)}
    assert {name: target[name]["status"] for name in ids} == dict.fromkeys(ids, "active")
    assert target["public"]["visibility"] == target["community"]["visibility"] == "private"
    assert target["other-owner"]["owner"] == PROJECT_ID

    # A rerun does not fight the target over what it refused, and compare still tells.
    rerun = run("livecopy", real_glance.url, restricted_target.url, *args)
    assert rerun.exit_code == 0, rerun.stderr
    compared = run("compare", real_glance.url, restricted_target.url)
    assert compared.exit_code == 1 and "visibility" in compared.stdout
