"""`replicator serve` on its own: what no real Glance has to match (its control paths, fault
switches and made-up images), v1 and v2 over one image model, and listings at scale.

What it imitates of Glance is held to real Glance in `test_conformance.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from replicator.server import schema
from replicator.server.config import FaultConfig
from replicator.server.control import TOKEN_VARIABLE
from replicator.server.generated import generated_records
from replicator.server.paging import Ordering
from replicator.server.repository import ImageRepository
from replicator.server.switches import SWITCHES
from tests.support import glance_client as gc
from tests.support.servers import ReplicatorServe

Start = Callable[..., ReplicatorServe]


def new_id() -> str:
    return str(uuid.uuid4())


def lists(server: ReplicatorServe) -> int:
    """The status of an ordinary listing, with no token: the server still serves its clients."""
    return gc.request("GET", server.url + "/v2/images").status


# --- control paths -----------------------------------------------------------------------


def test_control_paths_do_not_exist_without_control(start_serve: Start) -> None:
    server = start_serve(control=False)

    answers = [
        gc.request("GET", server.url + "/_faults").status,
        gc.send_json("POST", server.url + "/_faults", {"error_rate": 1.0}).status,
        gc.request("POST", server.url + "/_token", b"").status,
    ]

    assert answers == [404, 404, 404]
    assert lists(server) == 200  # no error switched on, no token required


def test_control_paths_need_the_admin_token(start_serve_process: Start) -> None:
    # As a process: the admin token reaches it through its environment, as an operator gives it.
    server = start_serve_process()
    api_token = server.issue_token()  # from now on the API needs a token: the admin one is not one
    attempts = {
        "none": {},
        "wrong": {"X-Auth-Token": "guess"},
        "an API token": {"X-Auth-Token": api_token},
    }
    for name, headers in attempts.items():
        switched = gc.request(
            "POST", server.url + "/_faults", b'{"error_rate": 1.0}', {**headers, "Content-Type": "application/json"}
        )
        minted = gc.request("POST", server.url + "/_token", b"", headers)
        shown = gc.request("GET", server.url + "/_faults", None, headers)
        expected = 401 if name == "none" else 403
        assert (switched.status, minted.status, shown.status) == (expected,) * 3, name

    assert server.faults()["error_rate"] == 0.0
    assert gc.request("GET", server.url + "/v2/images", None, {"X-Auth-Token": api_token}).status == 200


def serve_command(*args: str, environment: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m replicator.server ARGS` for its command-line checks (it never gets to listen)."""
    return subprocess.run(
        [sys.executable, "-m", "replicator.server", "--port", "1", *args], capture_output=True, text=True,
        timeout=30, env={**os.environ, **(environment or {})},
    )  # fmt: skip


@pytest.mark.server
def test_command_line_refuses_control_without_a_token_and_bad_switch_values(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if k != TOKEN_VARIABLE}
    no_token = subprocess.run(
        [sys.executable, "-m", "replicator.server", "--data-dir", str(tmp_path), "--control"],
        capture_output=True, text=True, timeout=30, env=environment,
    )  # fmt: skip
    bad_latency = serve_command("--data-dir", str(tmp_path), "--latency", "abc")
    bad_size = serve_command("--data-dir", str(tmp_path), "--drop-after-bytes", "lots")

    assert no_token.returncode == 2 and "--control needs the admin token" in no_token.stderr
    assert bad_latency.returncode == 2 and "--latency: not a number: 'abc'" in bad_latency.stderr
    assert bad_size.returncode == 2 and "--drop-after-bytes: invalid size 'lots'" in bad_size.stderr
    assert "Traceback" not in no_token.stderr + bad_latency.stderr + bad_size.stderr


