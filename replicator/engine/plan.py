"""Decide, per image, what a run does: a pure function of the two listings and the settings.

Every "why" the user sees (in compare, in a dry run, in the summary) is written here, so the
reasons stay consistent and the decisions can be unit-tested with plain data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from replicator.records import SETTABLE_BASE, TRANSIENT_STATUSES, ImageRecord
from replicator.settings import Settings
from replicator.stores.base import MISSING, AttributeChange

#: Statuses of an image that is gone or broken for good: nothing can be copied from or into it.
DEAD_STATUSES = frozenset({"killed", "deleted", "pending_delete"})


@dataclass(frozen=True)
class Action:
    """What to do for one source image, and why.

    `problem` marks an image the run cannot bring in line (the target holds other data, or is
    stuck): it is reported as failed, never "fixed" by deleting the target image, because
    Glance never gives a deleted id back.
    """

    image: ImageRecord
    current: ImageRecord | None
    create: bool = False
    upload: bool = False
    changes: tuple[AttributeChange, ...] = ()
    reason: str = ""
    problem: bool = False

    @property
    def kind(self) -> str:
        if self.problem:
            return "problem"
        if self.create:
            return "create"
        if self.upload:
            return "upload"
        if self.changes:
            return "update"
        return "skip"

    @property
    def has_work(self) -> bool:
        return self.create or self.upload or bool(self.changes)

    @property
    def bytes_to_copy(self) -> int:
        return (self.image.size or 0) if self.upload else 0


def plan(source: Iterable[ImageRecord], target: Iterable[ImageRecord], settings: Settings) -> list[Action]:
    """One action per source image, in source order."""
    existing = {record.id: record for record in target}
    return [_decide(image, existing.get(image.id), settings) for image in source]


def _decide(image: ImageRecord, current: ImageRecord | None, settings: Settings) -> Action:
    if image.status in TRANSIENT_STATUSES:
        return Action(image, current, reason=f"source image is {image.status} (an upload is under way there); rerun later")
    if image.status in DEAD_STATUSES:
        return Action(image, current, reason=f"source image is {image.status}")
    wants_data = image.has_readable_data and not settings.metaonly
    if current is None:
        reason = "missing on target" if wants_data or settings.metaonly else f"missing on target (source is {image.status}: metadata only)"
        return Action(image, None, create=True, upload=wants_data, reason=reason)

    excluded = settings.dont_replicate
    changes = tuple(attribute_changes(image.replicated(excluded), current.replicated(excluded), excluded))
    reason = "metadata differs" if changes else "identical"
    if not wants_data or current.status == "deactivated":
        return Action(image, current, changes=changes, reason=reason)
    if current.status == "queued":
        return Action(image, current, upload=True, changes=changes, reason="data missing on target")
    if current.status != "active":
        return Action(image, current, changes=changes, problem=True,
                      reason=f"target image is {current.status}; its data cannot be written now")
    if not same_data(image, current):
        return Action(image, current, changes=changes, problem=True,
                      reason="target holds different data (size or checksum differ); not overwritten")
    return Action(image, current, changes=changes, reason=reason)


def same_data(image: ImageRecord, current: ImageRecord) -> bool:
    """Whether two records describe the same bytes, judged only on what both sides know."""
    if image.size is not None and current.size is not None and image.size != current.size:
        return False
    if image.checksum and current.checksum and image.checksum != current.checksum:
        return False
    if (
        image.hash_algo and image.hash_algo == current.hash_algo
        and image.hash_value and current.hash_value and image.hash_value != current.hash_value
    ):
        return False
    return True


def attribute_changes(
    source: Mapping[str, Any], target: Mapping[str, Any], excluded: frozenset[str] = frozenset()
) -> list[AttributeChange]:
    """The changes that bring `target`'s attributes to `source`'s.

    Base attributes are never removed (Glance keeps them on every image); custom properties
    that the source lacks are.
    """
    changes = []
    for key, value in source.items():
        if key in excluded:
            continue
        if key not in target:
            changes.append(AttributeChange(key, MISSING, value))
        elif not _equal(key, value, target[key]):
            changes.append(AttributeChange(key, target[key], value))
    for key, value in target.items():
        if key not in source and key not in excluded and key not in SETTABLE_BASE:
            changes.append(AttributeChange(key, value, MISSING))
    return changes


def _equal(key: str, left: Any, right: Any) -> bool:
    if key == "tags" and isinstance(left, list) and isinstance(right, list):
        return sorted(map(str, left)) == sorted(map(str, right))
    return bool(left == right)


def creation_attributes(image: ImageRecord, settings: Settings) -> dict[str, Any]:
    """What to send when creating `image` elsewhere: its replicated attributes, nulls left out."""
    return {k: v for k, v in image.replicated(settings.dont_replicate).items() if v is not None}


def totals(actions: Sequence[Action]) -> tuple[int, int]:
    """(images with work, bytes to copy): exact, because both listings are complete."""
    return sum(1 for a in actions if a.has_work), sum(a.bytes_to_copy for a in actions)
