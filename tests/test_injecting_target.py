"""A target whose import adds properties of its own: real Glance 33 with the
`inject_image_metadata` import plugin (`[inject_metadata_properties] inject = site:edge-1`).

The plugin runs on the import paths (glance-direct, web-download, glance-download), never on a
direct upload. Glance records nowhere which properties it added, so the operator names them
(`--target-injects`): kept where the source lacks them, and compare calls them target-added.
"""

from __future__ import annotations

import uuid

import pytest

from tests.support import glance_client as gc
from tests.support.cli import run
from tests.support.report_file import image_lines

INJECTING = {
    "image_import_opts": {"image_import_plugins": "['inject_image_metadata']"},
    # Glance skips callers with an ignored role (admin by default): none is ignored here.
    "inject_metadata_properties": {"inject": "site:edge-1", "ignore_user_roles": "nobody"},
}


@pytest.fixture
def injecting_target(start_real_glance):
    return start_real_glance(overrides=INJECTING)


def seed(base: str) -> str:
    image_id = str(uuid.uuid4())
    gc.create_image(base, id=image_id, name="disk", disk_format="raw", container_format="bare", color="blue")
    gc.upload(base, image_id, b"x" * 4096)
    return image_id


def test_properties_the_target_injects_on_import_are_kept_when_named(real_glance, injecting_target, tmp_path) -> None:
    source, target = real_glance.url, injecting_target.url
    image_id = seed(source)
    result = run("livecopy", source, target, "--upload-method", "glance-direct")
    assert result.exit_code == 0, result.output
    copy = gc.get_image(target, image_id)
    assert (copy["site"], copy["color"]) == ("edge-1", "blue")  # the plugin ran on this import

    # Named as the target's: in step, kept, and compare says target-added, not a difference.
    compared = run("compare", source, target, "--target-injects", "site")
    assert compared.exit_code == 0, compared.output
    assert 'site: target-added "edge-1" (--target-injects; not a difference)' in compared.stdout
    assert "0 different, 1 identical" in compared.stdout
    report = tmp_path / "again.jsonl"
    result = run("livecopy", source, target, "--target-injects", "site,other", "--report", str(report))
    assert result.exit_code == 0, result.output
    [line] = image_lines(report)
    assert "target-added property site kept" in line["reason"], line
    assert gc.get_image(target, image_id)["site"] == "edge-1"

    # A source that has the property: its value follows the source as any other.
    gc.patch(source, image_id, [{"op": "add", "path": "/site", "value": "core"}])
    result = run("livecopy", source, target, "--target-injects", "site")
    assert result.exit_code == 0, result.output
    assert gc.get_image(target, image_id)["site"] == "core"


def test_unnamed_injected_properties_differ_and_are_stripped(real_glance, injecting_target) -> None:
    """Without `--target-injects` nothing tells an injected property from one the source lost:
    it differs, and a run removes it (`-D site` is the other way: never compared at all)."""
    source, target = real_glance.url, injecting_target.url
    image_id = seed(source)
    assert run("livecopy", source, target, "--upload-method", "glance-direct").exit_code == 0
    assert gc.get_image(target, image_id)["site"] == "edge-1"
    assert run("compare", source, target, "-D", "site").exit_code == 0
    compared = run("compare", source, target)
    assert compared.exit_code == 1, compared.output
    assert "site" in compared.stdout
    assert run("livecopy", source, target).exit_code == 0
    assert "site" not in gc.get_image(target, image_id)


def test_a_direct_upload_bypasses_the_plugin(real_glance, injecting_target) -> None:
    source, target = real_glance.url, injecting_target.url
    image_id = seed(source)
    assert run("livecopy", source, target, "--upload-method", "direct").exit_code == 0
    assert "site" not in gc.get_image(target, image_id)
