"""Region to region with the credentials operators hold, against a real Keystone with two regions.

Keystone lists an image endpoint in RegionOne and one in RegionTwo, each a `replicator serve`
(which takes any token). The same three kinds of credentials an operator has (an openrc with an
application credential, a dashboard's clouds.yaml with `region_name`, one with `regions: [...]`)
each copy RegionOne -> RegionTwo: a cloud's own region is its default, never a limit. Its access
log shows how often each run authenticated.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from replicator.openstack.auth import KeystoneAuth
from replicator.openstack.cloud import CloudChoice
from tests.support import glance_client as gc
from tests.support.cli import assert_one_line_error, replicator
from tests.support.clouds import write_private
from tests.support.inprocess import InProcessServe
from tests.support.keystone_server import RealKeystone

pytestmark = pytest.mark.realglance


class TwoRegions:
    """A real Keystone whose catalog has one Glance (a `replicator serve`) per region."""

    def __init__(self, folder: Path) -> None:
        self.keystone = RealKeystone(folder / "keystone", token_seconds=3600)
        self.one = InProcessServe(folder / "region-one")
        self.two = InProcessServe(folder / "region-two")

    def start(self) -> None:
        for server in (self.keystone, self.one, self.two):
            server.launch()
        for server in (self.keystone, self.one, self.two):
            server.wait_ready()
        self.keystone.add_region("RegionTwo")
        self.keystone.add_image_endpoint(self.one.url, "RegionOne")
        self.keystone.add_image_endpoint(self.two.url, "RegionTwo")

    def stop(self) -> None:
        for server in (self.keystone, self.one, self.two):
            server.stop()

    def environment(self, **variables: str) -> dict[str, str]:
        """Our environment without any OS_* variable of the machine's, plus `variables`."""
        clean = {name: value for name, value in os.environ.items() if not name.startswith("OS_")}
        return {**clean, **variables}

    def clouds_yaml(self, folder: Path, **cloud: object) -> dict[str, str]:
        """A dashboard-style clouds.yaml (private, with its password) naming the cloud `prod`;
        the environment that points at it."""
        document = {
            "clouds": {
                "prod": {
                    "auth_type": "password",
                    "auth": self.keystone.admin_auth(),
                    "identity_api_version": 3,
                    "interface": "public",
                    **cloud,
                }
            }
        }
        clouds = write_private(folder / "clouds.yaml", yaml.safe_dump(document))
        secure = write_private(folder / "secure.yaml", yaml.safe_dump({"clouds": {}}))
        return self.environment(OS_CLIENT_CONFIG_FILE=str(clouds), OS_CLIENT_SECURE_FILE=str(secure))


@pytest.fixture(scope="module")
def regions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoRegions]:
    cloud = TwoRegions(tmp_path_factory.mktemp("regions"))
    try:
        cloud.start()
        yield cloud
    finally:
        cloud.stop()


def assert_copied_one_to_two(regions: TwoRegions, result: subprocess.CompletedProcess[str], new: set[str]) -> None:
    """The run succeeded without a word of warning, and RegionTwo holds all of RegionOne."""
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr, result.stderr
    source = {image["id"] for image in gc.list_all(regions.one.url)}
    target = {image["id"]: image for image in gc.list_all(regions.two.url)}
    assert new <= source and set(target) == source
    assert all(target[image_id]["status"] == "active" for image_id in new)


def test_openrc_with_an_application_credential(regions: TwoRegions) -> None:
    credential = regions.keystone.application_credential("openrc")
    env = regions.environment(
        OS_AUTH_TYPE="v3applicationcredential",
        OS_AUTH_URL=regions.keystone.auth_url,
        OS_IDENTITY_API_VERSION="3",
        OS_REGION_NAME="RegionOne",
        OS_INTERFACE="public",
        OS_APPLICATION_CREDENTIAL_ID=credential["id"],
        OS_APPLICATION_CREDENTIAL_SECRET=credential["secret"],
    )
    new = set(gc.seed_raw_images(regions.one.url, [3000, 5000]))
    before = regions.keystone.authentications()
    result = replicator("livecopy", "-", "-", "--source-region", "RegionOne", "--target-region", "RegionTwo", env=env)
    assert_copied_one_to_two(regions, result, new)
    assert regions.keystone.authentications() - before == 2  # once per side


