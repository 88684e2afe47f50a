"""Bad input gets exit 2 and one clear line on stderr: never a traceback, never a partial write."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from tests.support import glance_client as gc
from tests.support.cli import assert_one_line_error, replicator
from tests.support.records import IMAGE_ID
from tests.support.servers import free_port

# Exit codes and stderr as a shell sees them: the CLI runs as a process.
pytestmark = pytest.mark.server


@pytest.mark.parametrize("server", ["glance", "glance:notaport", "ftp://glance:21", "http://:9292", "glance:99999"])
def test_malformed_server_string(server: str) -> None:
    assert_one_line_error(replicator("size", server), "invalid server")


def test_server_down() -> None:
    assert_one_line_error(replicator("size", f"127.0.0.1:{free_port()}", "--retries", "0"), "connection refused by")


def test_livecopy_with_target_down_touches_nothing(serve_one) -> None:
    result = replicator("livecopy", serve_one.url, f"127.0.0.1:{free_port()}", "--retries", "0")
    assert_one_line_error(result, "connection refused by")


@pytest.mark.parametrize(
    ("fake_server", "message"),
    [
        ((200, b"<html><body>Welcome to nginx!</body></html>"), "not JSON"),
        ((404, b"<html><body>Not Found</body></html>"), "404"),
        ((200, b'{"images": [{"id": "x"'), "not JSON"),
        ((200, b'{"servers": []}'), "not a Glance v2 answer"),
        ((200, b'{"images": [{"id": "../../etc/passwd"}]}'), "not a UUID"),
        (
            (
                200,
                json.dumps({"images": [{"id": IMAGE_ID, "status": "active"}], "next": "/v2/images?marker=x"}).encode(),
            ),
            "loops",
        ),
    ],
    indirect=["fake_server"],
)
def test_servers_that_do_not_answer_like_glance(fake_server: str, message: str) -> None:
    # The API version named: these answers reach the v2 listing, not the version discovery.
    assert_one_line_error(replicator("size", fake_server, "--retries", "0", "--api-version", "2"), message)


@pytest.mark.parametrize(
    ("fake_server", "message"),
    [
        ((200, b'{"servers": []}'), "lists no Glance API version"),
        ((200, b"<html><body>Welcome to nginx!</body></html>"), "not JSON"),
        ((404, b"<html><body>Not Found</body></html>"), "404"),
    ],
    indirect=["fake_server"],
)
def test_version_discovery_of_something_that_is_no_glance(fake_server: str, message: str) -> None:
    assert_one_line_error(replicator("size", fake_server, "--retries", "0"), message)


def test_load_from_missing_directory(tmp_path: Path) -> None:
    assert_one_line_error(replicator("load", f"127.0.0.1:{free_port()}", str(tmp_path / "absent")), "does not exist")


def test_load_of_dump_file_that_is_not_json(serve_one, tmp_path: Path) -> None:
    (tmp_path / IMAGE_ID).write_text("{ this is not json")
    assert_one_line_error(replicator("load", serve_one.url, str(tmp_path)), "not valid JSON", IMAGE_ID)


def test_load_of_dump_file_whose_id_disagrees_with_its_name(serve_one, tmp_path: Path) -> None:
    (tmp_path / IMAGE_ID).write_text(json.dumps({"id": "11111111-2222-3333-4444-555555555555", "status": "queued"}))
    assert_one_line_error(replicator("load", serve_one.url, str(tmp_path)), "not the id in its name")


def test_bad_chunksize() -> None:
    assert_one_line_error(replicator("livecopy", "a:1", "b:2", "--chunksize", "lots"), "invalid size")


@pytest.mark.parametrize(
    "args, message",
    [
        (["size", "a:1", "--no-such-option"], "--help"),
        (["copy", "a:1", "b:2"], "--help"),
        (["livecopy", "a:1", "b:2", "--concurrency", "0"], "--help"),
        # A SERVER may be left out only where a cloud's catalog names it.
        (["size"], "the SERVER argument is missing"),
        (["livecopy", "a:1"], "the TARGET argument is missing"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    result = replicator(*args, env=environment)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr


@pytest.mark.parametrize("command", ["size", "dump", "load", "livecopy", "compare", "serve"])
def test_every_command_prints_its_help(command: str) -> None:
    """Help texts are rich markup: a bracket that reads as a closing tag would crash --help."""
    result = replicator(command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout or "usage" in result.stdout
    assert not result.stderr


@pytest.mark.parametrize("change", ["truncate", "extend"])
def test_load_of_img_file_whose_size_disagrees_with_its_record(serve_pair, tmp_path: Path, change: str) -> None:
    """The image fails with the byte counts before anything is sent (nothing is created for it),
    a dry run says so and exits 1 as the run does, and the other images load."""
    source, target = serve_pair.source, serve_pair.target
    ids = []
    for name in ("victim", "bystander"):
        image_id = gc.create_image(source, id=str(uuid.uuid4()), name=name, disk_format="raw", container_format="bare")[
            "id"
        ]
        gc.upload(source, image_id, os.urandom(100_000))
        ids.append(image_id)
    assert replicator("dump", source, str(tmp_path)).returncode == 0
    img = tmp_path / f"{ids[0]}.img"
    payload = img.read_bytes()
    img.write_bytes(payload[:50_000] if change == "truncate" else payload + b"extra")

    dry = replicator("load", target, str(tmp_path), "--dry-run")
    assert dry.returncode == 1, dry.stderr
    assert "1 images would fail" in dry.stdout and "100000" in dry.stdout

    result = replicator("load", target, str(tmp_path))

    assert result.returncode == 1
    assert "100000" in result.stderr and ids[0] in result.stderr
    assert ids[0] not in {image["id"] for image in gc.list_all(target)}
    assert gc.get_image(target, ids[1])["status"] == "active"


def test_dump_rerun_writes_again_an_img_of_the_wrong_size(serve_one, tmp_path: Path) -> None:
    payload = os.urandom(100_000)
    image_id = gc.create_image(serve_one.url, id=str(uuid.uuid4()), disk_format="raw", container_format="bare")["id"]
    gc.upload(serve_one.url, image_id, payload)
    assert replicator("dump", serve_one.url, str(tmp_path)).returncode == 0
    (tmp_path / f"{image_id}.img").write_bytes(payload[:10])

    assert replicator("dump", serve_one.url, str(tmp_path)).returncode == 0
    assert (tmp_path / f"{image_id}.img").read_bytes() == payload


def test_debug_shows_what_an_error_was_raised_from() -> None:
    """`raise ... from exc`: the user sees one line; `--debug` also shows the chain of causes."""
    server = f"127.0.0.1:{free_port()}"
    quiet = replicator("size", server, "--retries", "0")
    assert_one_line_error(quiet, "connection refused by")
    loud = replicator("size", server, "--retries", "0", "--debug")
    assert loud.returncode == 2
    assert loud.stderr.splitlines()[-1] == quiet.stderr.strip()  # the same one line ends it
    assert "The above exception was the direct cause of the following exception" in loud.stderr
    assert "ConnectionRefusedError" in loud.stderr  # the OS's error, under the transport's
    # Every line of the chain is escaped and indented: nothing in it can pass for a log line.
    chain = [line for line in loud.stderr.splitlines() if "Traceback" in line]
    assert chain and all(line.startswith("  | ") for line in chain)
