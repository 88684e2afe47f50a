"""A real Keystone behind https with a self-signed certificate: `--cacert` and `--insecure` reach
it as they reach Glance, and win over the cloud's own settings; an https Keystone that hands out a
plain-http image endpoint is one line of warning.

The catalog lists a Glance (`replicator serve`) over https with the same certificate in
RegionOne, and one over plain http in RegionTwo.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.certificates import self_signed
from tests.support.cli import assert_one_line_error, replicator
from tests.support.clouds import write_private
from tests.support.inprocess import InProcessServe
from tests.support.keystone_server import RealKeystone

pytestmark = pytest.mark.realglance


class TlsCloud:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.cert, key = self_signed(folder)
        self.keystone = RealKeystone(folder / "keystone", token_seconds=3600, tls=(self.cert, key))
        self.https = InProcessServe(
            folder / "https", extra_args=["--cert-file", str(self.cert), "--key-file", str(key)]
        )
        self.http = InProcessServe(folder / "http")
        self.servers = (self.keystone, self.https, self.http)

    def start(self) -> None:
        for server in self.servers:
            server.launch()
        for server in self.servers:
            server.wait_ready()
        self.keystone.add_region("RegionTwo")
        self.keystone.add_image_endpoint(self.https.url, "RegionOne")
        self.keystone.add_image_endpoint(self.http.url, "RegionTwo")

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def env(self, folder: Path, **cloud: object) -> dict[str, str]:
        """A private clouds.yaml naming the cloud `secure` in RegionOne, with `cloud`'s settings."""
        document = {
            "clouds": {
                "secure": {
                    "auth_type": "password",
                    "auth": self.keystone.admin_auth(),
                    "region_name": "RegionOne",
                    **cloud,
                }
            }
        }
        clouds = write_private(folder / "clouds.yaml", yaml.safe_dump(document))
        secure = write_private(folder / "secure.yaml", yaml.safe_dump({"clouds": {}}))
        clean = {name: value for name, value in os.environ.items() if not name.startswith("OS_")}
        return {**clean, "OS_CLIENT_CONFIG_FILE": str(clouds), "OS_CLIENT_SECURE_FILE": str(secure)}


@pytest.fixture(scope="module")
def tls_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsCloud]:
    cloud = TlsCloud(tmp_path_factory.mktemp("tls"))
    try:
        cloud.start()
        yield cloud
    finally:
        cloud.stop()


def assert_quiet_success(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr
    assert "across 0 images" in result.stdout
    # Nothing but size's own count line: not a library's warning either (an unverified request, an unused cacert).
    assert messages(result) == []


def messages(result: subprocess.CompletedProcess[str]) -> list[str]:
    """stderr without the counts `size` prints there for people."""
    return [line for line in result.stderr.splitlines() if not line.endswith("images in all")]


def test_an_untrusted_keystone_certificate_is_one_line(tls_cloud: TlsCloud, tmp_path: Path) -> None:
    result = replicator("size", "--os-cloud", "secure", env=tls_cloud.env(tmp_path))
    assert_one_line_error(
        result,
        "cloud 'secure' (--os-cloud): the certificate of Keystone at https://127.0.0.1:",
        "is not trusted",
        "self-signed certificate",
    )


def test_cacert_reaches_keystone(tls_cloud: TlsCloud, tmp_path: Path) -> None:
    assert_quiet_success(
        replicator("size", "--os-cloud", "secure", "--cacert", str(tls_cloud.cert), env=tls_cloud.env(tmp_path))
    )


def test_the_cacert_flag_wins_over_the_cloud_s(tls_cloud: TlsCloud, tmp_path: Path) -> None:
    other, _ = self_signed(tmp_path)  # a CA that signed neither server
    env = tls_cloud.env(tmp_path, cacert=str(other))
    assert_one_line_error(replicator("size", "--os-cloud", "secure", env=env), "is not trusted")
    assert_quiet_success(replicator("size", "--os-cloud", "secure", "--cacert", str(tls_cloud.cert), env=env))


def test_insecure_reaches_keystone(tls_cloud: TlsCloud, tmp_path: Path) -> None:
    env = tls_cloud.env(tmp_path, cacert=str(tmp_path / "absent.pem"))  # unused when the check is skipped
    assert_quiet_success(replicator("size", "--os-cloud", "secure", "--insecure", env=env))


def test_the_cloud_s_own_settings_serve_when_no_flag_is_given(tls_cloud: TlsCloud, tmp_path: Path) -> None:
    assert_quiet_success(
        replicator("size", "--os-cloud", "secure", env=tls_cloud.env(tmp_path, cacert=str(tls_cloud.cert)))
    )
    assert_quiet_success(replicator("size", "--os-cloud", "secure", env=tls_cloud.env(tmp_path, verify=False)))


def test_a_plain_http_image_endpoint_from_an_https_keystone_is_one_warning(tls_cloud: TlsCloud, tmp_path: Path) -> None:
    result = replicator(
        "size",
        "--os-cloud",
        "secure",
        "--os-region-name",
        "RegionTwo",
        "--cacert",
        str(tls_cloud.cert),
        env=tls_cloud.env(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    lines = messages(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("replicator: warning: cloud 'secure' (--os-cloud): Keystone at https://")
    assert f"plain-http image endpoint {tls_cloud.http.url}" in lines[0]


def test_a_password_keystone_refuses_as_malformed_is_never_echoed(tls_cloud: TlsCloud, tmp_path: Path) -> None:
    """Keystone's 400 quotes the value it was sent: a password written as a YAML list."""
    auth = {**tls_cloud.keystone.admin_auth(), "password": ["hunter2-left", "hunter2-right"]}
    env = tls_cloud.env(tmp_path, auth=auth)
    result = replicator("size", "--os-cloud", "secure", "--cacert", str(tls_cloud.cert), env=env)
    assert_one_line_error(result, "cloud 'secure' (--os-cloud): Keystone at", "400")
    assert "hunter2" not in result.stderr