# --- fault switches ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"latency": "abc"}, "latency: not a number: 'abc'"),
        ({"latency": None}, "latency: not a finite number: None"),
        ({"error_rate": 2}, "error_rate: not a share from 0 to 1: 2"),
        ({"error_status": 200}, "error_status: not an HTTP error status (400-599): 200"),
        ({"bandwidth": 0}, "bandwidth: a rate must be at least 1 byte per second"),
        ({"drop_count": -1}, "drop_count: not a whole number of at least 0: -1"),
        ({"drop_after_bytes": True}, "drop_after_bytes: not a whole number of at least 0: True"),
        ({"error_paths": 5}, "error_paths: not a comma-separated string or a list of strings: 5"),
        ({"stall_seconds": "inf"}, "stall_seconds: not a finite number: inf"),
        ({"latency": 0.5, "nope": 1}, "unknown fault switches: nope"),
        (["latency", 1], "The body must be a JSON object of fault switches."),
    ],
)
def test_a_bad_fault_value_is_400_changes_nothing_and_the_server_still_serves(
    serve_one: ReplicatorServe, document: Any, reason: str
) -> None:
    before = serve_one.faults()

    response = serve_one.control("POST", "/_faults", document)

    assert response.status == 400
    assert reason in response.text
    assert serve_one.faults() == before
    assert lists(serve_one) == 200


def test_fault_values_may_be_written_as_on_the_command_line(serve_one: ReplicatorServe) -> None:
    serve_one.set_faults(drop_after_bytes="64K", bandwidth="10M", latency="0", error_rate="0.0")
    faults = serve_one.faults()
    assert (faults["drop_after_bytes"], faults["bandwidth"]) == (64 * 1024, 10 * 1024 * 1024)
    serve_one.set_faults(drop_after_bytes=None, bandwidth=None)
    assert (serve_one.faults()["drop_after_bytes"], serve_one.faults()["bandwidth"]) == (None, None)


def test_every_fault_switch_has_one_reader() -> None:
    assert sorted(SWITCHES) == sorted(f.name for f in fields(FaultConfig))


def assert_errors_only_on(server: ReplicatorServe, paths: list[str]) -> None:
    image_id = gc.create_image(server.url, id=new_id(), disk_format="raw", container_format="bare")["id"]
    assert server.faults()["error_paths"] == paths
    assert lists(server) == 200
    assert gc.request("GET", f"{server.url}/v2/images/{image_id}").status == 200
    upload = gc.request("PUT", f"{server.url}/v2/images/{image_id}/file", b"x", {"Content-Type": gc.OCTET_STREAM})
    stage = gc.request("PUT", f"{server.url}/v2/images/{image_id}/stage", b"x", {"Content-Type": gc.OCTET_STREAM})
    assert (upload.status, stage.status) == (503, 503)


def test_error_paths_are_read_alike_from_the_command_line_and_at_run_time(start_serve: Start) -> None:
    from_command_line = start_serve("--error-rate", "1", "--error-paths", "/file,/stage")
    at_run_time = start_serve()

    assert_errors_only_on(from_command_line, ["/file", "/stage"])
    at_run_time.set_faults(error_rate=1.0, error_paths="/file,/stage")
    assert_errors_only_on(at_run_time, ["/file", "/stage"])
    at_run_time.set_faults(error_paths=["/file", "/stage"])
    assert_errors_only_on(at_run_time, ["/file", "/stage"])


RANGES = ["bytes=10-19", "bytes=9000-", "bytes=-100", "bytes=9990-20000", "bytes=10000-", "bytes=abc", "bytes=5-2"]


def ranged_answers(url: str, image_id: str) -> dict[str, tuple[int, bytes, str | None]]:
    answers = {}
    for header in RANGES:
        response = gc.request("GET", f"{url}/v2/images/{image_id}/file", None, {"Range": header})
        body = response.body if response.status < 400 else b""  # an error's wording is no part of it
        answers[header] = (response.status, body, response.headers.get("Content-Range"))
    return answers


def test_a_paced_download_answers_ranges_as_an_unpaced_one(serve_one: ReplicatorServe, start_serve: Start) -> None:
    """With a fault on, the server streams the body itself; it reads `Range` as aiohttp does
    when it sends the file (the paths conformance holds to real Glance)."""
    paced = start_serve("--bandwidth", "100M")
    data = os.urandom(10_000)
    image_id = new_id()
    for server in (serve_one, paced):
        gc.create_image(server.url, id=image_id, disk_format="raw", container_format="bare")
        gc.upload(server.url, image_id, data)

    plain, faulted = ranged_answers(serve_one.url, image_id), ranged_answers(paced.url, image_id)

    assert faulted == plain
    assert plain["bytes=-100"] == (206, data[-100:], "bytes 9900-9999/10000")
    assert plain["bytes=10000-"][0] == plain["bytes=abc"][0] == 416


