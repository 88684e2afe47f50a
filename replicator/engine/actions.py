"""The planning vocabulary: what a run may do to one image, and how each image ends.

The plan (`engine.plan`) produces `Action`s; the transfer turns each into one `ImageResult`
(`engine.events`). Stores receive the `AttributeChange`s and `MemberChange`s to apply. Kinds
and outcomes are enums whose values are the words printed and written to `--report`, so
output is unchanged while every decision compares members of an enum, never text.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from replicator.model.changes import AttributeChange, MemberChange
from replicator.model.records import ImageRecord


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


@dataclass(frozen=True)
class Action:
    """What to do for one source image, and why.

    `problem` marks an image the run cannot bring in line (the target holds other data, or is
    stuck): it is reported as failed, never "fixed" by deleting the target image, because
    Glance never gives a deleted id back. `identical` marks a skip because both sides already
    agree, as opposed to a skip because the source image cannot be copied now.
    """

    image: ImageRecord
    current: ImageRecord | None
    create: bool = False
    upload: bool = False
    changes: tuple[AttributeChange, ...] = ()
    member_changes: tuple[MemberChange, ...] = ()
    #: "deactivated" or "active": the status to bring the target copy to, after its data.
    set_status: str | None = None
    reason: str = ""
    problem: bool = False
    identical: bool = False
    #: A target image the source no longer has (`image` is then the target's record), and
    #: "deactivate" or "delete" when it is to be pruned.
    gone_from_source: bool = False
    prune: str | None = None

    @property
    def kind(self) -> ActionKind:
        if self.problem:
            return ActionKind.PROBLEM
        if self.prune:
            return ActionKind.PRUNE
        if self.create:
            return ActionKind.CREATE
        if self.upload:
            return ActionKind.UPLOAD
        if self.has_work:
            return ActionKind.UPDATE
        return ActionKind.SKIP

    @property
    def category(self) -> Category:
        """How `compare` counts this image."""
        if self.create:
            return Category.MISSING
        if self.gone_from_source:
            return Category.EXTRA
        if self.has_work or self.problem:
            return Category.DIFFERENT
        return Category.IDENTICAL if self.identical else Category.SKIPPED

    @property
    def has_work(self) -> bool:
        return self.create or self.upload or bool(self.prune or self.changes or self.member_changes or self.set_status)

    @property
    def bytes_to_copy(self) -> int:
        return (self.image.size or 0) if self.upload else 0


class Outcome(enum.StrEnum):
    """How one image ended."""

    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
