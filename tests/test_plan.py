"""The engine's decisions, as plain data: no server, no disk."""

from __future__ import annotations

import uuid
from dataclasses import replace

from replicator.engine.plan import STAGED, attribute_changes, plan, totals
from replicator.model.changes import MISSING, AttributeChange
from replicator.model.records import ImageRecord
from replicator.model.settings import Settings


def image(status: str = "active", size: int | None = 10, checksum: str | None = "aa", **attributes) -> ImageRecord:
    attrs = {"name": "img", "disk_format": "raw", "container_format": "bare", "tags": [], **attributes}
    return ImageRecord(id=str(uuid.uuid4()), status=status, attributes=attrs, size=size, checksum=checksum)


def copy_of(record: ImageRecord, status: str | None = None, **changed) -> ImageRecord:
    attrs = {**record.attributes, **changed}
    return ImageRecord(
        id=record.id, status=status or record.status, attributes=attrs, size=record.size, checksum=record.checksum
    )


def test_missing_active_image_is_created_and_uploaded():
    source = image()
    (action,) = plan([source], [], Settings())
    assert (action.kind, action.create, action.upload) == ("create", True, True)
    assert totals([action]) == (1, 10)


def test_metaonly_creates_without_data():
    (action,) = plan([image()], [], Settings(metaonly=True))
    assert action.create and not action.upload
    assert totals([action]) == (1, 0)


def test_queued_source_is_created_without_data():
    (action,) = plan([image(status="queued", size=None, checksum=None)], [], Settings())
    assert action.create and not action.upload
    assert "metadata only" in action.reason


def test_identical_image_is_skipped():
    source = image(foo="bar")
    (action,) = plan([source], [copy_of(source)], Settings())
    assert action.kind == "skip" and action.reason == "identical" and not action.has_work


def test_tag_order_does_not_count_as_a_difference():
    source = image(tags=["a", "b"])
    (action,) = plan([source], [copy_of(source, tags=["b", "a"])], Settings())
    assert not action.changes


def test_renamed_property_added_and_removed_become_changes():
    source = image(name="new", added="1")
    target = copy_of(source, name="old", stale="x")
    del target.attributes["added"]  # type: ignore[attr-defined]
    (action,) = plan([source], [target], Settings())
    assert action.kind == "update"
    assert set(action.changes) == {
        AttributeChange("name", "old", "new"),
        AttributeChange("added", MISSING, "1"),
        AttributeChange("stale", "x", MISSING),
    }


def test_base_attributes_are_never_removed():
    assert attribute_changes({"name": "a"}, {"name": "a", "min_ram": 0, "custom": "x"}) == [
        AttributeChange("custom", "x", MISSING)
    ]


def test_dontreplicate_fields_are_ignored_both_ways():
    source = image(owner="p1", extra="1")
    target = copy_of(source, owner="p2", extra="2")
    (action,) = plan([source], [target], Settings(dont_replicate=frozenset({"owner", "extra"})))
    assert action.kind == "skip"


def test_queued_target_gets_the_data():
    source = image(owner="p-1")  # the copy's owner is the one a copy is given: ours (issue 20)
    (action,) = plan([source], [copy_of(source, status="queued")], Settings())
    assert (action.kind, action.upload, action.create) == ("upload", True, False)


def test_a_queued_target_image_not_ours_gets_neither_data_nor_metadata():
    """Issue 20: a target tenant creates an empty image under the source's id first; only an
    image owned by the owner a copy is given, or carrying this mirror's mark, is written into."""
    source = image(owner="p-1", name="secret")
    squatted = copy_of(source, status="queued", owner="p-tenant", name="mine")
    marked = Settings(mark_property="replicated_by", mark_value="replicator from Glance at http://a")
    for settings in (Settings(), Settings(dont_replicate=frozenset({"owner"})), marked):
        (action,) = plan([source], [squatted], settings)
        assert action.kind == "problem" and not action.upload and not action.changes
        assert "owned by p-tenant" in action.reason and "not ours" in action.reason
    # Without an owner to give (-D owner), only this mirror's mark makes it ours.
    (action,) = plan([source], [copy_of(squatted, replicated_by=marked.mark_value)], marked)
    assert (action.kind, action.upload) == ("upload", True)
    no_owner = Settings(dont_replicate=frozenset({"owner"}), mark_property="replicated_by", mark_value="x")
    (action,) = plan([source], [copy_of(squatted, replicated_by="replicator from elsewhere")], no_owner)
    assert action.kind == "problem"


def test_target_with_other_data_is_a_problem_never_overwritten():
    source = image()
    target = ImageRecord(id=source.id, status="active", attributes=source.attributes, size=10, checksum="bb")
    (action,) = plan([source], [target], Settings())
    assert action.problem and not action.upload and "different data" in action.reason


def test_target_stuck_in_saving_is_a_problem():
    source = image()
    (action,) = plan([source], [copy_of(source, status="saving")], Settings())
    assert action.problem and "saving" in action.reason


def staged(record: ImageRecord, size: int | None, **changed) -> ImageRecord:
    """`record`'s copy left `uploading` with `size` bytes staged (no data of its own yet)."""
    attrs = {**record.attributes, **changed}
    return ImageRecord(id=record.id, status="uploading", attributes=attrs, size=size, checksum=None)


def test_a_copy_left_uploading_with_all_its_data_staged_is_imported():
    source = image(owner="p1")
    (action,) = plan([source], [staged(source, 10)], Settings())
    assert (action.kind, action.upload, action.problem) == ("upload", True, False)
    assert action.reason == STAGED


