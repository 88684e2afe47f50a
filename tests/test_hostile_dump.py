"""Attacks through a dump directory (issue 12): a dump is files anyone with access to the
directory may have planted, cut or crafted. `load` must never call missing data a success, and
`dump` must never write outside DIR nor through a link someone left in it.
"""

from __future__ import annotations

import json
import os
import stat
import uuid
from pathlib import Path

import pytest

from tests.support import glance_client as gc
from tests.support.hostile_cli import assert_images_failed, assert_run_error, describe, failed_lines, replicator
from tests.support.hostile_glance import FakeImage, image

# The CLI runs as a process against the hostile servers.
pytestmark = pytest.mark.server


def write_dump(folder: Path, *images: FakeImage, data: bool = True) -> None:
    """Each image's record as `folder/<id>` and, with `data`, its bytes as `folder/<id>.img`."""
    folder.mkdir(mode=0o700, exist_ok=True)
    for each in images:
        (folder / each.id).write_text(json.dumps(each.record))
        if data:
            (folder / f"{each.id}.img").write_bytes(each.data)


# --- 3. load never calls missing data a success --------------------------------------------------


def test_load_fails_an_active_record_whose_data_is_missing(serve_one, tmp_path: Path) -> None:
    """A record says `active`; the dump holds no `<id>.img` (lost), or only `<id>.img.part` (a dump
    cut by SIGTERM): those images fail, on every run, and the complete one loads."""
    dump = tmp_path / "dump"
    lost, cut, complete = image(os.urandom(5000)), image(os.urandom(5000)), image(os.urandom(5000))
    write_dump(dump, complete)
    write_dump(dump, lost, cut, data=False)
    (dump / f"{cut.id}.img.part").write_bytes(cut.data)

    first = replicator("load", serve_one.url, str(dump))
    again = replicator("load", serve_one.url, str(dump))

    for run in (first, again):
        assert_images_failed(run, lost.id, cut.id)
    held = {record["id"]: record["status"] for record in gc.list_all(serve_one.url)}
    assert held[complete.id] == "active"
    assert held.get(lost.id) != "active" and held.get(cut.id) != "active", held


# --- 4. dump writes nothing through a link, nothing outside DIR -----------------------------------


def test_dump_never_writes_through_a_planted_symlink(serve_one, tmp_path: Path) -> None:
    data = os.urandom(100_000)
    image_id = str(uuid.uuid4())
    gc.create_image(serve_one.url, id=image_id, name="dumped", disk_format="raw", container_format="bare")
    gc.upload(serve_one.url, image_id, data)
    dump = tmp_path / "dump"
    dump.mkdir(mode=0o700)
    outside = {tmp_path / "authorized_keys": b"ssh-ed25519 AAAA precious\n", tmp_path / "bashrc": b"# mine\n"}
    for path, content in outside.items():
        path.write_bytes(content)
        path.chmod(0o644)
    # The data's partial file and the record's temporary file, planted as links to files outside.
    (dump / f"{image_id}.img.part").symlink_to(tmp_path / "authorized_keys")
    (dump / f".{image_id}.tmp").symlink_to(tmp_path / "bashrc")

    result = replicator("dump", serve_one.url, str(dump))

    for path, content in outside.items():
        assert path.read_bytes() == content, f"{path.name} was written through a link\n{describe(result)}"
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert result.returncode in (0, 1), describe(result)
    if result.returncode == 0:
        for name in (image_id, f"{image_id}.img"):
            assert not (dump / name).is_symlink() and (dump / name).is_file(), name
        assert (dump / f"{image_id}.img").read_bytes() == data
    else:
        assert_images_failed(result, image_id)


@pytest.mark.parametrize("mode", [0o777, 0o770], ids=["world-writable", "group-writable"])
def test_dump_refuses_a_directory_others_can_write(mode: int, serve_one, tmp_path: Path) -> None:
    gc.create_image(serve_one.url, id=str(uuid.uuid4()), name="dumped", disk_format="raw", container_format="bare")
    dump = tmp_path / "dump"
    dump.mkdir()
    dump.chmod(mode)
    result = replicator("dump", serve_one.url, str(dump))
    assert_run_error(result, str(dump))
    assert os.listdir(dump) == []


# --- 16. Deeply nested JSON in a dump record -------------------------------------------------------


def test_load_of_a_deeply_nested_record_is_a_clean_error(serve_one, tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    dump.mkdir()
    image_id = str(uuid.uuid4())
    depth = 100_000
    (dump / image_id).write_text(
        '{"id": "' + image_id + '", "status": "queued", "x": ' + "[" * depth + "]" * depth + "}"
    )
    result = replicator("load", serve_one.url, str(dump))
    assert_run_error(result, image_id)
    assert gc.list_all(serve_one.url) == []
    assert not failed_lines(result)
