"""Between two clouds: owners and members become the target's projects, against two real Keystones.

Two work folders of the same Keystone install are two clouds: each has projects `alpha` and
`beta` (the same names, other ids), the old one `legacy` too, the new one `newcomer`. Each
catalog lists one Glance, a `replicator serve` (which takes any token, and lets the project
`DEFAULT_PROJECT` own what is created without an owner, as a Glance gives it the token's).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from replicator.server.config import DEFAULT_PROJECT
from tests.support import glance_client as gc
from tests.support.cli import assert_one_line_error, replicator
from tests.support.clouds import write_private
from tests.support.inprocess import InProcessServe
from tests.support.keystone_server import RealKeystone
from tests.support.report_file import image_lines

pytestmark = pytest.mark.realglance


class TwoClouds:
    """Two Keystones, each with a Glance in its catalog and projects of the same names."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.old = RealKeystone(folder / "old-keystone", token_seconds=3600)
        self.new = RealKeystone(folder / "new-keystone", token_seconds=3600)
        self.old_glance = InProcessServe(folder / "old-glance")
        self.new_glance = InProcessServe(folder / "new-glance")
        #: Project ids by name, on each side.
        self.source: dict[str, str] = {}
        self.target: dict[str, str] = {}

    def start(self) -> None:
        servers = (self.old, self.new, self.old_glance, self.new_glance)
        for server in servers:
            server.launch()
        for server in servers:
            server.wait_ready()
        self.old.add_image_endpoint(self.old_glance.url)
        self.new.add_image_endpoint(self.new_glance.url)
        for name in ("alpha", "beta", "legacy"):
            self.source[name] = self.old.add_project(name)
        for name in ("alpha", "beta", "newcomer"):
            self.target[name] = self.new.add_project(name)

    def stop(self) -> None:
        for server in (self.old, self.new, self.old_glance, self.new_glance):
            server.stop()

    def environment(self) -> dict[str, str]:
        """A clouds.yaml naming `old` and `new`, each with its admin, and nothing of the machine's OS_*."""
        document = {
            "clouds": {
                name: {"auth_type": "password", "auth": keystone.admin_auth(), "region_name": "RegionOne"}
                for name, keystone in (("old", self.old), ("new", self.new))
            }
        }
        clouds = write_private(self.folder / "clouds.yaml", yaml.safe_dump(document))
        secure = write_private(self.folder / "secure.yaml", yaml.safe_dump({"clouds": {}}))
        clean = {name: value for name, value in os.environ.items() if not name.startswith("OS_")}
        return {**clean, "OS_CLIENT_CONFIG_FILE": str(clouds), "OS_CLIENT_SECURE_FILE": str(secure)}

    def run(self, command: str, *args: str) -> subprocess.CompletedProcess[str]:
        """`command` from the old cloud to the new one, each side by its cloud."""
        return replicator(command, "--source-cloud", "old", "--target-cloud", "new", *args, env=self.environment())

    def seed(self, name: str, owner: str, members: tuple[str, ...] = ()) -> str:
        """An active image on the old cloud owned by `owner`, shared with `members`; its id."""
        image = gc.create_image(
            self.old_glance.url,
            name=name,
            owner=owner,
            visibility="shared" if members else "private",
            disk_format="raw",
            container_format="bare",
        )
        gc.upload(self.old_glance.url, image["id"], os.urandom(2048))
        for member in members:
            gc.add_member(self.old_glance.url, image["id"], member)
        return str(image["id"])

    def held(self, image_id: str) -> tuple[Any, list[str]]:
        """The new cloud's copy of an image: its owner and its members."""
        image = gc.get_image(self.new_glance.url, image_id)
        shared = image["visibility"] == "shared"
        members = sorted(m["member_id"] for m in gc.list_members(self.new_glance.url, image_id)) if shared else []
        return image["owner"], members


@pytest.fixture(scope="module")
def module_clouds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoClouds]:
    two = TwoClouds(tmp_path_factory.mktemp("clouds"))
    try:
        two.start()
        yield two
    finally:
        two.stop()


