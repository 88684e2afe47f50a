"""https certificates are verified by default; `--cacert` trusts a private CA, `--insecure`
skips the check. Each refusal is one line that says what to do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.certificates import self_signed
from tests.support.cli import assert_one_line_error, replicator
from tests.support.clouds import OS_VARIABLES, write_clouds
from tests.support.fake_keystone import FakeKeystone, clouds_yaml
from tests.support.servers import ReplicatorServe

# The CLI runs as a process.
pytestmark = pytest.mark.server


@pytest.fixture
def https_server(start_serve: Callable[..., ReplicatorServe], tmp_path: Path) -> tuple[ReplicatorServe, Path]:
    cert_file, key_file = self_signed(tmp_path)
    return start_serve("--cert-file", str(cert_file), "--key-file", str(key_file)), cert_file


def test_untrusted_certificate_is_refused_with_advice(https_server) -> None:
    server, _ = https_server
    assert server.url.startswith("https://")
    assert_one_line_error(replicator("size", server.url), "certificate", "not trusted", "--cacert")


def test_cacert_trusts_the_certificate(https_server) -> None:
    server, cert_file = https_server
    result = replicator("size", server.url, "--cacert", str(cert_file))
    assert result.returncode == 0, result.stderr
    assert "across 0 images" in result.stdout


def test_insecure_skips_the_check(https_server) -> None:
    server, _ = https_server
    result = replicator("size", server.url, "--insecure")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "tls, works",
    [({}, False), ({"cacert": "CERT"}, True), ({"verify": False}, True), ({"insecure": True}, True)],
    ids=["nothing said", "cacert", "verify false", "insecure"],
)
def test_a_clouds_tls_settings_reach_its_glance(
    https_server, tmp_path: Path, monkeypatch, tls: dict, works: bool
) -> None:
    """A private CA written once in clouds.yaml serves Glance as it serves Keystone."""
    server, cert_file = https_server
    for name in OS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    keystone = FakeKeystone(catalog=[("RegionOne", "public", server.url)]).start()
    try:
        settings = {key: str(cert_file) if value == "CERT" else value for key, value in tls.items()}
        write_clouds(tmp_path, monkeypatch, clouds_yaml(keystone, **settings))
        result = replicator("size", "--os-cloud", "test")
    finally:
        keystone.stop()
    if works:
        assert result.returncode == 0, result.stderr
        assert "across 0 images" in result.stdout
    else:
        assert_one_line_error(result, "certificate", "not trusted")


def test_a_certificate_file_that_cannot_be_used_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "garbage.pem").write_text("not a certificate")
    assert_one_line_error(
        replicator("size", "https://127.0.0.1:1", "--cacert", str(tmp_path / "absent.pem")),
        "absent.pem",
        "No such file",
    )
    assert_one_line_error(
        replicator("size", "https://127.0.0.1:1", "--cacert", str(tmp_path / "garbage.pem")), "garbage.pem"
    )
