"""The planning vocabulary: what a run may do to one image, and how each image ends.

The plan (`engine.plan`) produces `Action`s, each of one `ActionKind` whose invariants are
checked when it is made; the transfer turns each into one `ImageResult` (`engine.events`).
Consumers dispatch on `kind` with `match` and `assert_never`, so mypy tells when one misses a
kind. Stores receive the `AttributeChange`s and `MemberChange`s to apply. Kinds
and outcomes are enums whose values are the words printed and written to `--report`, so
output is unchanged while every decision compares members of an enum, never text.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import assert_never

from replicator.model.changes import AttributeChange, MemberChange
from replicator.model.records import ImageRecord
from replicator.model.vocabulary import ImageStatus, PruneMode


class ActionKind(enum.StrEnum):
    """What a run does to one image, from the most to the least work."""

    PROBLEM = "problem"  # the target cannot be brought in line: reported as failed
    CREATE = "create"  # create the image (and upload its data)
    UPLOAD = "upload"  # the image exists without data: upload it
    UPDATE = "update"  # metadata, members or status only
    PRUNE = "prune"  # gone from the source: deactivate or delete the target's copy
    SKIP = "skip"  # nothing to do (see `Action.identical`)


class Category(enum.StrEnum):
    """What `compare` calls an image: missing on the target, different, identical, or skipped
    (the source image cannot be compared now: an upload under way there, or a dead image)."""

    MISSING = "missing"
    DIFFERENT = "different"
    IDENTICAL = "identical"
    SKIPPED = "skipped"
    EXTRA = "extra"  # on the target only (reported when pruning)


#: The kinds that change the target (`Action.has_work`).
WORK_KINDS = frozenset({ActionKind.CREATE, ActionKind.UPLOAD, ActionKind.UPDATE, ActionKind.PRUNE})

#: What a prune does to a target image the source no longer has.
PRUNE_MODES = tuple(PruneMode)

#: The statuses a copy may be brought to after its data.
TARGET_STATUSES = (ImageStatus.DEACTIVATED, ImageStatus.ACTIVE)


@dataclass(frozen=True)
class Action:
    """What to do for one image, and why: `kind` (set by the plan) says which, and the fields
    it allows say how; an action no plan could make is refused when it is made (`ValueError`).

    - CREATE: `current` is None; the image is created, its data uploaded when `upload`, then
      its members (`member_changes`) and status (`set_status`) brought in line;
    - UPLOAD: the copy exists without data (`upload` is True): data, then metadata (`changes`),
      members and status;
    - UPDATE: metadata, members or status only (at least one of them);
    - PRUNE: `gone_from_source`, `image` is the target's record, `prune` says how ("deactivate"
      or "delete"); nothing else;
    - SKIP: nothing to do; `identical` when both sides already agree (as opposed to an image
      that cannot be copied now), `gone_from_source` for a target image left as it is;
    - PROBLEM: the target cannot be brought in line: reported as failed, never "fixed" by
      deleting the target image (Glance never gives a deleted id back); the metadata and
      member differences found are kept for `compare`, and never applied.
    """

    kind: ActionKind
    image: ImageRecord
    current: ImageRecord | None
    upload: bool = False
    changes: tuple[AttributeChange, ...] = ()
    member_changes: tuple[MemberChange, ...] = ()
    #: "deactivated" or "active": the status to bring the target copy to, after its data.
    set_status: str | None = None
    reason: str = ""
    identical: bool = False
    #: A target image the source no longer has (`image` is then the target's record), and
    #: "deactivate" or "delete" when it is to be pruned.
    gone_from_source: bool = False
    prune: str | None = None
    #: Properties of the target copy that the target added on import (`--target-injects`) and
    #: the source lacks: kept, and reported by compare as target-added rather than differences.
    target_added: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problem = _contradiction(self)
        if problem:
            raise ValueError(f"a {self.kind} action {problem} (image {self.image.id})")

    @property
    def create(self) -> bool:
        return self.kind is ActionKind.CREATE

    @property
    def problem(self) -> bool:
        return self.kind is ActionKind.PROBLEM

    @property
    def category(self) -> Category:
        """How `compare` counts this image."""
        match self.kind:
            case ActionKind.CREATE:
                return Category.MISSING
            case ActionKind.PRUNE:
                return Category.EXTRA
            case ActionKind.UPLOAD | ActionKind.UPDATE | ActionKind.PROBLEM:
                return Category.DIFFERENT
            case ActionKind.SKIP:
                if self.gone_from_source:
                    return Category.EXTRA
                return Category.IDENTICAL if self.identical else Category.SKIPPED
            case unreachable:
                assert_never(unreachable)

    @property
    def has_work(self) -> bool:
        """Whether carrying it out changes the target (a problem does not: it is reported)."""
        return self.kind in WORK_KINDS

    @property
    def bytes_to_copy(self) -> int:
        return (self.image.size or 0) if self.upload else 0


#: The optional fields each kind may carry (set: true or non-empty), and those it must.
_ALLOWED: dict[ActionKind, frozenset[str]] = {
    ActionKind.CREATE: frozenset({"upload", "member_changes", "set_status"}),
    ActionKind.UPLOAD: frozenset({"upload", "changes", "member_changes", "set_status"}),
    ActionKind.UPDATE: frozenset({"changes", "member_changes", "set_status"}),
    ActionKind.PRUNE: frozenset({"prune", "gone_from_source"}),
    ActionKind.SKIP: frozenset({"identical", "gone_from_source"}),
    ActionKind.PROBLEM: frozenset({"changes", "member_changes"}),
}
_REQUIRED: dict[ActionKind, frozenset[str]] = {
    ActionKind.UPLOAD: frozenset({"upload"}),
    ActionKind.PRUNE: frozenset({"prune", "gone_from_source"}),
}
assert set(_ALLOWED) == set(ActionKind), "every kind says which fields it takes"
_OPTIONAL = ("upload", "changes", "member_changes", "set_status", "identical", "gone_from_source", "prune")


def _contradiction(action: Action) -> str | None:
    """What makes `action` one no plan makes, or None: each kind takes only its own fields."""
    kind = action.kind
    given = {name for name in _OPTIONAL if getattr(action, name)}
    if given - _ALLOWED[kind]:
        return f"does not take {', '.join(sorted(given - _ALLOWED[kind]))}"
    if _REQUIRED.get(kind, frozenset()) - given:
        return f"needs {', '.join(sorted(_REQUIRED[kind] - given))}"
    if action.set_status not in (None, *TARGET_STATUSES):
        return f"cannot set status {action.set_status!r}"
    if action.prune is not None and action.prune not in PRUNE_MODES:
        return f"prunes by {' or '.join(PRUNE_MODES)}, not {action.prune!r}"
    if kind is ActionKind.CREATE and action.current is not None:
        return "creates only what the target does not have"
    if (kind is ActionKind.UPLOAD or action.gone_from_source) and action.current is None:
        return "needs the target's copy"
    if kind is ActionKind.UPDATE and not given:
        return "has nothing to update"
    return None


class Outcome(enum.StrEnum):
    """How one image ended."""

    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