@pytest.fixture
def clouds(module_clouds: TwoClouds) -> TwoClouds:
    """Both Glances emptied: each test seeds what it copies."""
    gc.delete_all(module_clouds.old_glance.url)
    gc.delete_all(module_clouds.new_glance.url)
    return module_clouds


def reasons(report: Path) -> dict[str, str]:
    return {line["id"]: line["reason"] for line in image_lines(report)}


def test_owners_and_members_become_the_target_projects_of_the_same_name(clouds: TwoClouds, tmp_path: Path) -> None:
    source, target = clouds.source, clouds.target
    shared = clouds.seed("shared", source["alpha"], (source["beta"], source["legacy"]))
    private = clouds.seed("private", source["beta"])

    report = tmp_path / "report.jsonl"
    copied = clouds.run("livecopy", "--map-projects-by-name", "--report", str(report))
    assert copied.returncode == 0, copied.stderr
    assert clouds.held(shared) == (target["alpha"], [target["beta"]])
    assert clouds.held(private) == (target["beta"], [])
    legacy = source["legacy"]
    assert reasons(report)[shared].endswith(
        f"member project {legacy} has no counterpart on the target: not shared with it"
    )
    assert f"1 image names source projects with no counterpart on the target: {legacy}" in copied.stderr
    (line,) = [line for line in copied.stderr.splitlines() if line.startswith(f'create  {shared} "shared"')]
    assert line.endswith(f"member project {legacy} has no counterpart on the target: not shared with it)")

    # The finished migration compares identical, and a second run has nothing to do.
    compared = clouds.run("compare", "--map-projects-by-name")
    assert compared.returncode == 0, compared.stdout + compared.stderr
    assert "0 missing, 0 different, 2 identical" in compared.stdout
    again = clouds.run("livecopy", "--map-projects-by-name", "--report", str(report))
    assert again.returncode == 0, again.stderr
    assert {line["action"] for line in image_lines(report)} == {"skip"}
    # Without the mapping, every owner differs: the source's ids mean nothing on the target.
    assert clouds.run("compare").returncode == 1


def test_an_owner_without_counterpart_fails_its_image_unless_the_target_may_own_it(
    clouds: TwoClouds, tmp_path: Path
) -> None:
    legacy = clouds.source["legacy"]
    orphan = clouds.seed("orphan", legacy)
    reason = f"owner project {legacy} has no counterpart on the target"

    planned = clouds.run("livecopy", "--map-projects-by-name", "--dry-run")
    assert f'problem  {orphan} "orphan": {reason}\n' in planned.stdout
    assert f"1 image names source projects with no counterpart on the target: {legacy}\n" in planned.stdout

    failed = clouds.run("livecopy", "--map-projects-by-name")
    assert failed.returncode == 1, failed.stderr
    assert f'FAILED  {orphan} "orphan": {reason}' in failed.stderr
    assert f"1 image names source projects with no counterpart on the target: {legacy}" in failed.stderr
    assert gc.list_all(clouds.new_glance.url) == []  # failed before any request to the target

    report = tmp_path / "report.jsonl"
    copied = clouds.run("livecopy", "--map-projects-by-name", "--fallback-owner", "--report", str(report))
    assert copied.returncode == 0, copied.stderr
    assert clouds.held(orphan) == (DEFAULT_PROJECT, [])
    assert reasons(report)[orphan] == f"missing on target; owned by the target's project: {reason}"

    assert clouds.run("compare", "--map-projects-by-name", "--fallback-owner").returncode == 0
    compared = clouds.run("compare", "--map-projects-by-name")
    assert compared.returncode == 1
    assert f'problem   {orphan} "orphan": {reason}' in compared.stdout


