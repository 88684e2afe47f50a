"""Keystone treated like every other server: each failure one line, the user's timeout honoured,
one authentication per side (even with a token that looks expired on arrival), and clouds.yaml /
secure.yaml files that cannot be used, or that others can read, told about by name.

Keystone here is `fake_keystone.FakeKeystone` (for what a real one cannot be made to do on
demand: answer nothing, answer 400 quoting the password, hand out a token from a clock that
disagrees with ours); `test_regions.py` and `test_keystone_tls.py` run the real one. The runs are
processes of their own, so that every line they print is seen, library log lines included.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from replicator.openstack.auth import KeystoneAuth
from replicator.openstack.cloud import CloudChoice
from tests.support import glance_client as gc
from tests.support.cli import assert_one_line_error, replicator
from tests.support.clouds import write_private
from tests.support.fake_keystone import FakeKeystone, clouds_yaml
from tests.support.servers import free_port


@pytest.fixture
def keystone() -> Iterator[FakeKeystone]:
    fake = FakeKeystone().start()
    yield fake
    fake.stop()


def cloud_env(folder: Path, document: dict, secure: dict | None = None) -> dict[str, str]:
    """Our environment without the machine's OS_* variables, pointing at these two files
    (written private, as they should be)."""
    clouds = write_private(folder / "clouds.yaml", yaml.safe_dump(document))
    secure_file = write_private(folder / "secure.yaml", yaml.safe_dump(secure or {"clouds": {}}))
    clean = {name: value for name, value in os.environ.items() if not name.startswith("OS_")}
    return {**clean, "OS_CLIENT_CONFIG_FILE": str(clouds), "OS_CLIENT_SECURE_FILE": str(secure_file)}


class SilentServer:
    """Accepts connections and never answers: a Keystone stuck behind a slow proxy."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._held: list[socket.socket] = []
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}/v3"

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self._held.append(connection)

    def stop(self) -> None:
        self._stopped.set()
        self._socket.close()
        for connection in self._held:
            connection.close()


# One line for every failure.


@pytest.mark.server
def test_a_keystone_that_does_not_answer_is_given_the_timeout(tmp_path: Path) -> None:
    silent = SilentServer()
    try:
        document = {
            "clouds": {
                "slow": {
                    "auth_type": "password",
                    "auth": {
                        "auth_url": silent.url,
                        "username": "admin",
                        "password": "secret",
                        "project_name": "admin",
                        "user_domain_name": "Default",
                        "project_domain_name": "Default",
                    },
                }
            }
        }
        # Without the timeout reaching Keystone, this run would wait for ever (and the call time out).
        result = replicator("size", "--os-cloud", "slow", "--timeout", "1", env=cloud_env(tmp_path, document))
    finally:
        silent.stop()
    assert_one_line_error(result, "cloud 'slow' (--os-cloud): Keystone at", "did not answer within 1 s")


@pytest.mark.server
def test_an_unreachable_keystone_is_one_line_without_connection_pool_text(tmp_path: Path, keystone) -> None:
    document = clouds_yaml(keystone)
    document["clouds"]["test"]["auth"]["auth_url"] = f"http://127.0.0.1:{free_port()}/v3"
    result = replicator("size", "--os-cloud", "test", env=cloud_env(tmp_path, document))
    assert_one_line_error(result, "cannot reach Keystone at http://127.0.0.1:", "Connection refused")
    for library_text in ("HTTPConnectionPool", "Max retries", "NewConnectionError", "Failed to discover"):
        assert library_text not in result.stderr


@pytest.mark.server
def test_keystone_s_answer_body_is_never_shown(tmp_path: Path, keystone) -> None:
    """Keystone's 400 can quote what it was sent: the password, here."""
    keystone.answer = (
        400,
        {
            "error": {
                "code": 400,
                "title": "Bad Request",
                "message": "Invalid input for field 'password': 'secret' is not valid",
            }
        },
    )
    result = replicator("size", "--os-cloud", "test", env=cloud_env(tmp_path, clouds_yaml(keystone)))
    assert_one_line_error(
        result, "cloud 'test' (--os-cloud): Keystone at", "answered 400 Bad Request", "a password must be text"
    )
    assert "secret" not in result.stderr and "Invalid input" not in result.stderr


