"""Projects mapped between two clouds, as plain data: the record mapped, the counterpart chosen,
the table read, each project looked up once, and what the plan makes of what has no counterpart.
The same against two real Keystones: `test_between_clouds.py`."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path

import pytest

from replicator.cli.views.console import compare_json, compare_text, summary
from replicator.engine.actions import Outcome
from replicator.engine.events import ImageResult
from replicator.engine.plan import creation_attributes, decide
from replicator.engine.run import Comparison, Walked
from replicator.model.changes import MISSING, MemberChange
from replicator.model.errors import ErrorKind, RunError
from replicator.model.records import ImageRecord
from replicator.model.settings import Settings
from replicator.model.token_source import StaticToken
from replicator.openstack.identity import Project
from replicator.openstack.projects import (
    ProjectMapper,
    ProjectMapping,
    counterpart,
    map_record,
    open_mapper,
    projects_of,
    read_table,
)
from tests.support.cli import assert_one_line_error, replicator


def image(owner: str | None = "s-alpha", members: tuple[tuple[str, str], ...] | None = ()) -> ImageRecord:
    attributes = {"name": "img", "disk_format": "raw", "container_format": "bare", "visibility": "shared"}
    if owner is not None:
        attributes["owner"] = owner
    return ImageRecord(
        id=str(uuid.uuid4()), status="active", attributes=attributes, size=10, checksum="aa", members=members
    )


# The record mapped.


def test_owner_and_members_become_the_target_projects():
    source = image("s-alpha", (("s-beta", "accepted"), ("s-gamma", "pending")))
    mapped = map_record(source, {"s-alpha": "t-alpha", "s-beta": "t-beta", "s-gamma": "t-gamma"})
    assert mapped.attributes["owner"] == "t-alpha"
    assert mapped.members == (("t-beta", "accepted"), ("t-gamma", "pending"))
    assert mapped.unmapped_projects == ()
    assert source.attributes["owner"] == "s-alpha"  # the source record itself is left alone


def test_what_has_no_counterpart_is_named_never_copied_as_a_foreign_id():
    source = image("s-legacy", (("s-beta", "accepted"), ("s-gone", "pending")))
    mapped = map_record(source, {"s-beta": "t-beta", "s-legacy": None})
    assert "owner" not in mapped.attributes
    assert mapped.members == (("t-beta", "accepted"),)
    assert (mapped.unmapped_owner, mapped.unmapped_members) == ("s-legacy", ("s-gone",))
    assert mapped.unmapped_projects == ("s-legacy", "s-gone")


def test_what_is_neither_copied_nor_compared_is_not_mapped():
    source = image("s-alpha", (("s-beta", "accepted"),))
    mapped = map_record(source, {}, owner=False, members=False)
    assert mapped.attributes["owner"] == "s-alpha" and mapped.members == (("s-beta", "accepted"),)
    assert mapped.unmapped_projects == ()
    assert projects_of(source, owner=False, members=False) == []
    assert projects_of(source) == ["s-alpha", "s-beta"]


def test_unknown_members_stay_unknown_and_an_image_without_owner_has_none_to_map():
    mapped = map_record(image(None, None), {})
    assert mapped.members is None and "owner" not in mapped.attributes and mapped.unmapped_projects == ()


def test_two_source_members_with_one_counterpart_share_once():
    mapped = map_record(image("s", (("s-a", "accepted"), ("s-b", "pending"))), {"s": "t", "s-a": "t-x", "s-b": "t-x"})
    assert mapped.members == (("t-x", "accepted"),)


# The counterpart chosen among what a Keystone found.


ALPHA = Project("id-alpha", "alpha", "default")


def test_an_id_wins_then_a_single_name():
    assert counterpart([ALPHA], "id-alpha") == ALPHA
    assert counterpart([ALPHA], "alpha") == ALPHA
    assert counterpart([], "alpha") is None
    assert counterpart([ALPHA], "beta") is None  # a Keystone's answer for another name


def test_a_name_held_in_several_domains_is_taken_only_in_the_domain_of_the_same_id():
    other = Project("id-alpha-2", "alpha", "d2")
    assert counterpart([ALPHA, other], "alpha") is None
    assert counterpart([ALPHA, other], "alpha", "d2") == other
    assert counterpart([ALPHA, other], "alpha", "d3") is None


# The table read from its file.


@pytest.mark.parametrize(
    ("name", "text"),
    [("projects.yaml", "s-alpha: alpha\nbeta: t-beta\n"), ("projects.json", '{"s-alpha": "alpha", "beta": "t-beta"}')],
)
def test_a_table_is_yaml_or_json(tmp_path: Path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    assert read_table(path) == {"s-alpha": "alpha", "beta": "t-beta"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("- alpha\n- beta\n", "must map source projects to target projects"),
        ("alpha: 12345\n", "12345 (int) is not a project id or name"),
        ("alpha: ''\n", "'' is not a project id or name"),
        ("alpha: [beta]\n", "is not a project id or name"),
        ('"al\\x1bpha": beta\n', "is not a project id or name"),
        ("alpha: [beta\n", "is not valid YAML"),
    ],
)
def test_a_table_of_the_wrong_shape_is_refused_naming_the_file(tmp_path: Path, text: str, fragment: str):
    path = tmp_path / "projects.yaml"
    path.write_text(text)
    with pytest.raises(RunError) as raised:
        read_table(path)
    assert str(path) in str(raised.value) and fragment in str(raised.value)
    assert raised.value.kind is ErrorKind.INPUT


@pytest.mark.server
def test_a_bad_table_stops_the_command_before_anything_is_contacted(tmp_path: Path):
    path = tmp_path / "projects.yaml"
    path.write_text("- alpha\n")
    result = replicator("livecopy", "127.0.0.1:1", "127.0.0.1:2", "--map-projects", str(path))
    assert_one_line_error(result, f"--map-projects: {path} must map source projects to target projects")
    missing = replicator("compare", "127.0.0.1:1", "127.0.0.1:2", "--map-projects", str(tmp_path / "none.yaml"))
    assert_one_line_error(missing, "--map-projects: cannot read", "No such file or directory")


def test_mapping_by_name_without_a_keystone_is_refused():
    async def refused() -> None:
        await open_mapper(ProjectMapping(by_name=True), StaticToken("a"), StaticToken("b"), Settings())

    with pytest.raises(RunError, match="mapping projects by name needs both sides' Keystones"):
        asyncio.run(refused())


# The lookups: each source project once per run, whatever the number of its images.


class Keystone:
    """A Keystone's projects, answering as `KeystoneAuth.projects` does, counting questions."""

    def __init__(self, *projects: Project) -> None:
        self.projects = projects
        self.asked: Counter[str] = Counter()
        self.asked_by_name: set[str] = set()

    async def __call__(self, name_or_id: str, *, by_name: bool = False) -> list[Project]:
        self.asked[name_or_id] += 1
        if by_name:
            self.asked_by_name.add(name_or_id)
        await asyncio.sleep(0)  # others may ask meanwhile
        by_id = [] if by_name else [project for project in self.projects if project.id == name_or_id]
        return by_id or [project for project in self.projects if project.name == name_or_id]