# --- ids ---------------------------------------------------------------------------------


def test_an_id_ending_in_a_line_break_is_400_and_nothing_is_stored(serve_one: ReplicatorServe) -> None:
    response = gc.send_json("POST", serve_one.url + "/v2/images", {"id": new_id() + "\n"})

    assert response.status == 400
    assert "is not a 'uuid'" in response.text
    assert gc.list_all(serve_one.url) == []
    assert lists(serve_one) == 200


# --- one image model for v1 and v2 -------------------------------------------------------


def v1_ids(url: str, **params: str) -> list[str]:
    """Every image of a v1 listing, following `marker` page by page as v1 clients did."""
    ids: list[str] = []
    while True:
        query = "&".join(f"{k}={v}" for k, v in {**params, **({"marker": ids[-1]} if ids else {})}.items())
        page = gc.call("GET", f"{url}/v1/images/detail?{query}", 200).json()["images"]
        if not page:
            return ids
        ids.extend(image["id"] for image in page)


def test_v1_and_v2_page_the_same_images_in_the_same_orders(start_serve: Start) -> None:
    url = start_serve("--api", "v1,v2").url
    created = [gc.create_image(url, id=new_id(), visibility=v)["id"] for v in ("public", "private", "shared") * 2]
    v2_ascending = [i["id"] for p in gc.list_pages(url, sort_key="id", sort_dir="asc", limit=2, visibility="all")
                    for i in p["images"]]  # fmt: skip
    v2_newest_first = [i["id"] for p in gc.list_pages(url, limit=2, visibility="all") for i in p["images"]]

    assert v2_ascending == sorted(created)
    assert v1_ids(url, is_public="None", sort_key="id", sort_dir="asc", limit="2") == v2_ascending
    assert v1_ids(url, is_public="None", limit="2") == v2_newest_first
    assert v1_ids(url, is_public="1", sort_key="id", sort_dir="asc") == sorted(created[0::3])
    assert gc.request("GET", f"{url}/v1/images/detail?is_public=yes").status == 400  # v1 read only 1/0/true/false
    assert gc.request("GET", f"{url}/v1/images/detail?sort_key=bogus").status == 400
    assert gc.request("GET", f"{url}/v1/images/detail?marker=not-an-id").status == 400


def test_a_v1_delete_is_a_v2_delete(start_serve: Start) -> None:
    server = start_serve("--api", "v1,v2")
    url = server.url
    image_id = gc.create_image(url, id=new_id(), disk_format="raw", container_format="bare")["id"]
    gc.upload(url, image_id, b"data")
    data_file = server.workdir / "data" / "data" / image_id
    assert data_file.exists()

    gc.call("DELETE", f"{url}/v1/images/{image_id}", 200)

    assert not data_file.exists()
    assert gc.request("GET", f"{url}/v2/images/{image_id}").status == 404
    assert gc.request("HEAD", f"{url}/v1/images/{image_id}").status == 404
    again = {"x-image-meta-id": image_id, "x-image-meta-name": "again"}
    assert gc.request("POST", f"{url}/v1/images", None, again).status == 409
    assert gc.send_json("POST", url + "/v2/images", {"id": image_id}).status == 409


def test_a_v1_share_is_a_v2_member(start_serve: Start) -> None:
    url = start_serve("--api", "v1,v2").url
    image_id = gc.create_image(url, id=new_id(), visibility="private")["id"]

    gc.call("PUT", f"{url}/v1/images/{image_id}/members/project-b", 204)
    gc.call("PUT", f"{url}/v1/images/{image_id}/members/project-b", 204)  # v1: sharing twice is no change

    assert gc.get_image(url, image_id)["visibility"] == "shared"
    assert [(m["member_id"], m["status"]) for m in gc.list_members(url, image_id)] == [("project-b", "pending")]
    assert gc.send_json("POST", f"{url}/v2/images/{image_id}/members", {"member": "project-b"}).status == 409
    gc.call("DELETE", f"{url}/v1/images/{image_id}/members/project-b", 204)
    assert gc.list_members(url, image_id) == []


