"""A target that converts what it receives on import, as Ceph-backed clouds do: real Glance 33 with
the `image_conversion` import plugin (output raw; it runs qemu-img, `make test` installs it), and
a real qcow2 image made by qemu-img.

Its copy is active in another format, with another size and other hashes: a good copy where
its bytes were verified in flight against the source's hash before the target converted them.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.support import glance_client as gc
from tests.support.cli import run
from tests.support.report_file import image_lines

CONVERTING = {
    "image_import_opts": {"image_import_plugins": "['image_conversion']"},
    "image_conversion": {"output_format": "raw"},
}
CONVERTED = "converted by the target (qcow2 -> raw)"


@pytest.fixture
def converting_target(start_real_glance):
    return start_real_glance(overrides=CONVERTING)


def seed_qcow2(base: str, folder: Path) -> tuple[str, bytes]:
    """An active qcow2 image of 3 MiB of random data (a real one, by qemu-img): (id, its bytes)."""
    raw, qcow2 = folder / "disk.raw", folder / "disk.qcow2"
    raw.write_bytes(os.urandom(3 * 2**20))
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)], check=True)
    image_id = str(uuid.uuid4())
    gc.create_image(base, id=image_id, name="disk", disk_format="qcow2", container_format="bare", color="blue")
    data = qcow2.read_bytes()
    gc.upload(base, image_id, data)
    return image_id, data


def test_a_copy_the_target_converted_is_a_good_copy_and_stays_in_step(
    real_glance, converting_target, tmp_path: Path
) -> None:
    source, target = real_glance.url, converting_target.url
    image_id, data = seed_qcow2(source, tmp_path)
    original = gc.get_image(source, image_id)
    assert original["virtual_size"] == 3 * 2**20

    report = tmp_path / "first.jsonl"
    result = run("livecopy", source, target, "--upload-method", "glance-direct", "--report", str(report))
    assert result.exit_code == 0, result.output
    copy = gc.get_image(target, image_id)
    assert (copy["status"], copy["disk_format"], copy["virtual_size"]) == ("active", "raw", original["virtual_size"])
    assert copy["checksum"] != hashlib.md5(data).hexdigest()  # the target holds what it converted
    assert copy["color"] == "blue"
    [line] = image_lines(report)
    assert (line["result"], line["verified"], line["converted"]) == ("ok", True, "qcow2 -> raw"), line
    assert CONVERTED in line["reason"]
    assert "1 copies converted by the target on import" in result.stderr

    # Later runs: in step (nothing re-sent, nothing deactivated), and metadata still follows.
    gc.patch(source, image_id, [{"op": "replace", "path": "/color", "value": "green"}])
    again = tmp_path / "again.jsonl"
    result = run("livecopy", source, target, "--report", str(again))
    assert result.exit_code == 0, result.output
    [line] = image_lines(again)
    assert (line["action"], line["result"], line["bytes"]) == ("update", "ok", 0), line
    assert CONVERTED in line["reason"]
    copy = gc.get_image(target, image_id)
    assert (copy["status"], copy["disk_format"], copy["color"]) == ("active", "raw", "green")
    compared = run("compare", source, target)
    assert compared.exit_code == 0, compared.output


def test_a_converted_copy_of_another_virtual_size_is_other_data(real_glance, converting_target, tmp_path) -> None:
    """Where the virtual sizes differ, the target's copy is no conversion of the source's image:
    reported as different data, never overwritten."""
    source, target = real_glance.url, converting_target.url
    image_id, _ = seed_qcow2(source, tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    raw = other / "disk.raw"
    raw.write_bytes(os.urandom(2**20))
    gc.create_image(target, id=image_id, name="disk", disk_format="raw", container_format="bare", color="blue")
    gc.upload(target, image_id, raw.read_bytes())
    result = run("livecopy", source, target)
    assert result.exit_code == 1
    assert "target holds different data" in result.stderr
    assert gc.get_image(target, image_id)["status"] == "active"
