"""An `Action` carries the kind the plan chose, and refuses, when it is made, any combination of
fields that kind does not allow: a contradictory action cannot reach the transfer."""

from __future__ import annotations

from typing import Any

import pytest

from replicator.engine.actions import Action, ActionKind, Category
from replicator.model.changes import MISSING, AttributeChange, MemberChange
from replicator.model.records import ImageRecord

IMAGE = ImageRecord(id="00000000-0000-4000-8000-000000000001", status="active", attributes={"name": "n"}, size=10)
CHANGE = AttributeChange("os_distro", MISSING, "debian")
MEMBER = MemberChange("p", MISSING, "accepted")


@pytest.mark.parametrize(
    ("kind", "current", "fields"),
    [
        (ActionKind.CREATE, IMAGE, {}),  # a create of what the target has
        (ActionKind.CREATE, None, {"changes": (CHANGE,)}),  # a create has nothing to change
        (ActionKind.CREATE, None, {"prune": "delete"}),  # a create that prunes
        (ActionKind.UPLOAD, IMAGE, {}),  # an upload without data
        (ActionKind.UPLOAD, None, {"upload": True}),  # an upload into nothing
        (ActionKind.UPDATE, IMAGE, {}),  # an update with nothing to update
        (ActionKind.UPDATE, IMAGE, {"upload": True, "changes": (CHANGE,)}),  # an update that uploads
        (ActionKind.UPDATE, IMAGE, {"identical": True, "changes": (CHANGE,)}),  # identical and different
        (ActionKind.PRUNE, IMAGE, {"gone_from_source": True}),  # a prune that says not how
        (ActionKind.PRUNE, IMAGE, {"prune": "delete"}),  # a prune of an image the source has
        (ActionKind.PRUNE, IMAGE, {"prune": "shred", "gone_from_source": True}),  # an unknown prune
        (ActionKind.PRUNE, IMAGE, {"prune": "delete", "gone_from_source": True, "changes": (CHANGE,)}),
        (ActionKind.SKIP, IMAGE, {"changes": (CHANGE,)}),  # a skip with work
        (ActionKind.SKIP, IMAGE, {"member_changes": (MEMBER,)}),
        (ActionKind.SKIP, IMAGE, {"set_status": "deactivated"}),
        (ActionKind.SKIP, IMAGE, {"upload": True}),
        (ActionKind.PROBLEM, IMAGE, {"upload": True}),  # a problem is never carried out
        (ActionKind.PROBLEM, IMAGE, {"set_status": "deactivated"}),
        (ActionKind.PROBLEM, IMAGE, {"gone_from_source": True}),
        (ActionKind.UPDATE, IMAGE, {"set_status": "killed"}),  # no status a copy is brought to
    ],
)
def test_a_contradictory_action_is_refused_when_made(
    kind: ActionKind, current: ImageRecord | None, fields: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match=f"a {kind} action"):
        Action(kind, IMAGE, current, **fields)


@pytest.mark.parametrize(
    ("action", "category", "work"),
    [
        (Action(ActionKind.CREATE, IMAGE, None, upload=True), Category.MISSING, True),
        (Action(ActionKind.CREATE, IMAGE, None, member_changes=(MEMBER,)), Category.MISSING, True),
        (Action(ActionKind.UPLOAD, IMAGE, IMAGE, upload=True, changes=(CHANGE,)), Category.DIFFERENT, True),
        (Action(ActionKind.UPDATE, IMAGE, IMAGE, set_status="deactivated"), Category.DIFFERENT, True),
        (Action(ActionKind.PROBLEM, IMAGE, IMAGE, changes=(CHANGE,)), Category.DIFFERENT, False),
        (
            Action(ActionKind.PRUNE, IMAGE, IMAGE, prune="deactivate", gone_from_source=True),
            Category.EXTRA,
            True,
        ),
        (Action(ActionKind.SKIP, IMAGE, IMAGE, gone_from_source=True), Category.EXTRA, False),
        (Action(ActionKind.SKIP, IMAGE, IMAGE, identical=True), Category.IDENTICAL, False),
        (Action(ActionKind.SKIP, IMAGE, IMAGE), Category.SKIPPED, False),
    ],
)
def test_each_kind_is_counted_and_worked_on_by_its_kind(action: Action, category: Category, work: bool) -> None:
    assert action.category is category
    assert action.has_work is work
    assert action.problem is (action.kind is ActionKind.PROBLEM)
    assert action.create is (action.kind is ActionKind.CREATE)
