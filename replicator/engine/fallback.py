"""Creating an image anyway when the target refuses its visibility or owner.

A target's credentials may not be allowed to make images public or community (Glance's
`publicize_image` and `communitize_image` policies) or to give them another project's owner.
By default such an image fails with Glance's reason; with `--fallback-visibility` or
`--fallback-owner` the replicator retries without what was refused and says so in the result.
Only a 403 that names the refused attribute triggers a fallback, never any other error.
"""

from __future__ import annotations

from typing import Any, Sequence

from replicator.errors import ImageError
from replicator.settings import Settings
from replicator.engine.actions import AttributeChange

#: Words in Glance's 403 that say which attribute it refused.
VISIBILITY_REFUSALS = ("publicize_image", "communitize_image", "visibility")
OWNER_REFUSALS = ("owned by", "owner")


def refused_keys(error: ImageError, settings: Settings) -> set[str]:
    """The attributes a fallback lets us give up after this error; empty when none applies."""
    if error.status != 403:
        return set()
    text = str(error).lower()
    keys = set()
    if settings.fallback_visibility and any(word in text for word in VISIBILITY_REFUSALS):
        keys.add("visibility")
    if settings.fallback_owner and any(word in text for word in OWNER_REFUSALS):
        keys.add("owner")
    return keys


def creation_fallback(
    attributes: dict[str, Any], error: ImageError, settings: Settings
) -> tuple[dict[str, Any], str] | None:
    """(attributes to create with instead, a note for the result), or None to fail."""
    refused = refused_keys(error, settings) & set(attributes)
    if not refused:
        return None
    allowed = {k: v for k, v in attributes.items() if k not in refused}
    notes = []
    if "visibility" in refused:
        allowed["visibility"] = settings.fallback_visibility
        notes.append(f"created {settings.fallback_visibility}: the target refused {attributes['visibility']}")
    if "owner" in refused:
        notes.append(f"owned by the target's project: the target refused owner {attributes['owner']}")
    return allowed, "; ".join(notes)


def update_fallback(
    changes: Sequence[AttributeChange], error: ImageError, settings: Settings
) -> tuple[list[AttributeChange], str] | None:
    """(changes still to make, a note), or None to fail: the refused ones are left as they are."""
    refused = refused_keys(error, settings) & {change.key for change in changes}
    if not refused:
        return None
    kept = [change for change in changes if change.key not in refused]
    return kept, f"kept the target's {' and '.join(sorted(refused))}: the target refused the source's"
