"""What cannot be meant is refused before anything is contacted (exit 2, one line): the same
Glance as source and target, options that contradict each other or do nothing, an id that no
Glance can have. Every address here is a closed port: a refusal that came after a connection
would say "connection refused" instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import assert_refused, run
from tests.support.servers import free_port

NOT_CONTACTED = ("connection refused", "cannot connect", "cannot reach")


@pytest.mark.parametrize("command", ["livecopy", "compare"])
@pytest.mark.parametrize(
    "source, target",
    [
        ("{host}:{port}", "http://{host}:{port}/v2"),
        ("http://{host}:{port}/", "HTTP://{host}:{port}/v1"),
        ("https://{host}", "https://{host}:443/v2"),
    ],
)
def test_the_same_glance_in_two_spellings_is_refused(command: str, source: str, target: str) -> None:
    values = {"host": "127.0.0.1", "port": free_port()}
    assert_refused(
        run(command, source.format(**values), target.format(**values)),
        "source and target are the same endpoint",
        absent=NOT_CONTACTED,
    )


def test_two_ports_of_one_host_are_two_glances() -> None:
    result = run("compare", f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}", "--retries", "0")
    assert "same endpoint" not in result.stderr
    assert "connection refused" in result.stderr  # it went on, to the first server


def test_the_same_cloud_and_region_on_both_sides_is_refused(tmp_path: Path, monkeypatch) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(f"clouds:\n  prod:\n    auth:\n      auth_url: http://127.0.0.1:{free_port()}/v3\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    assert_refused(run("compare", "--os-cloud", "prod"), "same endpoint", "cloud prod", absent=NOT_CONTACTED)
    # No arguments at all, with only the OS_* variables: both sides are the same too.
    monkeypatch.setenv("OS_AUTH_URL", f"http://127.0.0.1:{free_port()}/v3")
    monkeypatch.setenv("OS_REGION_NAME", "RegionOne")
    assert_refused(run("livecopy"), "same endpoint", "OS_* variables", absent=NOT_CONTACTED)
    # Another region of the same cloud is another Glance: the run goes on (to its Keystone).
    result = run("compare", "--os-cloud", "prod", "--target-region", "RegionTwo")
    assert "same endpoint" not in result.stderr


def test_the_same_glance_with_another_target_store_goes_on() -> None:
    address = f"127.0.0.1:{free_port()}"
    result = run("livecopy", address, address, "--store", "fast", "--retries", "0")
    assert "same endpoint" not in result.stderr
    assert "connection refused" in result.stderr


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["-q", "-v"], "-q/--quiet and -v/--verbose"),
        (["--quiet", "--verbose"], "-q/--quiet and -v/--verbose"),
        (["--prune-existing"], "--prune-existing says which images --prune may prune"),
        (["--id", "not-a-uuid"], "--id 'not-a-uuid' is not an image id"),
        (["--id", "5b5cb6f5-8f6e-4c5d-9a0b-1c2d3e4f5a6b\n"], "is not an image id"),
    ],
)
def test_options_that_cannot_be_meant_are_refused(args: list[str], fragment: str) -> None:
    assert_refused(
        run("livecopy", f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}", *args),
        fragment,
        absent=NOT_CONTACTED,
    )


def test_an_ids_file_with_a_line_that_is_no_id_names_the_line(tmp_path: Path) -> None:
    listed = tmp_path / "ids.txt"
    listed.write_text("# failed yesterday\n5b5cb6f5-8f6e-4c5d-9a0b-1c2d3e4f5a6b\nimage-7  # typo\n")
    assert_refused(
        run("size", f"127.0.0.1:{free_port()}", "--ids-from", str(listed)),
        f"--ids-from {listed}, line 3: 'image-7' is not an image id",
        absent=NOT_CONTACTED,
    )
