"""From a side to an open store: errors that say what to do, and carry their facts as fields
(kind, status, side) for the layers above to decide on, never their wording."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from replicator.model.errors import ErrorKind, RunError
from replicator.model.settings import Settings
from replicator.model.vocabulary import Role
from replicator.openstack.connect import Side, open_glance
from tests.support.cli import assert_one_line_error, replicator
from tests.support.clouds import OS_VARIABLES, write_clouds
from tests.support.fake_keystone import FakeKeystone, clouds_yaml
from tests.support.servers import free_port


@pytest.mark.server
@pytest.mark.parametrize("fake_server", [(404, b"<html><body>Not Found</body></html>")], indirect=True)
def test_a_url_that_is_not_a_glance_says_where_glance_usually_is(fake_server: str) -> None:
    assert_one_line_error(
        replicator("size", fake_server, "--retries", "0"),
        f"http://{fake_server}/ answered 404 to GET /versions: not a Glance endpoint? "
        "the image endpoint usually ends in :9292 or /image",
    )


@pytest.fixture
def keystone(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKeystone]:
    for name in OS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    fake = FakeKeystone(catalog=[("RegionOne", "public", "http://127.0.0.1:9292")]).start()
    yield fake
    fake.stop()


async def failure(side: Side) -> RunError:
    with pytest.raises(RunError) as caught:
        await open_glance(side, Settings(retries=0, timeout=5), warn=lambda message: None)
    return caught.value


@pytest.mark.parametrize(
    "case, kind, status",
    [
        ("credentials refused", ErrorKind.AUTH, 401),
        ("keystone down", ErrorKind.TRANSPORT, None),
        ("keystone fails", ErrorKind.SERVER, 500),
        ("unknown cloud", ErrorKind.INPUT, None),
        ("no such region", ErrorKind.NOT_FOUND, None),
        ("malformed clouds.yaml", ErrorKind.INPUT, None),
    ],
)
async def test_keystone_errors_carry_kind_status_and_side(
    case, kind, status, keystone, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = clouds_yaml(keystone, password="wrong" if case == "credentials refused" else "secret")
    side = Side("-", cloud="test", role=Role.TARGET, cloud_option="--target-cloud")
    if case == "keystone down":
        document["clouds"]["test"]["auth"]["auth_url"] = f"http://127.0.0.1:{free_port()}/v3"
    elif case == "keystone fails":
        keystone.answer = (500, {"error": {"code": 500, "message": "boom"}})
    elif case == "unknown cloud":
        side = Side("-", cloud="nowhere", role=Role.TARGET, cloud_option="--target-cloud")
    elif case == "no such region":
        side = Side("-", cloud="test", region="RegionNine", role=Role.TARGET, cloud_option="--target-cloud")
    write_clouds(tmp_path, monkeypatch, document)
    if case == "malformed clouds.yaml":
        (tmp_path / "clouds.yaml").write_text(yaml.safe_dump({"clouds": ["test"]}))
    error = await failure(side)
    assert (error.kind, error.status, error.side) == (kind, status, "target"), str(error)


@pytest.mark.parametrize("fake_server", [(404, b"Not Found")], indirect=True)
async def test_a_version_discovery_404_is_a_not_found_run_error(fake_server: str) -> None:
    error = await failure(Side(fake_server, role=Role.SOURCE))
    assert (error.kind, error.status, error.side) == (ErrorKind.NOT_FOUND, 404, "source")


async def test_a_static_token_refused_is_an_auth_error() -> None:
    from replicator.model.token_source import StaticToken

    with pytest.raises(RunError) as caught:
        await StaticToken("expired").renew("expired")
    assert caught.value.kind == ErrorKind.AUTH and caught.value.status == 401
    assert "the token given was refused" in str(caught.value)