SOURCE = Keystone(Project("s-alpha", "alpha", "default"), Project("s-beta", "beta", "default"))
TARGET = Keystone(Project("t-alpha", "alpha", "default"), Project("t-beta", "beta", "default"))


def fresh() -> tuple[Keystone, Keystone]:
    return Keystone(*SOURCE.projects), Keystone(*TARGET.projects)


def test_by_name_each_source_project_is_looked_up_once():
    source, target = fresh()
    mapper = ProjectMapper(ProjectMapping(by_name=True), source=source, target=target)
    images = [image("s-alpha", (("s-beta", "accepted"),)) for _ in range(20)]
    assert mapper.known(images[0]) is None

    async def map_all() -> list[ImageRecord]:
        return await asyncio.gather(*(mapper.mapped(record) for record in images))

    mapped = asyncio.run(map_all())
    assert {(record.attributes["owner"], record.members) for record in mapped} == {
        ("t-alpha", (("t-beta", "accepted"),))
    }
    assert source.asked == {"s-alpha": 1, "s-beta": 1}
    assert target.asked == {"alpha": 1, "beta": 1}
    assert mapper.known(images[0]) == mapped[0]  # from then on, without asking


def test_the_table_wins_by_id_then_by_the_source_name_and_names_map_the_rest():
    source, target = fresh()
    table = {"s-alpha": "beta", "beta": "t-alpha"}
    mapper = ProjectMapper(ProjectMapping(table, by_name=True), source=source, target=target)
    mapped = asyncio.run(mapper.mapped(image("s-alpha", (("s-beta", "accepted"),))))
    assert (mapped.attributes["owner"], mapped.members) == ("t-beta", (("t-alpha", "accepted"),))
    assert "s-alpha" not in source.asked  # found in the table by its id


def test_without_by_name_only_the_table_maps():
    source, target = fresh()
    mapper = ProjectMapper(ProjectMapping({"alpha": "alpha"}), source=source, target=target)
    mapped = asyncio.run(mapper.mapped(image("s-alpha", (("s-beta", "accepted"),))))
    assert mapped.attributes["owner"] == "t-alpha"
    assert mapped.members == () and mapped.unmapped_members == ("s-beta",)


