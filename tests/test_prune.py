"""Pruning: target images gone from the source are deactivated or deleted, behind guards."""

from __future__ import annotations

import uuid

from replicator.cli.views import console
from replicator.engine.actions import ActionKind, Category, Outcome
from replicator.engine.events import ImageResult, RunTally
from replicator.engine.plan import MARK, creation_attributes, decide, decide_prune
from replicator.engine.run import PruneGuard, differs
from replicator.model.records import ImageRecord
from replicator.model.settings import Settings
from replicator.model.vocabulary import PruneMode

PRUNE = Settings(prune=PruneMode.DEACTIVATE, mark_property="replicated_by")


def image(status: str = "active", **attributes) -> ImageRecord:
    return ImageRecord(id=str(uuid.uuid4()), status=status, attributes={"name": "n", **attributes}, size=1)


def test_an_image_we_created_is_pruned():
    action = decide_prune(image(replicated_by=MARK), PRUNE)
    assert action.kind == ActionKind.PRUNE and action.prune == "deactivate" and action.category == Category.EXTRA


def test_never_a_protected_image():
    action = decide_prune(image(replicated_by=MARK, protected=True), PRUNE)
    assert not action.has_work and "protected" in action.reason


def test_never_an_image_we_did_not_create_unless_told_so():
    unmarked = image()
    assert not decide_prune(unmarked, PRUNE).has_work
    assert not decide_prune(unmarked, Settings(prune=PruneMode.DELETE)).has_work
    told = decide_prune(unmarked, Settings(prune=PruneMode.DELETE, prune_existing=True))
    assert told.prune == "delete"


def test_an_image_already_deactivated_is_left_alone():
    assert not decide_prune(image("deactivated", replicated_by=MARK), PRUNE).has_work
    assert (
        decide_prune(
            image("deactivated", replicated_by=MARK), Settings(prune=PruneMode.DELETE, mark_property="replicated_by")
        ).prune
        == "delete"
    )


def test_the_mark_is_set_at_creation_and_never_compared():
    source = image()
    assert creation_attributes(source, PRUNE)["replicated_by"] == MARK
    copy = ImageRecord(id=source.id, status="active", attributes={**source.attributes, "replicated_by": MARK}, size=1)
    assert decide(source, copy, PRUNE).identical


def test_a_mark_left_by_an_earlier_run_is_kept_by_a_run_that_does_not_name_it():
    source = image()
    copy = ImageRecord(id=source.id, status="active", attributes={**source.attributes, "replicated_by": MARK}, size=1)
    assert decide(source, copy, Settings()).identical
    # A property of that name with another value is the tenant's, and follows the source.
    theirs = ImageRecord(id=source.id, status="active", attributes={**source.attributes, "replicated_by": "me"}, size=1)
    assert [change.key for change in decide(source, theirs, Settings()).changes] == ["replicated_by"]


def test_an_empty_record_of_ours_is_deleted_whatever_the_mode_and_one_not_ours_is_left():
    for settings in (PRUNE, Settings(prune=PruneMode.DELETE, mark_property="replicated_by")):
        assert decide_prune(image("queued", replicated_by=MARK), settings).prune == "delete"
    assert not decide_prune(image("queued"), Settings(prune=PruneMode.DEACTIVATE, prune_existing=True)).has_work


def test_an_image_being_uploaded_is_not_pruned_now():
    for status in ("saving", "uploading", "importing"):
        action = decide_prune(image(status, replicated_by=MARK), PRUNE)
        assert not action.has_work and "not pruned now" in action.reason


def test_an_image_already_as_pruning_leaves_it_is_no_difference():
    done = decide_prune(image("deactivated", replicated_by=MARK), PRUNE)
    assert done.identical and not differs(done)
    assert differs(decide_prune(image(replicated_by=MARK, protected=True), PRUNE))  # left there: a difference
    assert differs(decide_prune(image(replicated_by=MARK), PRUNE))


def test_the_guard_holds_no_more_than_the_limit_and_refuses_them_all_past_it():
    guard = PruneGuard(Settings(prune=PruneMode.DEACTIVATE, mark_property="replicated_by", max_prune=2))
    prunes = [decide_prune(image(replicated_by=MARK), PRUNE) for _ in range(4)]
    assert guard.hold(prunes[0]) == [] and guard.hold(prunes[1]) == []
    refused = guard.hold(prunes[2])
    assert [action.image.id for action in refused] == [action.image.id for action in prunes[:3]]
    assert all("not pruned" in action.reason and action.kind == ActionKind.PRUNE for action in refused)
    assert [action.image.id for action in guard.hold(prunes[3])] == [prunes[3].image.id]
    assert guard.release() == [] and guard.exceeded
    assert "4 target images would be pruned" in str(guard.refusal())


def test_the_guard_releases_what_it_held_within_the_limit():
    guard = PruneGuard(Settings(max_prune=2))
    prunes = [decide_prune(image(replicated_by=MARK), PRUNE) for _ in range(2)]
    for action in prunes:
        assert guard.hold(action) == []
    assert guard.release() == prunes and not guard.exceeded


def test_the_summary_names_each_image_pruned():
    tally = RunTally()
    tally.add(
        ImageResult("gone-1", "old", ActionKind.PRUNE, Outcome.OK, 0, 0.0, "gone from the source: to be deactivated")
    )
    tally.add(ImageResult("kept", "new", ActionKind.SKIP, Outcome.SKIPPED, 0, 0.0, "identical"))
    text = console.summary(tally, 1.0)
    assert '1 pruned:\n  gone-1 "old": gone from the source: to be deactivated' in text
    assert "kept" not in text


def test_the_plan_line_counts_prunes_apart_from_the_source_images():
    assert (
        console.plan_line(2, 5, 1024, 3) == "plan: 2 of 5 images need work, 1.0 KiB to copy; 3 target images to prune"
    )
    assert console.plan_line(2, 5, 1024, 0) == "plan: 2 of 5 images need work, 1.0 KiB to copy"