#: The two ways to name the regions of one cloud: a cloud per side, or one cloud for both.
ONE_CLOUD_TWO_REGIONS = (
    ("--source-cloud", "prod", "--target-cloud", "prod", "--target-region", "RegionTwo"),
    ("--os-cloud", "prod", "--source-region", "RegionOne", "--target-region", "RegionTwo"),
)


def assert_each_form_copies_one_to_two(regions: TwoRegions, env: dict[str, str], size: int) -> None:
    for form in ONE_CLOUD_TWO_REGIONS:
        new = set(gc.seed_raw_images(regions.one.url, [size]))
        assert_copied_one_to_two(regions, replicator("livecopy", "-", "-", *form, env=env), new)


def test_dashboard_clouds_yaml_whose_region_name_is_a_default(regions: TwoRegions, tmp_path: Path) -> None:
    assert_each_form_copies_one_to_two(regions, regions.clouds_yaml(tmp_path, region_name="RegionOne"), 1000)


def test_clouds_yaml_with_a_list_of_regions(regions: TwoRegions, tmp_path: Path) -> None:
    assert_each_form_copies_one_to_two(regions, regions.clouds_yaml(tmp_path, regions=["RegionOne"]), 4000)


def test_the_environment_region_is_a_default_too(regions: TwoRegions, tmp_path: Path) -> None:
    """OS_REGION_NAME picks a region the cloud's clouds.yaml does not list."""
    env = {**regions.clouds_yaml(tmp_path, region_name="RegionOne"), "OS_REGION_NAME": "RegionTwo"}
    counted = replicator("size", "--os-cloud", "prod", env=env)
    assert counted.returncode == 0, counted.stderr
    assert f"across {len(gc.list_all(regions.two.url))} images" in counted.stdout


def test_a_region_without_an_image_endpoint_names_those_with_one(regions: TwoRegions) -> None:
    env = regions.environment(
        OS_AUTH_URL=regions.keystone.auth_url,
        OS_IDENTITY_API_VERSION="3",
        OS_REGION_NAME="RegionOne",
        **{f"OS_{key.upper()}": value for key, value in regions.keystone.admin_auth().items() if key != "auth_url"},
    )
    result = replicator("size", "-", "--os-region-name", "RegionThree", env=env)
    assert_one_line_error(
        result,
        "the cloud in the OS_* variables: region 'RegionThree' not found for the image "
        "service (the catalog has it in: RegionOne, RegionTwo)",
    )
    assert "None" not in result.stderr


def test_one_authentication_per_side(regions: TwoRegions, tmp_path: Path) -> None:
    env = regions.clouds_yaml(tmp_path, region_name="RegionOne")
    gc.seed_raw_images(regions.one.url, [100] * 16)
    before = regions.keystone.authentications()
    assert replicator("size", "--os-cloud", "prod", env=env).returncode == 0
    assert regions.keystone.authentications() - before == 1
    before = regions.keystone.authentications()
    result = replicator("livecopy", "--os-cloud", "prod", "--target-region", "RegionTwo", "--metaonly", env=env)
    assert result.returncode == 0, result.stderr
    assert regions.keystone.authentications() - before == 2


async def test_what_later_steps_ask_of_keystone(
    regions: TwoRegions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two regions of one Keystone know each other's image endpoints; projects are found by name
    or id, each asked for once."""
    for name, value in regions.clouds_yaml(tmp_path, region_name="RegionOne").items():
        if name.startswith("OS_"):
            monkeypatch.setenv(name, value)
    project = regions.keystone.add_project("alpha")
    source = KeystoneAuth(CloudChoice("prod"), side="source")
    target = KeystoneAuth(CloudChoice("prod", region="RegionTwo"), side="target")
    assert await source.endpoint() == regions.one.url and source.region == "RegionOne"
    assert await target.endpoint() == regions.two.url and target.region == "RegionTwo"
    assert source.same_keystone(target)
    assert await target.image_endpoints() == {"RegionOne": regions.one.url, "RegionTwo": regions.two.url}

    before = regions.keystone.access_log.read_text().count("/v3/projects")
    assert [found.id for found in await target.projects("alpha")] == [project]
    assert [found.name for found in await target.projects(project)] == ["alpha"]
    assert await target.projects("no-such-project") == []
    asked = regions.keystone.access_log.read_text().count("/v3/projects") - before
    assert await target.projects("alpha") == await target.projects("alpha")
    assert regions.keystone.access_log.read_text().count("/v3/projects") - before == asked
