"""Against a real Keystone whose tokens last 60 seconds and real Glances that check them: a copy
that outlives several tokens completes, every image verified, with a clouds.yaml written here."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support import glance_client as gc
from tests.support.cli import run
from tests.support.clouds import write_private
from tests.support.keystone_server import REGION, RealKeystone

TOKEN_SECONDS = 60
MiB = 1024 * 1024

pytestmark = pytest.mark.realglance


@pytest.fixture
def keystone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealKeystone]:
    server = RealKeystone(tmp_path_factory.mktemp("keystone"), token_seconds=TOKEN_SECONDS)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def cloud(keystone: RealKeystone, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clouds.yaml naming the cloud `migration`, with the password in secure.yaml."""
    auth = keystone.admin_auth()
    password = auth.pop("password")
    write_private(
        tmp_path / "clouds.yaml",
        yaml.safe_dump({"clouds": {"migration": {"auth_type": "password", "auth": auth, "region_name": REGION}}}),
    )
    write_private(tmp_path / "secure.yaml", yaml.safe_dump({"clouds": {"migration": {"auth": {"password": password}}}}))
    for name in ("OS_CLOUD", "OS_AUTH_URL", "OS_REGION_NAME", "OS_INTERFACE", "OS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "clouds.yaml"))
    monkeypatch.setenv("OS_CLIENT_SECURE_FILE", str(tmp_path / "secure.yaml"))
    return "migration"


def test_copy_outlives_its_tokens_and_every_image_is_verified(keystone, cloud, start_real_glance, serve_one) -> None:
    source = start_real_glance(overrides=keystone.glance_settings())
    target = start_real_glance(overrides=keystone.glance_settings())
    keystone.add_image_endpoint(source.url)
    # Glance checks tokens: without one it answers 401.
    assert gc.request("GET", f"{source.url}/v2/images").status == 401

    # Fill the source through its catalog entry ("-"), from an open local server.
    data = gc.seed_raw_images(serve_one.url, [MiB] * 6)
    filled = run("livecopy", serve_one.url, "-", "--target-cloud", cloud)
    assert filled.exit_code == 0, filled.stderr

    # 6 MiB at 80 KiB/s: about 77 s, longer than one token lives.
    started = time.monotonic()
    result = run(
        "livecopy", "-", target.url, "--os-cloud", cloud, "--bwlimit", "80K", "--concurrency", "2", "--chunksize", "64K"
    )
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.stderr
    assert elapsed > TOKEN_SECONDS, elapsed  # the premise: the copy outlived a token
    compared = run("compare", "-", target.url, "--os-cloud", cloud)
    assert compared.exit_code == 0, compared.stdout + compared.stderr
    counted = run("size", target.url, "--os-cloud", cloud)
    assert counted.stdout.strip() == f"Total size is {6 * MiB} bytes (6.0 MiB) across {len(data)} images"


def test_wrong_password_is_a_keystone_error(keystone, cloud, tmp_path: Path) -> None:
    secure = tmp_path / "secure.yaml"
    secure.write_text(yaml.safe_dump({"clouds": {cloud: {"auth": {"password": "not-it"}}}}))
    result = run("size", "--os-cloud", cloud)
    assert result.exit_code == 2
    assert f"cloud '{cloud}' (--os-cloud): Keystone refused the credentials (401)" in result.stderr
    assert "not-it" not in result.stderr


def test_debug_never_prints_credentials_held_in_the_auth_url(keystone, cloud, tmp_path: Path) -> None:
    """Issue 20: an `auth_url` that carries `user:password@` is shown without them, in `--debug`
    lines and in messages."""
    clouds = tmp_path / "clouds.yaml"
    document = yaml.safe_load(clouds.read_text())
    url = document["clouds"][cloud]["auth"]["auth_url"]
    document["clouds"][cloud]["auth"]["auth_url"] = url.replace("://", "://admin:url-secret-42@", 1)
    write_private(clouds, yaml.safe_dump(document))
    result = run("size", "--os-cloud", cloud, "--debug")
    assert "authenticated at http://127.0.0.1:" in result.stderr, result.stderr
    assert "url-secret-42" not in result.stderr + result.stdout
