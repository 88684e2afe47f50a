"""Creating an image anyway when the target refuses its visibility or owner.

A target's credentials may not be allowed to make images public or community (Glance's
`publicize_image` and `communitize_image` policies) or to give them another project's owner.
By default such an image fails with Glance's reason; with `--fallback-visibility` or
`--fallback-owner` the replicator tries again without what may have been refused, and says so
in the result.

Only a refusal (403) starts a fallback, never any other error. A 403 does not say, in any field,
which attribute it refused (only its wording does, and that is Glance's to change), so the
alternatives are tried in order, each giving up as little as possible: the visibility alone,
the owner alone, then both. The first the target accepts is the one reported.

Between two clouds, an owner the target has no counterpart of (`projects`) is never sent at
all: `--fallback-owner` then means the plan creates the image without one (`engine.plan`).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Any

from replicator.model.changes import AttributeChange
from replicator.model.errors import ErrorKind, ImageError
from replicator.model.settings import Settings

#: Visibilities a target may refuse to a project (Glance's publicize/communitize policies).
PRIVILEGED_VISIBILITIES = ("public", "community")


def _may_give_up(values: dict[str, Any], error: ImageError, settings: Settings) -> list[str]:
    """The attributes a fallback may give up after `error`, in the order they are given up."""
    if error.kind is not ErrorKind.FORBIDDEN:
        return []
    keys = []
    if settings.fallback_visibility and values.get("visibility") in PRIVILEGED_VISIBILITIES:
        keys.append("visibility")
    if settings.fallback_owner and values.get("owner"):
        keys.append("owner")
    return keys


def _subsets(keys: list[str]) -> list[tuple[str, ...]]:
    """Each non-empty subset of `keys`, smallest first: give up as little as possible."""
    return [subset for size in range(1, len(keys) + 1) for subset in combinations(keys, size)]


def creation_fallbacks(
    attributes: dict[str, Any], error: ImageError, settings: Settings
) -> list[tuple[dict[str, Any], str]]:
    """(attributes to create with instead, a note for the result), in the order to try them;
    empty when no fallback applies."""
    alternatives = []
    for given_up in _subsets(_may_give_up(attributes, error, settings)):
        allowed = {k: v for k, v in attributes.items() if k not in given_up}
        notes = []
        if "visibility" in given_up:
            allowed["visibility"] = settings.fallback_visibility
            notes.append(f"created {settings.fallback_visibility}: the target refused {attributes['visibility']}")
        if "owner" in given_up:
            notes.append(f"owned by the target's project: the target refused owner {attributes['owner']}")
        alternatives.append((allowed, "; ".join(notes)))
    return alternatives


def update_fallbacks(
    changes: Sequence[AttributeChange], error: ImageError, settings: Settings
) -> list[tuple[list[AttributeChange], str]]:
    """(changes still to make, a note), in the order to try them; empty when none applies: the
    given-up attributes are left as the target has them."""
    wanted = {change.key: change.new for change in changes}
    alternatives = []
    for given_up in _subsets(_may_give_up(wanted, error, settings)):
        kept = [change for change in changes if change.key not in given_up]
        alternatives.append(
            (kept, f"kept the target's {' and '.join(sorted(given_up))}: the target refused the source's")
        )
    return alternatives


def refused_properties(keys: Sequence[str], changed: int, refusal: ImageError) -> ImageError:
    """The error for properties whose changes the target refused one by one (403), with what
    the operator can do; the other `changed - len(keys)` changes were made."""
    names = ", ".join(keys)
    made = changed - len(keys)
    return refusal.again(
        f"propert{'ies' if len(keys) > 1 else 'y'} {names}: change refused by the target (403: a property "
        f"protection or policy; {made} other change{'s' if made != 1 else ''} made); use admin credentials "
        f'on the target, or -D "{" ".join(keys)}" to leave {"them" if len(keys) > 1 else "it"} alone: {refusal}',
        retryable=False,
    )
