"""How data reaches a target: direct upload, or Glance's interoperable import when direct is refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.support import glance_client as gc
from tests.support.cli import run
from tests.support.copies import assert_active_copies, seed_active


def test_auto_switches_to_glance_direct_where_direct_upload_is_refused(
    real_glance, start_real_glance, glance_template, tmp_path: Path
):
    policy = json.loads(glance_template.policy_file.read_text())
    policy["upload_image"] = "!"
    refusing = tmp_path / "policy.json"
    refusing.write_text(json.dumps(policy))
    target = start_real_glance(overrides={"oslo_policy": {"policy_file": str(refusing)}})
    data = seed_active(real_glance.url)

    result = run("livecopy", real_glance.url, target.url, "--concurrency", "1")
    assert result.exit_code == 0, result.output
    assert "switching to the glance-direct import" in result.stderr
    assert_active_copies(target.url, data)

    direct_only = run("livecopy", real_glance.url, target.url, "--upload-method", "direct")
    assert direct_only.exit_code == 0  # nothing left to upload


def test_direct_only_reports_the_refusal(real_glance, start_real_glance, glance_template, tmp_path: Path):
    policy = json.loads(glance_template.policy_file.read_text())
    policy["upload_image"] = "!"
    (tmp_path / "policy.json").write_text(json.dumps(policy))
    target = start_real_glance(overrides={"oslo_policy": {"policy_file": str(tmp_path / "policy.json")}})
    seed_active(real_glance.url, 1)
    result = run("livecopy", real_glance.url, target.url, "--upload-method", "direct")
    assert result.exit_code == 1
    assert "403 Forbidden: You are not authorized to complete upload_image action." in result.stderr


def test_explicit_glance_direct_with_a_named_store(glance_pair_any):
    data = seed_active(glance_pair_any.source)
    result = run(
        "livecopy",
        glance_pair_any.source,
        glance_pair_any.target,
        "--upload-method",
        "glance-direct",
        "--store",
        "fs",
        "--concurrency",
        "3",
    )
    assert result.exit_code == 0, result.output
    assert_active_copies(glance_pair_any.target, data)


def test_unknown_upload_method_is_a_usage_error():
    result = run("livecopy", "a:1", "b:2", "--upload-method", "ftp")
    assert result.exit_code == 2 and "--upload-method" in result.stderr


def test_parallel_imports_into_a_glance_on_a_server_database_all_succeed(real_glance_pair):
    """Glance on a server database with several workers and threads, as production runs it,
    takes six imports at once: every copy is active and verified."""
    data = seed_active(real_glance_pair.source, 6)
    result = run(
        "livecopy",
        real_glance_pair.source,
        real_glance_pair.target,
        "--upload-method",
        "glance-direct",
        "--concurrency",
        "6",
        "--retries",
        "0",
    )
    assert result.exit_code == 0, result.output
    assert_active_copies(real_glance_pair.target, data)


def test_parallel_imports_that_glance_fails_are_reported_not_waited_for(real_glance, start_real_glance):
    """Real Glance on SQLite fails some of several simultaneous imports and leaves them
    `importing` with `os_glance_failed_import` set: each is reported, and nothing hangs."""
    target = start_real_glance(sqlite=True)
    data = seed_active(real_glance.url, 6)
    result = run(
        "livecopy",
        real_glance.url,
        target.url,
        "--upload-method",
        "glance-direct",
        "--concurrency",
        "6",
        "--retries",
        "0",
    )
    copied = {i["id"]: i for i in gc.list_all(target.url)}
    for image_id, payload in data.items():
        if copied[image_id]["status"] == "active":
            assert copied[image_id]["checksum"] == hashlib.md5(payload).hexdigest()
        else:
            assert image_id in result.stderr
    assert result.exit_code == (0 if all(i["status"] == "active" for i in copied.values()) else 1)
