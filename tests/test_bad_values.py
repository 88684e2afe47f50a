"""One bad value fails its image, or stops the run with exit 2 naming the input: never an
internal error (exit 70) that takes the whole run down (issue 20)."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from tests import glance_client as gc
from tests.hostile_cli import assert_images_failed, assert_run_error, replicator
from tests.hostile_glance import image


def one_record_dump(folder: Path, **fields: object) -> str:
    folder.mkdir(mode=0o700)
    each = image(os.urandom(100))
    each.record.update(fields)
    (folder / each.id).write_text(json.dumps(each.record))
    (folder / f"{each.id}.img").write_bytes(each.data)
    return each.id


def test_a_record_with_a_negative_size_is_a_bad_record_named(serve_one, tmp_path: Path) -> None:
    image_id = one_record_dump(tmp_path / "dump", size=-5)
    assert_run_error(replicator("load", serve_one.url, str(tmp_path / "dump")), image_id, "negative")
    assert gc.list_all(serve_one.url) == []


def test_a_member_without_member_id_is_a_bad_record_named(serve_one, tmp_path: Path) -> None:
    image_id = one_record_dump(tmp_path / "dump", members=[{"status": "accepted"}])
    assert_run_error(replicator("load", serve_one.url, str(tmp_path / "dump")), image_id, "member_id")


def test_a_token_holding_a_line_break_is_refused_before_it_is_sent(serve_one) -> None:
    result = replicator("size", serve_one.url, "--token", "abc\r\nX-Injected: 1")
    assert_run_error(result, serve_one.url, "the token", "line break")


def test_real_glance_names_and_properties_with_esc_or_del_fail_only_their_image_on_a_v1_target(
    real_glance, start_serve
) -> None:
    """Glance 33 takes ESC and DEL in a name and in a property's value; v1 carries both in
    headers, which cannot: those images fail, the plain one is copied."""
    target = start_serve("--api", "v1")
    ids = {}
    for label, fields in (
        ("name", {"name": "red\x1b[31m"}),
        ("property", {"name": "prop", "note": "del\x7f"}),
        ("plain", {"name": "plain"}),
    ):
        ids[label] = str(uuid.uuid4())
        gc.create_image(real_glance.url, id=ids[label], disk_format="raw", container_format="bare", **fields)
        gc.upload(real_glance.url, ids[label], os.urandom(100))
    result = replicator("livecopy", real_glance.url, target.url, "--target-api-version", "1")
    assert_images_failed(result, ids["name"], ids["property"], facts=("control character",))
    assert gc.request("HEAD", f"{target.url}/v1/images/{ids['plain']}").status == 200