@pytest.mark.server
def test_keystone_s_server_error_is_one_line(tmp_path: Path, keystone) -> None:
    keystone.answer = (503, {"error": {"code": 503, "message": "down for maintenance: secret"}})
    result = replicator("size", "--os-cloud", "test", env=cloud_env(tmp_path, clouds_yaml(keystone)))
    assert_one_line_error(result, "answered 503 Service Unavailable")
    assert "secret" not in result.stderr


@pytest.mark.server
def test_the_environment_s_cloud_is_never_cloud_none(tmp_path: Path, keystone) -> None:
    clean = {name: value for name, value in os.environ.items() if not name.startswith("OS_")}
    env = {
        **clean,
        "OS_AUTH_URL": keystone.url,
        "OS_USERNAME": "admin",
        "OS_PASSWORD": "wrong",
        "OS_PROJECT_NAME": "admin",
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_CLIENT_CONFIG_FILE": str(tmp_path / "none.yaml"),
        "OS_CLIENT_SECURE_FILE": str(tmp_path / "none.yaml"),
    }
    result = replicator("size", env=env)
    assert_one_line_error(
        result, "the cloud in the OS_* variables: Keystone refused the credentials (401)", "in the OS_* variables"
    )
    assert "None" not in result.stderr and "wrong" not in result.stderr


# The files.


@pytest.mark.server
def test_an_unknown_cloud_lists_the_clouds_there_are(tmp_path: Path, keystone) -> None:
    document = {"clouds": {"prod": clouds_yaml(keystone)["clouds"]["test"], "staging": {"auth": {}}}}
    env = cloud_env(tmp_path, document)
    assert_one_line_error(
        replicator("size", "--os-cloud", "prdo", env=env),
        "cloud 'prdo' (--os-cloud): Cloud prdo was not found in",
        "clouds.yaml; it has: prod, staging",
    )
    env["OS_CLIENT_CONFIG_FILE"] = env["OS_CLIENT_SECURE_FILE"] = str(tmp_path / "absent.yaml")
    assert_one_line_error(
        replicator("size", "--os-cloud", "prod", env={**env, "HOME": str(tmp_path)}),
        "Cloud prod was not found: no clouds.yaml was found",
    )


@pytest.mark.server
@pytest.mark.parametrize(
    "text, problem",
    [
        ("clouds: {test: [unclosed", "is not valid YAML"),
        ("- a\n- list\n", "must be a mapping with a 'clouds' key"),
        ("clouds: [prod, staging]\n", "'clouds' must map cloud names"),
        ("clouds: {test: just-a-name}\n", "cloud 'test' must be a mapping"),
        ("clouds: {test: {auth: [password, secret]}}\n", "cloud 'test': 'auth' must be a mapping"),
        ("clouds: {test: {regions: RegionOne}}\n", "'regions' must be a list"),
        (b"clouds: {test: {auth: {password: \xff\xfe}}}\n", "is not UTF-8 text"),
    ],
    ids=["not yaml", "a list", "clouds a list", "cloud a name", "auth a list", "regions a name", "not utf-8"],
)
@pytest.mark.parametrize("which", ["clouds.yaml", "secure.yaml"])
def test_a_malformed_file_is_an_input_error_naming_it(tmp_path: Path, keystone, which: str, text, problem) -> None:
    env = cloud_env(tmp_path, clouds_yaml(keystone))
    path = tmp_path / which
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    result = replicator("size", "--os-cloud", "test", env=env)
    assert_one_line_error(result, str(path), problem)
    assert "secret" not in result.stderr


