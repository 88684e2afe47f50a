"""Decide, per image, what a run does: a pure function of the two listings and the settings.

Every "why" the user sees (in compare, in a dry run, in the summary) is written here, so the
reasons stay consistent and the decisions can be unit-tested with plain data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from replicator.engine.actions import Action, ActionKind
from replicator.engine.verify import CONVERTED_ATTRIBUTES, can_verify, converted_note, target_conversion
from replicator.model.changes import MISSING, AttributeChange, MemberChange
from replicator.model.records import (
    DELETED_STATUSES,
    MEMBERS,
    READABLE_STATUSES,
    SETTABLE_BASE,
    TRANSIENT_STATUSES,
    ImageRecord,
    all_plain_names,
    not_ours,
    property_name_problem,
)
from replicator.model.settings import Settings
from replicator.model.vocabulary import ImageStatus, PruneMode, Role

#: The value of `Settings.mark_property` on the images the replicator creates.
MARK = "replicator"

#: Statuses of an image that is gone or broken for good: nothing can be copied from or into it.
DEAD_STATUSES = DELETED_STATUSES | {ImageStatus.KILLED}


def plan(source: Iterable[ImageRecord], target: Iterable[ImageRecord], settings: Settings) -> list[Action]:
    """One action per source image, in source order (for whole listings in memory: tests, tools)."""
    existing = {record.id: record for record in target}
    return [decide(image, existing.get(image.id), settings) for image in source]


def decide(image: ImageRecord, current: ImageRecord | None, settings: Settings) -> Action:
    """What to do for the source `image`, given its copy `current` on the target (None: absent).

    Between two clouds, `image` comes with the target's projects (`projects.map_record`); what
    had no counterpart there is said in the reason of every image it changes or leaves alone.
    """
    if current is not None and _in_step(image, current, settings):
        return Action(ActionKind.SKIP, image, current, reason="identical", identical=True)
    action = _decide(image, current, settings)
    notes = _unmapped_notes(image, current)
    if image.dropped:
        names = ", ".join(image.dropped)
        notes.append(
            f"propert{'ies' if len(image.dropped) > 1 else 'y'} {names} not copied (a name the replicator reads as its own)"
        )
    if notes and not action.problem and (action.has_work or action.identical):
        return replace(action, reason="; ".join(filter(None, [action.reason, *notes])))
    return action


def _in_step(image: ImageRecord, current: ImageRecord, settings: Settings) -> bool:
    """Whether the pair is plainly identical, the common case of every run after the first:
    the same status (one that needs no upload), the same attributes, the same members (or
    members not compared), the same data, no older mark to rename, and nothing to refuse or
    to note. Decided without
    building the changes; a pair that is not plainly so takes `_decide`, which says why."""
    return (
        image.status == current.status
        and image.status in READABLE_STATUSES
        and image.problem is None
        and image.unmapped_owner is None
        and not image.unmapped_members
        and not image.dropped
        and image.attributes == current.attributes
        and (
            image.members is None
            or current.members is None
            or image.members == current.members
            or MEMBERS in settings.dont_replicate
        )
        and same_data(image, current)
        and not _mark_named(current, settings)
        # Equal attributes have the same names: checking the source's checks the target's.
        and all_plain_names(image.attributes.keys())
    )


def no_counterpart(role: str, projects: Sequence[str]) -> str:
    """The words for source projects (an `owner`, `member`s) the target has no counterpart of."""
    if len(projects) == 1:
        return f"{role} project {projects[0]} has no counterpart on the target"
    return f"{role} projects {', '.join(projects)} have no counterpart on the target"


def _unmapped_notes(image: ImageRecord, current: ImageRecord | None) -> list[str]:
    """What a copy does without the projects that have no counterpart: the target's project
    owns it (or its owner is kept), and it is not shared with the members left out."""
    notes = []
    if image.unmapped_owner is not None:
        owner = "owned by the target's project" if current is None else "kept the target's owner"
        notes.append(f"{owner}: {no_counterpart('owner', [image.unmapped_owner])}")
    members = image.unmapped_members
    if members:
        notes.append(f"{no_counterpart('member', members)}: not shared with {'it' if len(members) == 1 else 'them'}")
    return notes


def _decide(image: ImageRecord, current: ImageRecord | None, settings: Settings) -> Action:
    refused = _refusal(image, current, settings)
    if refused:
        return Action(ActionKind.PROBLEM, image, current, reason=refused)
    if image.status in TRANSIENT_STATUSES:
        return Action(
            ActionKind.SKIP,
            image,
            current,
            reason=f"source image is {image.status} (an upload is under way there); rerun later",
        )
    if image.status in DEAD_STATUSES:
        return Action(ActionKind.SKIP, image, current, reason=f"source image is {image.status}")
    wants_data = image.has_readable_data and not settings.metaonly
    # A deactivated image can only be deactivated once it has data: Glance refuses it otherwise.
    deactivate = ImageStatus.DEACTIVATED if image.status == ImageStatus.DEACTIVATED and wants_data else None
    members = _member_changes(image, current, settings)
    if current is None:
        reason = (
            "missing on target"
            if wants_data or settings.metaonly
            else f"missing on target (source is {image.status}: metadata only)"
        )
        return Action(
            ActionKind.CREATE,
            image,
            None,
            upload=wants_data,
            member_changes=members,
            set_status=deactivate,
            reason=reason,
        )

    # A copy the target converted on import holds other bytes by design: compared by what can
    # still be compared (metadata but its formats; the virtual size, in `target_conversion`).
    conversion = target_conversion(image, current) if not same_data(image, current) else None
    converted = CONVERTED_ATTRIBUTES if conversion else frozenset()
    injected = injected_kept(image, current, settings)
    excluded = settings.not_compared | marks_kept(image, current, settings) | converted | injected
    changes = tuple(attribute_changes(image.replicated(excluded), current.replicated(excluded), excluded))
    changes += _mark_named(current, settings)
    same = not (changes or members)
    reason = "identical" if same else "metadata differs"
    if injected:
        reason = f"{reason} ({injected_note(injected)})"
    if conversion:
        reason = f"{reason} ({converted_note(conversion)}: compared by metadata and virtual size)"
    # Every action below also brings the metadata and the members in line.
    added = tuple(sorted(injected))
    update = partial(Action, image=image, current=current, changes=changes, member_changes=members, target_added=added)
    in_line = (
        Action(ActionKind.SKIP, image, current, reason=reason, identical=True, target_added=added) if same else None
    )
    staged = wants_data and staged_whole(image, current)
    if (current.status == "queued" and (wants_data or not same)) or staged:
        # An empty record (or one with data staged) under our id: ours only if we made it (a
        # tenant may create it first, and stage data of their own into it).
        foreign = not_ours(current, creation_attributes(image, settings).get("owner"), our_mark(settings))
        if foreign:
            return Action(ActionKind.PROBLEM, image, current, reason=foreign)
    if not wants_data:
        return in_line or update(ActionKind.UPDATE, reason=reason)
    if current.status == ImageStatus.QUEUED:
        return update(ActionKind.UPLOAD, upload=True, set_status=deactivate, reason="data missing on target")
    if staged:
        return update(ActionKind.UPLOAD, upload=True, set_status=deactivate, reason=STAGED)
    if current.status not in READABLE_STATUSES:
        return update(ActionKind.PROBLEM, reason=f"target image is {current.status}; its data cannot be written now")
    if not (same_data(image, current) or conversion):
        return update(
            ActionKind.PROBLEM, reason="target holds different data (size or checksum differ); not overwritten"
        )
    status = image.status if image.status != current.status else None
    if status:
        return update(ActionKind.UPDATE, set_status=status, reason=f"status differs ({image.status} on source)")
    return in_line or update(ActionKind.UPDATE, reason=reason)


def _refusal(image: ImageRecord, current: ImageRecord | None, settings: Settings) -> str | None:
    """Why this image must not be touched at all, or None.

    A property name that a server could read as another attribute (`"visibility "` is patched
    as `visibility` by Glance) is refused on either side, before any request is built from it.
    """
    if image.problem:
        return image.problem
    if image.unmapped_owner is not None and not settings.fallback_owner:
        return no_counterpart("owner", [image.unmapped_owner])
    for record, side in ((image, Role.SOURCE), (current, Role.TARGET)):
        for key in record.attributes if record is not None else ():
            problem = property_name_problem(key)
            if problem:
                return f"{problem} on the {side}: refused, a server could read it as another attribute"
    if (
        settings.require_verified
        and image.has_readable_data
        and not settings.metaonly
        and (current is None or current.status == ImageStatus.QUEUED)
        and not can_verify(image)
    ):
        return "its copy could not be verified: the source publishes no hash this tool can compute"
    return None


def _member_changes(image: ImageRecord, current: ImageRecord | None, settings: Settings) -> tuple[MemberChange, ...]:
    """Shares to add, remove or re-status; only where both sides' members are known."""
    if MEMBERS in settings.dont_replicate or image.members is None:
        return ()
    have = dict(current.members or ()) if current is not None else {}
    if current is not None and current.members is None:
        return ()
    want = dict(image.members)
    changes = [MemberChange(m, have.get(m, MISSING), s) for m, s in want.items() if have.get(m) != s]
    changes += [MemberChange(m, s, MISSING) for m, s in have.items() if m not in want]
    return tuple(changes)