def test_a_table_maps_by_id_or_by_name_before_names_do(clouds: TwoClouds, tmp_path: Path) -> None:
    """Written by the source's id or name, to the target's name or id; the table wins over the
    names, which map the rest."""
    source, target = clouds.source, clouds.target
    table = tmp_path / "projects.yaml"
    table.write_text(yaml.safe_dump({source["alpha"]: "beta", "beta": target["alpha"], "legacy": "newcomer"}))
    swapped = clouds.seed("swapped", source["alpha"], (source["beta"],))
    other = clouds.seed("other", source["beta"], (source["legacy"],))
    renamed = clouds.seed("renamed", source["legacy"])

    copied = clouds.run("livecopy", "--map-projects", str(table))
    assert copied.returncode == 0, copied.stderr
    assert clouds.held(swapped) == (target["beta"], [target["alpha"]])
    assert clouds.held(other) == (target["alpha"], [target["newcomer"]])
    assert clouds.held(renamed) == (target["newcomer"], [])
    assert clouds.run("compare", "--map-projects", str(table)).returncode == 0
    assert clouds.run("compare", "--map-projects", str(table), "--map-projects-by-name").returncode == 0


def test_a_table_naming_what_the_target_lacks_stops_the_run_before_it_starts(clouds: TwoClouds, tmp_path: Path) -> None:
    table = tmp_path / "projects.yaml"
    table.write_text(yaml.safe_dump({clouds.source["alpha"]: "alpah", "beta": "beta"}))
    clouds.seed("kept", clouds.source["alpha"])
    result = clouds.run("livecopy", "--map-projects", str(table))
    assert_one_line_error(result, f"--map-projects {table}: 'alpah' is no project of the target")
    assert gc.list_all(clouds.new_glance.url) == []


def test_load_maps_a_dump_by_its_table(clouds: TwoClouds, tmp_path: Path) -> None:
    """A dump keeps the source's ids; loading it into the other cloud maps them."""
    source, target = clouds.source, clouds.target
    image = clouds.seed("dumped", source["alpha"], (source["beta"],))
    env = clouds.environment()
    dumped = replicator("dump", "-", str(tmp_path / "dump"), "--os-cloud", "old", env=env)
    assert dumped.returncode == 0, dumped.stderr
    table = tmp_path / "projects.json"
    table.write_text(f'{{"{source["alpha"]}": "alpha", "{source["beta"]}": "{target["beta"]}"}}')
    args = ("load", "-", str(tmp_path / "dump"), "--os-cloud", "new", "--map-projects", str(table))
    loaded = replicator(*args, env=env)
    assert loaded.returncode == 0, loaded.stderr
    assert clouds.held(image) == (target["alpha"], [target["beta"]])
    again = replicator(*args, "--dry-run", env=env)
    assert "plan: 0 of 1 images need work" in again.stdout, again.stdout


def test_mapping_by_name_needs_a_keystone_on_each_side(clouds: TwoClouds) -> None:
    result = replicator(
        "livecopy", clouds.old_glance.url, clouds.new_glance.url, "--token", "t", "--map-projects-by-name"
    )
    assert_one_line_error(result, "mapping projects by name needs both sides' Keystones")


def test_by_name_a_project_maps_only_into_the_domain_of_the_same_name(clouds: TwoClouds) -> None:
    """Issue 20: acme's `prod` on the source, only globex's `prod` on the target: acme's private
    image is not given to globex, it fails; once the target has acme's `prod`, it goes there.
    Project names `.` and `..` are names like any other (looked up as names, never as ids)."""
    acme = clouds.old.add_domain(f"acme-{os.urandom(3).hex()}")
    prod = clouds.old.add_project("prod", acme)
    clouds.new.add_project("prod", clouds.new.add_domain(f"globex-{os.urandom(3).hex()}"))
    dots = clouds.old.add_project("..")
    secret, dotted = clouds.seed("secret", prod), clouds.seed("dotted", dots)
    failed = clouds.run("livecopy", "--map-projects-by-name", "--id", secret)
    assert failed.returncode == 1, failed.stderr
    assert f"owner project {prod} has no counterpart on the target" in failed.stderr
    assert gc.list_all(clouds.new_glance.url) == []

    acme_name = clouds.old.admin_session().get(f"{clouds.old.auth_url}/domains/{acme}").json()["domain"]["name"]
    theirs = clouds.new.add_project("prod", clouds.new.add_domain(acme_name))
    target_dots = clouds.new.add_project("..")
    copied = clouds.run("livecopy", "--map-projects-by-name")
    assert copied.returncode == 0, copied.stderr
    assert clouds.held(secret) == (theirs, [])
    assert clouds.held(dotted) == (target_dots, [])
