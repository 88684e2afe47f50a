"""Nothing a tenant or a server writes can steer the replicator (issue 12): each test performs one
attack end to end, through the command line, and checks that the harm did not happen and that
the answer is right.

The hostile servers are in `hostile_glance.py`; `replicator serve` plays the honest side, and real
Glance 33 where the harm depends on what real Glance does (a member id's path, a JSON-patch
path's whitespace). Attacks on a dump directory are in `test_hostile_dump.py`; signals, option
values and the server's control paths in `test_hostile_process.py`.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support import glance_client as gc
from tests.support.hostile_cli import (
    assert_images_failed,
    assert_no_control_characters,
    assert_run_error,
    describe,
    failed_lines,
    lines,
    replicator,
    report_entries,
)
from tests.support.hostile_glance import (
    FOREIGN_HOST,
    DeeplyNested,
    EndlessEmptyPages,
    EndlessNewImages,
    EscapingErrors,
    FakeGlance,
    ForeignNextLink,
    ForeignOrigin,
    HidingTarget,
    OversizedBody,
    OversizedPage,
    RangeIgnored,
    UploadStoresNothing,
    UploadStoresOtherBytes,
    image,
    image_with_newline_id,
    unverifiable_image,
)

TOKEN = "tok-3f1e2d-secret"


def new_image(base: str, data: bytes | None = None, **fields: Any) -> str:
    """Create an image on an honest server (raw/bare, a fresh id), with `data` uploaded if given."""
    image_id = str(uuid.uuid4())
    gc.create_image(base, id=image_id, disk_format="raw", container_format="bare", **fields)
    if data is not None:
        gc.upload(base, image_id, data)
    return image_id


def status_of(base: str, image_id: str) -> int:
    """The HTTP status of `GET /v2/images/{id}`: 200 while the image exists, 404 once deleted."""
    return gc.request("GET", f"{base}/v2/images/{image_id}").status


# --- 1. Member ids are path segments, never paths -------------------------------------------


def test_a_member_id_never_deletes_another_image_on_real_glance(real_glance_pair) -> None:
    """A tenant shares its image with the "project" `../../<victim>` (Glance takes any string),
    the image is copied, then made private: removing that member must not become
    `DELETE /v2/images/<victim>` on the target."""
    source, target = real_glance_pair.source, real_glance_pair.target
    victim_data = os.urandom(4096)
    victim = new_image(target, victim_data, name="victim", visibility="private")
    shared = new_image(source, os.urandom(2048), name="tenant-image", visibility="shared")
    gc.add_member(source, shared, f"../../{victim}")

    first = replicator("livecopy", source, target)
    gc.patch(source, shared, [{"op": "replace", "path": "/visibility", "value": "private"}])
    second = replicator("livecopy", source, target)

    assert status_of(target, victim) == 200, f"the victim was deleted\n{describe(second)}"
    record = gc.get_image(target, victim)
    assert (record["status"], record["checksum"]) == ("active", hashlib.md5(victim_data).hexdigest())
    for run in (first, second):
        assert run.returncode in (0, 1), describe(run)
        assert all(shared in line for line in failed_lines(run)), describe(run)
    # Glance cannot remove a member whose id holds a slash: the tenant's image fails, saying so.
    assert any(failed_lines(run) for run in (first, second)), describe(first) + describe(second)


@pytest.mark.server
def test_a_member_id_never_deletes_another_image_on_a_v1_target(start_serve) -> None:
    """The v1 store builds member paths too: a target tenant adds the member `../../<victim>` to
    its copy; the next livecopy removes it, and must not `DELETE /v1/images/<victim>`."""
    source, target = start_serve(), start_serve("--api", "v1,v2")
    victim_data = os.urandom(4096)
    victim = new_image(target.url, victim_data, name="victim", visibility="private")
    shared = new_image(source.url, os.urandom(2048), name="tenant-image", visibility="shared")
    first = replicator("livecopy", source.url, target.url, "--target-api-version", "1")
    assert first.returncode == 0, describe(first)
    # The tenant owns its copy on the target, and shares it there through the v1 API.
    added = gc.request("PUT", f"{target.url}/v1/images/{shared}/members/..%2F..%2F{victim}")
    assert added.status == 204, added.text

    second = replicator("livecopy", source.url, target.url, "--target-api-version", "1")

    assert status_of(target.url, victim) == 200, f"the victim was deleted\n{describe(second)}"
    assert gc.get_image(target.url, victim)["checksum"] == hashlib.md5(victim_data).hexdigest()
    assert second.returncode in (0, 1), describe(second)
    assert all(shared in line for line in failed_lines(second)), describe(second)


# --- 2. A token goes only to the origin it was configured for -------------------------------


@pytest.mark.server
@pytest.mark.parametrize("command", ["size", "livecopy"])
def test_a_next_link_to_another_origin_gets_no_request_and_no_token(command: str, serve_one) -> None:
    with ForeignOrigin() as foreign, ForeignNextLink(foreign.url, [image(b"data")]) as source:
        args = [source.url] if command == "size" else [source.url, serve_one.url]
        result = replicator(command, *args, "--token", TOKEN)

    assert not foreign.requests, f"the foreign origin was asked: {foreign.requests}"
    assert_run_error(result, FOREIGN_HOST)
    assert TOKEN not in result.stdout + result.stderr
    assert gc.list_all(serve_one.url) == []


# --- 7. Listings are bounded ------------------------------------------------------------------


@pytest.mark.server
def test_a_listing_of_endless_empty_pages_ends_with_an_error() -> None:
    with EndlessEmptyPages(give_up_after=2000) as source:
        result = replicator("size", source.url)
    # Two listings (hidden images are listed apart); each must stop at its first empty page
    # that still carries a `next` link, not follow it for ever.
    assert source.pages_served <= 10, f"{source.pages_served} empty pages were asked for"
    assert_run_error(result)


@pytest.mark.server
def test_max_images_bounds_a_listing_that_never_ends() -> None:
    with EndlessNewImages(give_up_after=2000) as source:
        result = replicator("size", source.url, "--max-images", "50")
    assert source.pages_served > 0, f"the listing was never asked for\n{describe(result)}"
    assert source.pages_served <= 150, f"{source.pages_served} pages were asked for with --max-images 50"
    assert_run_error(result, "50")


# --- 8. A copy is verified only when a hash was checked ----------------------------------------


@pytest.mark.server
@pytest.mark.parametrize("hash_algo", ["sha3_1024", None], ids=["unknown os_hash_algo, no md5", "no hashes at all"])
def test_a_copy_that_cannot_be_verified_says_unverified(hash_algo: str | None, start_serve, tmp_path: Path) -> None:
    data = os.urandom(50_000)
    unverifiable = unverifiable_image(data, hash_algo)
    strict_target, target = start_serve(), start_serve()
    with FakeGlance([unverifiable]) as source:
        strict = replicator("livecopy", source.url, strict_target.url, "--require-verified")
        copied = replicator("livecopy", source.url, target.url, "--report", str(tmp_path / "report.jsonl"))

    # --require-verified: the copy fails, and no unverified data became an active image.
    assert_images_failed(strict, unverifiable.id)
    assert all(i["status"] != "active" for i in gc.list_all(strict_target.url)), describe(strict)

    # Without it the copy is made, and every account of it says that nothing was checked.
    assert copied.returncode == 0, describe(copied)
    assert gc.get_image(target.url, unverifiable.id)["status"] == "active"
    image_lines = [line for line in lines(copied.stderr) if unverifiable.id in line]
    assert image_lines and all("unverified" in line for line in image_lines), describe(copied)
    summary = [line for line in lines(copied.stderr) if unverifiable.id not in line]
    assert any("unverified" in line for line in summary), describe(copied)
    [entry] = [e for e in report_entries(tmp_path / "report.jsonl") if e["id"] == unverifiable.id]
    assert "unverified" in json.dumps(entry), entry


# --- 9. Terminal output escapes control characters ----------------------------------------------

#: Clears the screen, moves the cursor home, sets the window title, and forges a log line.
HOSTILE_NAME = '\x1b[2J\x1b[H\x1b]0;owned\x07evil\r\nFAILED  00000000-0000-0000-0000-000000000000 "forged": fake\x9b'


@pytest.mark.server
def test_image_names_with_terminal_escapes_reach_no_terminal(serve_pair) -> None:
    source, target = serve_pair.source, serve_pair.target
    named = new_image(source, os.urandom(1000), name=HOSTILE_NAME)
    runs = [replicator("livecopy", source, target, "--dry-run"), replicator("livecopy", source, target)]
    gc.patch(source, named, [{"op": "replace", "path": "/name", "value": HOSTILE_NAME + "2"}])
    runs += [replicator("compare", source, target), replicator("livecopy", source, target, "-v")]
    for run in runs:
        assert run.returncode in (0, 1), describe(run)
        assert_no_control_characters(run.stdout)
        assert_no_control_characters(run.stderr)
        assert not any(line.startswith("FAILED") for line in run.stdout.splitlines() + run.stderr.splitlines())


@pytest.mark.server
def test_server_errors_with_terminal_escapes_reach_no_terminal(serve_one) -> None:
    refused = image(os.urandom(1000), name="plain")
    with EscapingErrors([refused]) as source:
        result = replicator("livecopy", source.url, serve_one.url, "--retries", "0")
    assert_images_failed(result, refused.id)
    assert_no_control_characters(result.stdout)
    assert_no_control_characters(result.stderr)


# --- 10. An id is a UUID, with nothing after it ---------------------------------------------------


@pytest.mark.server
def test_an_id_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    with FakeGlance([image_with_newline_id(os.urandom(1000)), image(os.urandom(1000))]) as source:
        result = replicator("dump", source.url, str(tmp_path / "dump"))
    assert_run_error(result)
    written = os.listdir(tmp_path / "dump") if (tmp_path / "dump").exists() else []
    assert not [name for name in written if "\n" in name], written


def test_serve_refuses_an_id_with_a_trailing_newline(serve_one) -> None:
    answer = gc.send_json("POST", f"{serve_one.url}/v2/images", {"id": f"{uuid.uuid4()}\n", "name": "x"})
    assert answer.status == 400, (answer.status, answer.text)
    assert gc.list_all(serve_one.url) == []


# --- 12. A resumed download answered 200 restarts at byte 0 --------------------------------------


@pytest.mark.server
def test_a_resumed_download_answered_200_is_read_from_byte_0(serve_one) -> None:
    data = os.urandom(400_000)
    resumed = image(data)
    with RangeIgnored([resumed]) as source:
        result = replicator("livecopy", source.url, serve_one.url)
        downloads = source.requests_to("GET", f"/v2/images/{resumed.id}/file")
    assert any("Range" in request.headers for request in downloads), "the download was never resumed"
    assert result.returncode == 0, describe(result)
    copied = gc.get_image(serve_one.url, resumed.id)
    assert (copied["status"], copied["checksum"]) == ("active", hashlib.md5(data).hexdigest())
    assert gc.download(serve_one.url, resumed.id) == data


# --- 13. Property names that mean something else to a server are refused ------------------------


def test_a_property_name_with_surrounding_whitespace_never_makes_an_image_public(real_glance) -> None:
    """Glance 33 strips whitespace from a JSON-patch path: `add /visibility ` sets `visibility`."""
    target = real_glance.url
    private = image(os.urandom(2048), name="private-image", visibility="private")
    with FakeGlance([private]) as source:
        first = replicator("livecopy", source.url, target)
        assert first.returncode == 0, describe(first)
        private.record["visibility "] = "public"
        born = image(os.urandom(1024), name="born-with-it", visibility="private", **{" protected": "True"})
        source.images.append(born)
        second = replicator("livecopy", source.url, target)
        excluded = replicator("livecopy", source.url, target, "--dontreplicate", "visibility")

    assert gc.get_image(target, private.id)["visibility"] == "private", describe(second) + describe(excluded)
    assert_images_failed(second, private.id, born.id)
    assert "visibility" in [line for line in failed_lines(second) if private.id in line][0]
    assert excluded.returncode in (0, 1), describe(excluded)
    for record in gc.list_all(target):
        assert all(key == key.strip() for key in record), record


# --- 14. A 409 on create adopts only what a previous run of ours left ----------------------------


@pytest.mark.server
@pytest.mark.parametrize(
    ("found", "adopted"),
    [
        ({"owner": "p-other", "visibility": "private"}, False),
        ({"owner": "p-other", "visibility": "public"}, False),
        ({"owner": "p-source", "visibility": "private", "data": True}, False),
        ({"owner": "p-source", "visibility": "private"}, True),
    ],
    ids=["another project's image", "a public image of another project", "ours, but with data", "ours, queued"],
)
def test_a_409_on_create_adopts_only_an_image_a_run_of_ours_left(
    found: dict[str, Any], adopted: bool, serve_pair
) -> None:
    source, target = serve_pair.source, serve_pair.target
    data = os.urandom(20_000)
    image_id = str(uuid.uuid4())
    gc.create_image(
        source,
        id=image_id,
        name="mine",
        disk_format="raw",
        container_format="bare",
        owner="p-source",
        visibility="private",
    )
    gc.upload(source, image_id, data)
    foreign_data = os.urandom(1000)
    # Named as the source's image is: what differs is only what the rule looks at.
    gc.create_image(
        target,
        id=image_id,
        name="mine",
        disk_format="raw",
        container_format="bare",
        owner=found["owner"],
        visibility=found["visibility"],
    )
    if found.get("data"):
        gc.upload(target, image_id, foreign_data)
    before = gc.get_image(target, image_id)

    with HidingTarget(target, {image_id}) as hiding:
        result = replicator("livecopy", source, hiding.url)
        uploads = hiding.requests_to("PUT", f"/v2/images/{image_id}/file")
        changes = hiding.requests_to("PATCH", f"/v2/images/{image_id}")

    after = gc.get_image(target, image_id)
    if adopted:
        assert result.returncode == 0, describe(result)
        assert (after["status"], after["checksum"]) == ("active", hashlib.md5(data).hexdigest())
        return
    assert_images_failed(result, image_id)
    failed = failed_lines(result)[0]
    assert found["owner"] in failed or "active" in failed, (
        f"the FAILED line does not say what was found\n{describe(result)}"
    )
    assert not uploads and not changes, f"the replicator wrote into an image not its own\n{describe(result)}"
    assert after == before


# --- 15. v1: property names that no header can carry ----------------------------------------------


@pytest.mark.server
def test_v1_property_names_no_header_can_carry_fail_their_image_only(start_serve) -> None:
    source, target = start_serve(), start_serve("--api", "v1,v2")
    crlf = new_image(source.url, os.urandom(1000), name="crlf", **{"z\r\nx-image-meta-is_public": "True"})
    colon = new_image(source.url, os.urandom(1000), name="colon", **{"os_distro:evil": "x"})
    plain = new_image(source.url, os.urandom(1000), name="plain", os_distro="debian")

    result = replicator("livecopy", source.url, target.url, "--target-api-version", "1")

    assert_images_failed(result, crlf, colon)
    held = {record["id"]: record for record in gc.list_all(target.url)}
    assert held[plain]["status"] == "active" and held[plain]["os_distro"] == "debian"
    for image_id in (crlf, colon):
        if image_id in held:  # refused after its record was created: the record carries neither name
            assert held[image_id]["visibility"] != "public", held[image_id]
            assert "os_distro" not in held[image_id], held[image_id]


# --- 16. Deeply nested JSON -----------------------------------------------------------------------


@pytest.mark.server
def test_deeply_nested_json_in_a_listing_is_a_clean_error() -> None:
    with DeeplyNested() as source:
        result = replicator("size", source.url)
    assert_run_error(result)


# --- 17. A null custom property --------------------------------------------------------------------


@pytest.mark.server
def test_a_null_custom_property_settles_after_the_first_run(serve_one) -> None:
    nulled = image(os.urandom(1000), name="nulled", hw_rng_model=None)
    with FakeGlance([nulled]) as source:
        first = replicator("livecopy", source.url, serve_one.url)
        second = replicator("livecopy", source.url, serve_one.url, "-v")
        compared = replicator("compare", source.url, serve_one.url)
    assert first.returncode == 0, describe(first)
    assert second.returncode == 0, describe(second)
    assert not failed_lines(second)
    assert compared.returncode == 0, describe(compared)


# --- 18. Success is read back; answers are bounded -------------------------------------------------


@pytest.mark.server
@pytest.mark.parametrize(
    "lie", [UploadStoresNothing, UploadStoresOtherBytes], ids=["stores nothing", "stores other bytes"]
)
def test_an_upload_the_target_did_not_keep_fails_its_image(lie: type, serve_pair) -> None:
    source, target = serve_pair.source, serve_pair.target
    data = os.urandom(30_000)
    image_id = new_image(source, data, name="read-back")
    bystander = new_image(source, None, name="no-data")

    with lie(target) as lying:
        result = replicator("livecopy", source, lying.url)
        deletes = lying.requests_to("DELETE", "/v2/images")

    assert_images_failed(result, image_id)
    assert not deletes, "a target image was deleted"
    held = gc.get_image(target, image_id)
    assert held["status"] != "active", held
    if lie is UploadStoresOtherBytes:
        assert held["status"] == "deactivated", held
    assert gc.get_image(target, bystander)["status"] == "queued"


@pytest.mark.server
def test_a_listing_page_larger_than_its_limit_is_refused() -> None:
    with OversizedPage(factor=5) as source:
        result = replicator("size", source.url)
    assert_run_error(result)


@pytest.mark.server
def test_an_answer_past_the_size_cap_is_refused_without_reading_it_all() -> None:
    with OversizedBody(total=256 * 2**20) as source:
        result = replicator("size", source.url)
    assert_run_error(result)
    assert max(source.sent, default=0) < source.total // 2, f"bytes of each answer read: {source.sent}"
