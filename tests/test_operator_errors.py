"""Errors an operator meets in the first days say which side failed, where, and what to do:
a 401 names the side, its URL and the option to give; a connection that cannot work says why
in an operator's words (nothing listens, the wrong scheme, a port that is no number); an
unknown cloud is said before any server is asked; a v1-only Glance asked for v2 says so."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.certificates import self_signed
from tests.support.cli import assert_refused, run
from tests.support.servers import ReplicatorServe, free_port


def test_a_401_from_the_target_names_the_target_its_url_and_the_option(start_serve) -> None:
    source, target = start_serve(), start_serve("--token", "right")
    for given in ([], ["--sourcetoken", "x"], ["--targettoken", "s3cr3t-given"]):
        line = assert_refused(
            run("livecopy", source.url, target.url, *given),
            f"the target {target.url}",
            "401",
            "--targettoken (or REPLICATOR_TARGET_TOKEN)",
            absent=("--sourcetoken", f"the source {source.url}"),
        )
        assert "s3cr3t-given" not in line  # the token itself is never printed


def test_a_refused_connection_is_said_at_once_in_an_operators_words() -> None:
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    assert_refused(run("size", address, "--retries", "5"), f"connection refused by {address}: is the server running?")
    # Not retried: five back-offs would take seconds (this bound is far above one attempt).
    assert time.monotonic() - started < 5


def test_https_against_a_plain_http_server_suggests_http(start_serve) -> None:
    server = start_serve()
    https = server.url.replace("http://", "https://")
    assert_refused(run("size", https), "wrong scheme? try http://", absent=("SSL", "WRONG_VERSION"))


def test_host_port_against_an_https_server_suggests_https(start_serve, tmp_path: Path) -> None:
    cert_file, key_file = self_signed(tmp_path)
    server = start_serve("--cert-file", str(cert_file), "--key-file", str(key_file))
    address = server.url.removeprefix("https://")
    assert_refused(run("size", address, "--retries", "0"), f"wrong scheme? try https://{address}")


@pytest.mark.parametrize("port", ["notaport", "99999"])
def test_a_port_that_is_no_port_is_one_line_of_input_error(port: str) -> None:
    assert_refused(
        run("size", f"127.0.0.1:{port}"), "the port must be a number from 1 to 65535", absent=("cast", "integer")
    )


@pytest.mark.parametrize("command", ["livecopy", "compare"])
def test_a_missing_target_says_which_argument_is_missing(command: str) -> None:
    assert_refused(run(command, f"127.0.0.1:{free_port()}"), "the TARGET argument is missing", "--os-cloud")


def test_an_unknown_target_cloud_is_said_before_the_source_is_contacted(
    start_serve: Callable[..., ReplicatorServe], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "clouds.yaml"))
    keystone = f"http://127.0.0.1:{free_port()}/v3"
    (tmp_path / "clouds.yaml").write_text(f"clouds:\n  src:\n    auth:\n      auth_url: {keystone}\n")
    # The source's Keystone is a closed port: reaching it first would say "cannot reach Keystone".
    assert_refused(
        run("livecopy", "--source-cloud", "src", "--target-cloud", "nowhere"),
        "nowhere",
        "not found",
        absent=("cannot reach",),
    )


def test_api_version_2_against_a_v1_only_glance_says_so_in_one_line(start_serve) -> None:
    server = start_serve("--api", "v1")
    line = assert_refused(
        run("size", server.url, "--api-version", "2"),
        "does not serve this API version (300 Multiple Choices; it offers v1",
        "auto",
    )
    assert "links" not in line and "{" not in line  # not the raw 300 body


def test_os_cacert_is_honoured_for_a_url_and_a_token(start_serve, tmp_path: Path, monkeypatch) -> None:
    cert_file, key_file = self_signed(tmp_path)
    server = start_serve("--cert-file", str(cert_file), "--key-file", str(key_file))
    assert run("size", server.url).exit_code == 2  # untrusted without it
    monkeypatch.setenv("OS_CACERT", str(cert_file))
    result = run("size", server.url, "--token", "t")
    assert result.exit_code == 0, result.stderr


def test_a_bad_value_in_the_config_file_names_the_file_the_line_and_the_key(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("replicator.toml").write_text('# settings\nretries = 3\n\n[livecopy]\nconcurrency = "abc"\n')
    address = f"127.0.0.1:{free_port()}"
    assert_refused(
        run("livecopy", address, address), "replicator.toml, line 5", "concurrency", absent=("'--concurrency'",)
    )
    Path("replicator.toml").write_text("retries = -1\n")
    assert_refused(run("size", address), "replicator.toml, line 1", "retries", absent=("'--retries'",))
