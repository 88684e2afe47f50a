"""Imports that are cut, refused or left half-done, against real Glance 33 (on the session's
server database, several workers and threads).

A lost answer is made by `cutting_proxy`: the request reaches Glance and takes effect, and the
replicator never sees the answer, as when a connection breaks between them.
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
from pathlib import Path

from tests.support import glance_client as gc
from tests.support.cli import run
from tests.support.copies import assert_active_copies, seed_active
from tests.support.cutting_proxy import CuttingProxy, first
from tests.support.report_file import image_lines


def import_only_target(glance_template, start_real_glance, tmp_path: Path):
    """A real Glance that refuses direct upload (`upload_image: "!"`), as import-only clouds do."""
    policy = json.loads(glance_template.policy_file.read_text())
    policy["upload_image"] = "!"
    (tmp_path / "import-only-policy.json").write_text(json.dumps(policy))
    return start_real_glance(overrides={"oslo_policy": {"policy_file": str(tmp_path / "import-only-policy.json")}})


def test_a_lost_answer_to_the_import_request_retries_the_import_alone(real_glance_pair, tmp_path: Path):
    """The import request reached Glance, its answer did not reach us: the retry asks about the
    image and waits for that import, instead of staging again (Glance refuses a second stage:
    the image would stay `uploading` for ever)."""
    data = seed_active(real_glance_pair.source, 2)
    proxy = CuttingProxy(real_glance_pair.target, first("POST", "/import"))
    with proxy.running():
        result = run(
            "livecopy", real_glance_pair.source, proxy.url,
            "--upload-method", "glance-direct", "-j", "2", "--report", str(tmp_path / "report.jsonl"),
        )  # fmt: skip
    assert len(proxy.cuts) == 1, proxy.cuts
    assert result.exit_code == 0, result.output
    assert_active_copies(real_glance_pair.target, data)
    assert {line["result"] for line in image_lines(tmp_path / "report.jsonl")} == {"ok"}


def test_auto_switches_every_image_in_flight_to_the_import(
    real_glance, start_real_glance, glance_template, tmp_path: Path
):
    """At -j 4 every image starts with a direct upload; all meet the 403, and those whose 403
    comes after the first one switched the method are sent by the import too."""
    target = import_only_target(glance_template, start_real_glance, tmp_path)
    data = seed_active(real_glance.url, 8)
    result = run("livecopy", real_glance.url, target.url, "-j", "4")
    assert result.exit_code == 0, result.output
    assert "switching to the glance-direct import" in result.stderr
    assert_active_copies(target.url, data)


def test_a_rerun_finishes_an_image_left_uploading_with_its_data_staged(real_glance_pair):
    """A run that staged an image's data and stopped before its import left it `uploading`:
    the same command again imports it (no second stage, which Glance refuses), and reads it back."""
    source, target = real_glance_pair.source, real_glance_pair.target
    [(image_id, payload)] = seed_active(source, 1).items()
    original = gc.get_image(source, image_id)
    fields = {k: original[k] for k in ("name", "disk_format", "container_format", "visibility")}
    gc.create_image(target, id=image_id, **fields)
    gc.call("PUT", f"{target}/v2/images/{image_id}/stage", 204, payload, {"Content-Type": gc.OCTET_STREAM})
    assert gc.get_image(target, image_id)["status"] == "uploading"

    result = run("livecopy", source, target)
    assert result.exit_code == 0, result.output
    copy = gc.get_image(target, image_id)
    assert copy["status"] == "active" and copy["checksum"] == hashlib.md5(payload).hexdigest()
    assert gc.download(target, image_id) == payload
    assert run("compare", source, target).exit_code == 0


def test_an_image_staged_by_someone_else_is_not_imported(real_glance_pair):
    """`uploading` with other data staged (another size) is not ours to finish: reported, untouched."""
    source, target = real_glance_pair.source, real_glance_pair.target
    [image_id] = seed_active(source, 1)
    original = gc.get_image(source, image_id)
    gc.create_image(target, id=image_id, name=original["name"], disk_format="raw", container_format="bare")
    other = b"x" * 1234
    gc.call("PUT", f"{target}/v2/images/{image_id}/stage", 204, other, {"Content-Type": gc.OCTET_STREAM})

    result = run("livecopy", source, target)
    assert result.exit_code == 1
    assert image_id in result.stderr and "uploading" in result.stderr
    assert gc.get_image(target, image_id)["status"] == "uploading"


def test_a_copy_stuck_importing_is_reported_with_its_task(real_glance, start_real_glance):
    """A copy left `importing` (here a web-download whose server never answers) is not written
    to, and the failure says what Glance's import task says of it, and what can be done."""
    target = start_real_glance(
        overrides={"import_filtering_opts": {"allowed_hosts": "[127.0.0.1]", "allowed_ports": "[]"}}
    )
    [image_id] = seed_active(real_glance.url, 1)
    original = gc.get_image(real_glance.url, image_id)
    gc.create_image(target.url, id=image_id, name=original["name"], disk_format="raw", container_format="bare")
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        method = {"method": {"name": "web-download", "uri": f"http://127.0.0.1:{silent.getsockname()[1]}/image"}}
        answer = gc.send_json("POST", f"{target.url}/v2/images/{image_id}/import", method)
        assert answer.status == 202, answer.text
        deadline = time.monotonic() + 60
        while gc.get_image(target.url, image_id)["status"] != "importing" and time.monotonic() < deadline:
            time.sleep(0.2)

        result = run("livecopy", real_glance.url, target.url)
    assert result.exit_code == 1
    assert "target image is importing" in result.stderr
    assert "Glance's newest import task for it is processing" in result.stderr, result.stderr
    assert "operator resets or deletes it" in result.stderr
