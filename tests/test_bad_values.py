"""One bad value fails its image, or stops the run with exit 2 naming the input: never an
internal error (exit 70) that takes the whole run down (issue 20)."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from tests.support import glance_client as gc
from tests.support.hostile_cli import assert_images_failed, assert_run_error, replicator
from tests.support.hostile_glance import image
from tests.support.report_file import image_lines

#: The CLI runs as a process here.
pytestmark = pytest.mark.server


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
    assert_run_error(replicator("load", serve_one.url, str(tmp_path / "dump")), image_id, "not a member record")


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


def test_real_glance_properties_never_copied_for_their_name_are_said_per_image(
    real_glance_pair, tmp_path: Path
) -> None:
    """Issue 20: a property named `members`, `deleted` or `location` (Glance 33 takes those it
    takes as custom properties) is not copied: the image's line and its report line say so."""
    image_id = str(uuid.uuid4())
    gc.create_image(real_glance_pair.source, id=image_id, name="odd", disk_format="raw", container_format="bare")
    taken = []
    for name in ("members", "deleted", "location"):
        answer = gc.send_json(
            "PATCH",
            f"{real_glance_pair.source}/v2/images/{image_id}",
            [{"op": "add", "path": f"/{name}", "value": "x"}],
            gc.JSON_PATCH,
        )
        if answer.status == 200:
            taken.append(name)
    assert taken, "Glance took none of the names: nothing to show"
    gc.upload(real_glance_pair.source, image_id, os.urandom(100))
    report = tmp_path / "run.jsonl"
    result = replicator("livecopy", real_glance_pair.source, real_glance_pair.target, "-v", "--report", str(report))
    assert result.returncode == 0, result.stderr
    (line,) = image_lines(report)
    said = f"propert{'ies' if len(taken) > 1 else 'y'} {', '.join(sorted(taken))} not copied"
    assert said in line["reason"]
    again = replicator("livecopy", real_glance_pair.source, real_glance_pair.target, "-v")
    assert again.returncode == 0, again.stderr
    assert f"identical; {said}" in again.stderr  # -v names the image and why, as for any skip