def test_an_upload_under_way_or_another_owner_s_staged_data_is_left_alone():
    source = image(owner="p1")
    for target in (staged(source, None), staged(source, 9), staged(source, 10, owner="p2")):
        (action,) = plan([source], [target], Settings())
        assert action.problem and not action.upload and "uploading" in action.reason, target


def test_between_clouds_an_owner_without_counterpart_fills_no_squatted_image():
    """Issue 20, between two clouds: the source's owner has no counterpart on the target and
    `--fallback-owner` lets the target's project own the copy, so no owner is given to it:
    a target tenant's queued image under the id is ours only with this mirror's mark."""
    source = replace(image(name="secret"), unmapped_owner="acme-prod")  # owner mapped away
    squatted = copy_of(source, status="queued", owner="p-tenant")
    marked = Settings(fallback_owner=True, mark_property="replicated_by", mark_value="replicator from Glance at a")
    for settings in (Settings(fallback_owner=True), marked):
        (action,) = plan([source], [squatted], settings)
        assert action.kind == "problem" and not action.upload and "not ours" in action.reason
    (action,) = plan([source], [copy_of(squatted, replicated_by=marked.mark_value)], marked)
    assert (action.kind, action.upload) == ("upload", True)


def test_staged_data_under_our_id_is_imported_only_into_an_image_that_is_ours():
    """Issue 20 on the path that finishes a staged copy: a source image without an owner (a
    Glance without Keystone) gives its copies none, so an unowned image left `uploading` with
    the right size staged is ours only with this mirror's mark: a tenant may have staged it."""
    source = image(name="secret")
    (action,) = plan([source], [staged(source, 10)], Settings())
    assert action.kind == "problem" and not action.upload and "not ours" in action.reason
    marked = Settings(mark_property="replicated_by", mark_value="replicator from Glance at http://a")
    (action,) = plan([source], [staged(source, 10, replicated_by=marked.mark_value)], marked)
    assert (action.kind, action.reason) == ("upload", STAGED)


def test_source_in_transient_state_is_skipped_with_reason():
    (action,) = plan([image(status="importing")], [], Settings())
    assert not action.has_work and "rerun later" in action.reason


def test_hashes_under_different_algorithms_are_not_compared():
    source = ImageRecord(
        id=str(uuid.uuid4()), status="active", attributes={}, size=3, checksum="c", hash_algo="sha512", hash_value="x"
    )
    target = ImageRecord(
        id=source.id, status="active", attributes={}, size=3, checksum="c", hash_algo="sha256", hash_value="y"
    )
    (action,) = plan([source], [target], Settings())
    assert not action.problem


def test_plan_follows_source_order_and_ignores_target_only_images():
    first, second = image(), image()
    actions = plan([first, second], [image()], Settings())
    assert [a.image.id for a in actions] == [first.id, second.id]


def converted(record: ImageRecord, virtual_size: int | None, **changed) -> ImageRecord:
    """`record`'s copy as a target that converts on import holds it: raw, other size and md5."""
    attrs = {**record.attributes, "disk_format": "raw", **changed}
    raw = {"virtual_size": virtual_size} if virtual_size is not None else {}
    return ImageRecord(id=record.id, status="active", attributes=attrs, size=99, checksum="cc", raw=raw)


def test_a_copy_the_target_converted_is_compared_by_metadata_and_virtual_size():
    source = ImageRecord(
        id=str(uuid.uuid4()),
        status="active",
        attributes={"name": "img", "disk_format": "qcow2", "container_format": "bare"},
        size=10,
        checksum="aa",
        raw={"virtual_size": 64},
    )
    for virtual_size in (64, None):  # equal, or unknown on one side
        (action,) = plan([source], [converted(source, virtual_size)], Settings())
        assert action.identical and not action.problem and not action.changes
        assert "converted by the target (qcow2 -> raw)" in action.reason
    (action,) = plan([source], [converted(source, 64, name="new")], Settings())
    assert [change.key for change in action.changes] == ["name"]  # never disk_format
    (action,) = plan([source], [converted(source, 32)], Settings())
    assert action.problem and "different data" in action.reason


def test_identical_pairs_take_the_quick_path_and_keep_every_guard():
    """Equal records are `identical`; equal records with a name a server could misread, or
    members that differ, or different data, are not (the quick path must not hide them)."""
    plain = image(os_distro="debian")
    (action,) = plan([plain], [copy_of(plain)], Settings())
    assert (action.kind, action.identical, action.reason) == ("skip", True, "identical")
    for name in ("visibility ", "a\x1bb"):
        odd = copy_of(image(), **{name: "x"})
        for _ in range(2):  # the second time, with the plain names of the first remembered
            (action,) = plan([odd], [copy_of(odd)], Settings())
            assert action.problem and "refused" in action.reason, action
    shared = ImageRecord(plain.id, "active", plain.attributes, 10, "aa", members=(("p1", "accepted"),))
    (action,) = plan([shared], [ImageRecord(plain.id, "active", plain.attributes, 10, "aa", members=())], Settings())
    assert not action.identical and action.member_changes
    (action,) = plan([plain], [ImageRecord(plain.id, "active", plain.attributes, 11, "aa")], Settings())
    assert action.problem and "different data" in action.reason
    (action,) = plan([plain], [copy_of(plain, status="deactivated")], Settings())
    assert action.kind == "update" and action.set_status == "active"


def test_properties_named_as_the_targets_are_kept_only_where_the_source_lacks_them() -> None:
    source = image(color="blue")
    target = copy_of(source, site="edge-1", stale="x")
    (action,) = plan([source], [target], Settings(target_injects=frozenset({"site", "color"})))
    assert action.target_added == ("site",)
    assert [(c.key, c.new) for c in action.changes] == [("stale", MISSING)]
    assert "target-added property site kept" in action.reason