@pytest.mark.server
def test_a_secret_readable_by_others_is_one_warning(start_serve, tmp_path: Path, keystone) -> None:
    source, target = start_serve(), start_serve()
    keystone.catalog = [("RegionOne", "public", source.url), ("RegionTwo", "public", target.url)]
    env = cloud_env(tmp_path, clouds_yaml(keystone))
    (tmp_path / "clouds.yaml").chmod(0o644)
    # Both sides read the file: one warning still.
    result = replicator(
        "livecopy", "--os-cloud", "test", "--source-region", "RegionOne", "--target-region", "RegionTwo", env=env
    )
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warnings == [
        f"replicator: warning: {tmp_path / 'clouds.yaml'} holds a secret and is readable by "
        "other users (mode 0644): make it private with chmod 600"
    ]

    # The password moved to secure.yaml, readable by the group: that file is the one named.
    document = clouds_yaml(keystone)
    password = document["clouds"]["test"]["auth"].pop("password")
    env = cloud_env(tmp_path, document, {"clouds": {"test": {"auth": {"password": password}}}})
    (tmp_path / "clouds.yaml").chmod(0o644)  # no secret in it: nothing to say
    (tmp_path / "secure.yaml").chmod(0o640)
    result = replicator("size", "--os-cloud", "test", "--os-region-name", "RegionOne", env=env)
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("replicator:")] == [
        f"replicator: warning: {tmp_path / 'secure.yaml'} holds a secret and is "
        "readable by other users (mode 0640): make it private with chmod 600"
    ]


# One authentication per side.


@pytest.mark.server
def test_a_token_expired_on_arrival_is_one_warning_and_one_authentication(
    start_serve, tmp_path: Path, keystone
) -> None:
    source, target = start_serve(), start_serve()
    gc.seed_raw_images(source.url, [100] * 16)
    keystone.catalog = [("RegionOne", "public", source.url), ("RegionTwo", "public", target.url)]
    keystone.issued_at, keystone.expires_at = "2001-01-01T00:00:00.000000Z", "2001-01-01T01:00:00.000000Z"
    env = cloud_env(tmp_path, clouds_yaml(keystone))

    counted = replicator("size", "--os-cloud", "test", "--os-region-name", "RegionOne", env=env)
    assert counted.returncode == 0, counted.stderr
    assert "across 16 images" in counted.stdout
    assert len(keystone.issued) == 1
    lines = [line for line in counted.stderr.splitlines() if line.startswith("replicator:")]
    assert len(lines) == 1 and "arrived already expired" in lines[0], counted.stderr

    copied = replicator(
        "livecopy",
        "--os-cloud",
        "test",
        "--source-region",
        "RegionOne",
        "--target-region",
        "RegionTwo",
        "--metaonly",
        env=env,
    )
    assert copied.returncode == 0, copied.stderr
    assert len(keystone.issued) == 1 + 2  # one per side
    assert len(gc.list_all(target.url)) == 16


async def test_concurrent_requests_share_one_authentication_and_one_renewal(
    tmp_path: Path, keystone, monkeypatch: pytest.MonkeyPatch
) -> None:
    keystone.catalog = [("RegionOne", "public", "http://127.0.0.1:9292")]
    for name, value in cloud_env(tmp_path, clouds_yaml(keystone)).items():
        if name.startswith("OS_"):
            monkeypatch.setenv(name, value)
    auth = KeystoneAuth(CloudChoice("test"))
    tokens = await asyncio.gather(*(auth.token() for _ in range(20)))
    assert len(set(tokens)) == 1 and len(keystone.issued) == 1
    # Twenty requests refused with the same token: one renewal, and all of them get its token.
    renewed = await asyncio.gather(*(auth.renew(tokens[0]) for _ in range(20)))
    assert len(set(renewed)) == 1 and renewed[0] != tokens[0] and len(keystone.issued) == 2
    assert await auth.token() == renewed[0] and len(keystone.issued) == 2


async def test_a_token_is_renewed_shortly_before_its_own_lifetime_ends(
    tmp_path: Path, keystone, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Measured from its arrival on our clock: Keystone's clock may be hours off ours."""
    keystone.catalog = [("RegionOne", "public", "http://127.0.0.1:9292")]
    keystone.issued_at, keystone.expires_at = "2001-01-01T00:00:00.000000Z", "2001-01-01T01:00:00.000000Z"
    for name, value in cloud_env(tmp_path, clouds_yaml(keystone)).items():
        if name.startswith("OS_"):
            monkeypatch.setenv(name, value)
    now = [1000.0]
    warned: list[str] = []
    auth = KeystoneAuth(CloudChoice("test"), warn=warned.append, clock=lambda: now[0])
    first = await auth.token()
    now[0] += 3600 - 31  # an hour's token, renewed 30 s ahead
    assert await auth.token() == first and len(keystone.issued) == 1
    now[0] += 2
    assert await auth.token() != first and len(keystone.issued) == 2
    assert len(warned) == 1 and "arrived already expired" in warned[0]