def test_without_a_target_keystone_the_table_values_are_the_target_ids():
    mapper = ProjectMapper(ProjectMapping({"s-alpha": "t-written"}), source=None, target=None)
    mapped = asyncio.run(mapper.mapped(image("s-alpha", (("s-beta", "accepted"),))))
    assert mapped.attributes["owner"] == "t-written" and mapped.unmapped_members == ("s-beta",)


def test_what_cannot_be_a_project_id_is_never_sent_to_a_keystone():
    """An image's owner is written by whoever made the image: a megabyte of text, or a path."""
    source, target = fresh()
    mapper = ProjectMapper(ProjectMapping(by_name=True), source=source, target=target)
    for hostile in ("x" * 1_000_000, "../../v3/users", "alpha\r\nX-Injected: 1"):
        mapped = asyncio.run(mapper.mapped(image(hostile)))
        assert mapped.unmapped_owner == hostile
    assert not source.asked and not target.asked


# What the plan makes of what has no counterpart.


def test_an_owner_without_counterpart_fails_the_image_before_any_request():
    mapped = map_record(image("s-legacy"), {})
    action = decide(mapped, None, Settings())
    assert action.problem and not action.create
    assert action.reason == "owner project s-legacy has no counterpart on the target"


def test_with_the_owner_fallback_the_target_project_owns_the_copy_and_the_reason_says_why():
    mapped = map_record(image("s-legacy"), {})
    settings = Settings(fallback_owner=True)
    action = decide(mapped, None, settings)
    assert action.create and "owner" not in creation_attributes(mapped, settings)
    assert action.reason == (
        "missing on target; owned by the target's project: owner project s-legacy has no counterpart on the target"
    )
    held = ImageRecord(mapped.id, "active", {**mapped.attributes, "owner": "t-service"}, 10, "aa", members=())
    again = decide(mapped, held, settings)
    assert again.identical and not again.has_work
    assert again.reason == (
        "identical; kept the target's owner: owner project s-legacy has no counterpart on the target"
    )


def test_members_without_counterpart_are_left_out_with_a_note_and_do_not_make_a_difference():
    mapped = map_record(
        image("s", (("s-a", "accepted"), ("s-x", "pending"), ("s-y", "pending"))), {"s": "t", "s-a": "t-a"}
    )
    action = decide(mapped, None, Settings())
    assert action.member_changes == (MemberChange("t-a", MISSING, "accepted"),)
    assert action.reason.endswith("member projects s-x, s-y have no counterpart on the target: not shared with them")
    held = ImageRecord(mapped.id, "active", dict(mapped.attributes), 10, "aa", members=(("t-a", "accepted"),))
    assert decide(mapped, held, Settings()).identical


# What the operator reads: the summary and compare name the projects without counterpart.


def test_the_summary_and_compare_name_the_projects_without_counterpart():
    mapped = map_record(image("s-legacy", (("s-gone", "pending"),)), {})
    action = decide(mapped, None, Settings())
    result = ImageResult(
        mapped.id,
        "img",
        action.kind,
        Outcome.FAILED,
        0,
        0.0,
        error=action.reason,
        unmapped_projects=mapped.unmapped_projects,
    )
    line = "1 image names source projects with no counterpart on the target: s-gone, s-legacy"
    assert line in summary([result], 1.0)
    comparison = Comparison([action], Counter([action.category]), Walked(listed=1))
    comparison.unmapped.add(mapped.unmapped_projects)
    assert line in compare_text(comparison)
    assert '"projects_without_counterpart": [\n      "s-gone",\n      "s-legacy"\n    ]' in compare_json(comparison)


def test_by_name_only_the_project_in_the_domain_of_the_same_name_is_taken():
    """Issue 20: acme's `prod` never becomes globex's `prod`; a name is never asked for as an id."""
    source = Keystone(Project("s-prod", "prod", "d-acme-1", "acme"), Project("s-dot", "..", "default", "Default"))
    target = Keystone(
        Project("t-prod", "prod", "d-globex", "globex"),
        Project("prod", "other", "default", "Default"),  # a project whose id is the name
        Project("t-dot", "..", "default", "Default"),
    )
    mapper = ProjectMapper(ProjectMapping(by_name=True), source=source, target=target)
    mapped = asyncio.run(mapper.mapped(image("s-prod")))
    assert "owner" not in mapped.attributes and mapped.unmapped_owner == "s-prod"
    assert target.asked_by_name == {"prod"}
    target.projects += (Project("t-prod-2", "prod", "d-acme-2", "acme"),)  # acme on the target too
    again = ProjectMapper(ProjectMapping(by_name=True), source=source, target=target)
    assert asyncio.run(again.mapped(image("s-prod"))).attributes["owner"] == "t-prod-2"
    assert asyncio.run(again.mapped(image("s-dot"))).attributes["owner"] == "t-dot"
