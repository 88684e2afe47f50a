"""Pruning: target images gone from the source are deactivated or deleted, behind guards."""

from __future__ import annotations

import uuid

from replicator.engine.actions import ActionKind, Category
from replicator.engine.plan import MARK, creation_attributes, decide, decide_prune
from replicator.records import ImageRecord
from replicator.settings import Settings

PRUNE = Settings(prune="deactivate", mark_property="replicated_by")


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
    assert not decide_prune(unmarked, Settings(prune="delete")).has_work
    told = decide_prune(unmarked, Settings(prune="delete", prune_existing=True))
    assert told.prune == "delete"


def test_an_image_already_deactivated_is_left_alone():
    assert not decide_prune(image("deactivated", replicated_by=MARK), PRUNE).has_work
    assert (
        decide_prune(
            image("deactivated", replicated_by=MARK), Settings(prune="delete", mark_property="replicated_by")
        ).prune
        == "delete"
    )


def test_the_mark_is_set_at_creation_and_never_compared():
    source = image()
    assert creation_attributes(source, PRUNE)["replicated_by"] == MARK
    copy = ImageRecord(id=source.id, status="active", attributes={**source.attributes, "replicated_by": MARK}, size=1)
    assert decide(source, copy, PRUNE).identical