# --- listings at scale -------------------------------------------------------------------

SCALE = 100_000


def test_a_listing_of_100000_images_pages_through_a_kept_index(tmp_path: Path) -> None:
    """Pages of 1000 from a marker, in both orders clients use, after images came and went
    (a sort of every image per page took a minute at this scale; see benchmarks/listing.py)."""
    repository = ImageRepository(tmp_path)
    repository.add_generated(generated_records(SCALE, "p"))
    by_id = Ordering.of(["id"], ["asc"])
    newest_first = Ordering.of([], [])

    def everything(image: Any) -> bool:
        return True

    first = repository.page(by_id, everything, None, 1000)
    created = repository.create(schema.new_record({"id": "00000000-0000-4000-8000-000000000000"}, "p"))
    repository.delete(first[1])
    listed: list[str] = []
    after = None
    while page := repository.page(by_id, everything, after, 1000):
        listed.extend(image.id for image in page)
        after = page[-1]

    assert len(listed) == SCALE and listed == sorted(listed)
    assert listed[0] == created.id and first[1].id not in listed
    top = repository.page(newest_first, everything, None, 3)
    assert top[0] is created  # the newest
    assert [image.id for image in top[1:]] == sorted(listed[1:])[::-1][:2]  # then by id, descending


def test_generated_images_are_the_same_for_the_same_count(start_serve: Start) -> None:
    many, few = start_serve("--generate-images", "2500"), start_serve("--generate-images", "10")

    listed = gc.list_pages(many.url, sort_key="id", sort_dir="asc", limit=1000)
    ids = [image["id"] for page in listed for image in page["images"]]

    assert [len(page["images"]) for page in listed] == [1000, 1000, 500]
    assert ids == sorted(ids) and len(set(ids)) == 2500
    assert {image["id"] for image in gc.list_all(few.url)} <= set(ids)
    assert all(image["status"] == "active" and image["visibility"] == "private" for image in listed[0]["images"])


def test_generated_images_look_like_users_snapshots_without_data(start_serve: Start) -> None:
    """What large clouds hold most of: Nova's snapshots, twenty-odd properties each, their
    per-image values all different (a client cannot hold them more cheaply than real ones)."""
    server = start_serve("--generate-images", "50")

    images = gc.list_all(server.url)
    download = gc.request("GET", f"{server.url}/v2/images/{images[0]['id']}/file")

    custom = [set(image) - set(schema.BASE_ATTRIBUTES) - {"stores"} for image in images]
    assert all(len(properties) >= 20 for properties in custom)
    assert all(image["image_type"] == "snapshot" and image["os_hash_algo"] == "sha512" for image in images)
    for per_image in ("id", "name", "instance_uuid", "checksum", "os_hash_value"):
        assert len({image[per_image] for image in images}) == 50, per_image
    assert download.status == 204  # metadata only: no data is held


@pytest.mark.server
def test_two_servers_with_the_same_generated_images_compare_identical(start_serve: Start) -> None:
    source, target = start_serve("--generate-images", "1500"), start_serve("--generate-images", "1500")

    compared = subprocess.run(
        [sys.executable, "-m", "replicator", "compare", source.url, target.url, "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert compared.returncode == 0, compared.stderr
    report = json.loads(compared.stdout)
    assert report["images"] == [] and report["summary"]["identical"] == 1500


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--port", "99999", "--data-dir", "x"], "--port takes a number from 0 to 65535, not 99999"),
        (["--port", "http", "--data-dir", "x"], "--port takes a number from 0 to 65535"),
        (["--port", "9292"], "--data-dir"),
    ],
)
def test_serve_refuses_bad_usage_in_one_line_as_every_command(args: list[str], fragment: str, capsys) -> None:
    from replicator.server.__main__ import main

    with pytest.raises(SystemExit) as ended:
        main(args)
    assert ended.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("replicator: error: ") and fragment in line and "see 'replicator serve --help'" in line