#: The reason of an image whose data an earlier run staged (glance-direct) and did not import.
STAGED = "its data is staged on the target (an earlier run stopped before importing it): imported now"


def staged_whole(image: ImageRecord, current: ImageRecord) -> bool:
    """Whether `current` is a copy of `image` left `uploading` with all of its data staged: what
    a run leaves when it stops between staging and importing (Glance then refuses a second
    stage, so the copy is finished by importing it, and read back as every copy is).

    Ours to finish only if it has the source's size staged, no data of its own yet (no
    checksum) and the source's owner, where the source names one; anything else `uploading`
    is someone's upload under way.
    """
    owner = image.attributes.get("owner")
    return (
        current.status == ImageStatus.UPLOADING
        and image.size is not None
        and current.size == image.size
        and not current.checksum
        and (owner is None or current.attributes.get("owner") == owner)
    )


def same_data(image: ImageRecord, current: ImageRecord) -> bool:
    """Whether two records describe the same bytes, judged only on what both sides know."""
    if image.size is not None and current.size is not None and image.size != current.size:
        return False
    if image.checksum and current.checksum and image.checksum != current.checksum:
        return False
    if (
        image.hash_algo
        and image.hash_algo == current.hash_algo
        and image.hash_value
        and current.hash_value
        and image.hash_value != current.hash_value
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
    """What to send when creating `image` elsewhere: its replicated attributes, nulls left out,
    and our mark (`mark_property`) so that a later run knows this copy is ours to prune."""
    attributes = {k: v for k, v in image.replicated(settings.not_compared).items() if v is not None}
    if settings.mark_property:
        attributes[settings.mark_property] = settings.mark_value
    return attributes


def mark_of(settings: Settings, source: str) -> Settings:
    """`settings` with the mark's value naming the mirror: `replicator from <source>` (the
    source store's description, its address), so that two mirrors writing into one target each
    prune only the copies of their own source. Glance caps a property's value at 255 characters."""
    return replace(settings, mark_value=f"{MARK} from {source}"[:255])


def our_mark(settings: Settings) -> tuple[str, str] | None:
    """(property, value) of this mirror's mark, when the run names one."""
    return (settings.mark_property, settings.mark_value) if settings.mark_property else None


def _mark_named(current: ImageRecord, settings: Settings) -> tuple[AttributeChange, ...]:
    """A mark an older replicator left, whose value (`replicator`) names no source, replaced by
    ours on a copy of an image this source has: from then on only this mirror prunes it."""
    name = settings.mark_property
    if name and settings.mark_value != MARK and current.attributes.get(name) == MARK:
        return (AttributeChange(name, MARK, settings.mark_value),)
    return ()


def marks_kept(image: ImageRecord, current: ImageRecord, settings: Settings) -> frozenset[str]:
    """The mark an earlier run of this mirror left on the target copy `current` (a property the
    source lacks, whose value is this mirror's mark), which this run must not remove.

    A run that does not name `--mark-property` (a one-off copy by hand, a config file without
    it) would otherwise remove the mark as a property the source lacks, and with it the only
    record that the replicator created the image: a later run could then never prune it. Only
    a value naming this mirror is a mark: a property that merely says `replicator` follows the
    source like any other.
    """
    return frozenset(
        key for key, value in current.attributes.items() if value == settings.mark_value and key not in image.attributes
    )


def injected_kept(image: ImageRecord, current: ImageRecord, settings: Settings) -> frozenset[str]:
    """The properties of the target copy `current` that the target added on import (named by
    `--target-injects`) and the source lacks: kept, never removed as properties the source lacks.

    Glance's `inject_image_metadata` plugin records nowhere what it added, and a property the
    source lost since the copy looks the same; so only the names the operator gives are the
    target's. Where the source has the property, its value follows the source as any other.
    """
    return frozenset(
        key for key in settings.target_injects if key in current.attributes and key not in image.attributes
    )


def injected_note(keys: frozenset[str]) -> str:
    """The words for properties kept as target-added (in a run's and in compare's reasons)."""
    names = ", ".join(sorted(keys))
    return f"target-added propert{'ies' if len(keys) > 1 else 'y'} {names} kept (--target-injects)"


def decide_prune(current: ImageRecord, settings: Settings) -> Action:
    """What to do to a target image of the selection that the source no longer has.

    `current` stands on both sides of the action (there is no source record). The guards that
    need only this image are here: never a protected image, never one the replicator did not
    create unless told so; the guards on the whole run are in `engine.run`. An image already
    as pruning leaves it (deactivated) is `identical`: in step, nothing to report as a difference.
    """

    def gone(reason: str, prune: str | None = None, *, in_step: bool = False) -> Action:
        return Action(
            ActionKind.SKIP if prune is None else ActionKind.PRUNE,
            current,
            current,
            gone_from_source=True,
            prune=prune,
            identical=in_step,
            reason=f"gone from the source{reason}",
        )

    found = current.attributes.get(settings.mark_property) if settings.mark_property else None
    marked = found == settings.mark_value
    if current.attributes.get("protected"):
        return gone("; protected: never pruned")
    if not (settings.prune_existing or marked):
        if found is not None and found != MARK and str(found).startswith(f"{MARK} from "):
            return gone("; marked by another mirror (its mark names another source): not pruned")
        if found == MARK and settings.mark_value != MARK:
            return gone("; its mark names no source (an older replicator's): not pruned")
        return gone("; not created by the replicator (no mark): not pruned")
    if current.status in DEAD_STATUSES:
        return gone(f"; already {current.status}", in_step=True)
    if current.status in TRANSIENT_STATUSES:
        return gone(f"; target image is {current.status} (an upload is under way there): not pruned now")
    if current.status == ImageStatus.QUEUED:
        # Glance deactivates only an image with data; an empty record holds nothing to keep.
        if not marked:
            return gone("; holds no data (queued; an upload may be about to start): not pruned")
        return gone(f": holds no data (queued), {_TO_BE}deleted", PruneMode.DELETE)
    if settings.prune == PruneMode.DEACTIVATE and current.status == ImageStatus.DEACTIVATED:
        return gone("; already deactivated", in_step=True)
    return gone(f": {_TO_BE}{settings.prune}d", settings.prune)


#: The words of a prune's reason that say it is still to come ("gone from the source: to be
#: deactivated"): a prune carried out is reported without them.
_TO_BE = "to be "


def reason_when_done(action: Action) -> str:
    """Why an action's image ended as it did, once carried out: a prune done says "deactivated"
    or "deleted", not "to be"; every other reason is what the plan said."""
    return action.reason.replace(_TO_BE, "") if action.prune else action.reason


def over_prune_limit(action: Action, settings: Settings) -> Action:
    """`action`, a prune that the run will not carry out because more than `max_prune` images
    would be pruned (`engine.run` keeps that count): reported, never done."""
    return replace(
        action,
        reason=f"{action.reason}; not pruned: this run would prune more images than the "
        f"{settings.max_prune} a run may prune",
    )


def totals(actions: Sequence[Action]) -> tuple[int, int]:
    """(images with work, bytes to copy): exact, because both listings are complete. An image the
    run cannot bring in line counts as work, as in a run's `RunPlanned` (it is not in step)."""
    return sum(1 for a in actions if a.has_work or a.problem), sum(a.bytes_to_copy for a in actions)
