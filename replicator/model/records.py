"""The neutral image record, and the rules for which attributes are replicated.

Every store maps its own format (a Glance v2 JSON record, a v1 record with nested
`properties`, a dump file) to an `ImageRecord`, so the engine compares and copies images
without knowing where they live.

Which attributes are replicated (the one documented list):
- every attribute a client may set on a Glance v2 image: the base attributes in
  `SETTABLE_BASE` and every custom property (any other top-level key);
- never the attributes Glance computes itself (`READ_ONLY`), nor the ones reserved for its
  own use (`os_glance_*`), nor what the user names in `--dontreplicate`.

A record is written by a server or a tenant: the decoders check the type of every field they
read and raise `RecordError` for one that is not what Glance writes. Callers catch that and
only that, so an error of ours in a decoder is never mistaken for a bad record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from replicator.model.vocabulary import ImageStatus

#: Attributes Glance computes or owns; sending one on create answers 403 "read-only".
READ_ONLY: frozenset[str] = frozenset(
    {
        "id",
        "status",
        "created_at",
        "updated_at",
        "size",
        "virtual_size",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "direct_url",
        "locations",
        "file",
        "schema",
        "self",
        "stores",
        # v1 and dump-only fields that have no settable v2 counterpart.
        "deleted",
        "deleted_at",
        "location",
    }
)

#: Keys our dumps add beside the Glance record; never image attributes.
DUMP_ONLY: frozenset[str] = frozenset({"members"})

#: Custom property names a Glance v2 image may carry that are never copied: the replicator
#: reads them as its own (`members` in a dump, `deleted` and `location` from v1). Each image
#: that has one says so (`ImageRecord.dropped`, in its reason).
DROPPED_NAMES: frozenset[str] = frozenset({"members", "deleted", "location"})

#: The name `--dontreplicate` takes to leave image members (sharing) alone.
MEMBERS = "members"

#: Base attributes of a v2 image that a client may set; all other settable keys are
#: custom properties, which Glance keeps at the top level of the record.
SETTABLE_BASE: frozenset[str] = frozenset(
    {
        "name",
        "disk_format",
        "container_format",
        "visibility",
        "protected",
        "min_ram",
        "min_disk",
        "tags",
        "os_hidden",
        "owner",
    }
)

#: Prefix Glance reserves for properties it sets itself (import plugins, stores).
RESERVED_PREFIX = "os_glance_"

#: Statuses in which an image's data is there to be copied. A deactivated image's data can be
#: read by an admin only; for others the download answers 403 and that image fails.
READABLE_STATUSES: frozenset[str] = frozenset({ImageStatus.ACTIVE, ImageStatus.DEACTIVATED})

#: Statuses of a deleted image (a v1 Glance still describes one to an admin).
DELETED_STATUSES: frozenset[str] = frozenset({ImageStatus.DELETED, ImageStatus.PENDING_DELETE})

#: Statuses that will change by themselves: an upload or import is under way somewhere.
TRANSIENT_STATUSES: frozenset[str] = frozenset({ImageStatus.SAVING, ImageStatus.UPLOADING, ImageStatus.IMPORTING})

_UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
#: Characters that make a name mean something else to a terminal, a header or a JSON patch.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def is_image_id(value: object) -> bool:
    """Whether `value` is a UUID, exactly (no trailing newline): ids name files in a dump and
    segments of request paths, so nothing else is accepted."""
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


def id_order(image_id: str) -> str:
    """The key a store sorts its images by, as Glance does: lower-case UUIDs order the same in
    every database collation (ids with capitals are walked apart: `engine.march`)."""
    return image_id.lower()


def not_ours(held: ImageRecord, owner: str | None, mark: tuple[str, str] | None) -> str | None:
    """Why the target image `held` is not ours to write data or metadata into, or None.

    Ours is an image that carries our mark (`mark`: the property and its value), or whose owner
    is the `owner` we would give it. Anything else under our id (a target tenant may create an
    image under any id first) is someone else's: filling it would hand them the source's data.
    Without an owner to give (`-D owner`, an owner with no counterpart) only the mark tells.
    """
    if mark is not None and held.attributes.get(mark[0]) == mark[1]:
        return None
    found = held.attributes.get("owner")
    if owner and found == owner:
        return None
    by = f"owned by {found}" if found else "with no owner"
    wanted = f"not by {owner}" if owner else "and no owner is given to copies"
    return f"the target image is {by} ({wanted}) and carries no mark of this mirror: not ours, not written"


def property_name_problem(key: str) -> str | None:
    """Why a property name could mean something else to a server, or None when it is plain.

    Glance strips whitespace from JSON-patch path tokens but not from names at creation, so
    `"visibility "` would be created as a custom property and later patched as `visibility`;
    control characters mean something else in headers, logs and terminals.
    """
    plain = key == key.strip()
    if plain and key.isprintable():
        return None  # the common case, decided in C: every control character is unprintable
    if not plain:
        return f"property name {key!r} has surrounding whitespace"
    if _CONTROL.search(key):
        return f"property name {key!r} holds a control character"
    return None


def is_replicable(key: str) -> bool:
    """Whether a client may set `key`, so it is copied and compared."""
    return key not in _NOT_REPLICABLE and not key.startswith(RESERVED_PREFIX)


#: What `is_replicable` refuses by name; `record_from_v2` tests it inline, once per key of every
#: record listed (a function call there was a sixth of a compare's CPU).
_NOT_REPLICABLE = READ_ONLY | DUMP_ONLY

#: Names `property_name_problem` found plain, so that `all_plain_names` decides most records
#: with one subset test; bounded, since a hostile server can send any number of names.
_PLAIN_NAMES: set[str] = set()
_PLAIN_NAMES_KEPT = 10_000


def all_plain_names(keys: Iterable[str]) -> bool:
    """Whether no name in `keys` has a `property_name_problem`."""
    if _PLAIN_NAMES.issuperset(keys):
        return True
    for key in keys:
        if key not in _PLAIN_NAMES:
            if property_name_problem(key):
                return False
            if len(_PLAIN_NAMES) < _PLAIN_NAMES_KEPT:
                _PLAIN_NAMES.add(key)
    return True


@dataclass(frozen=True)
class ImageRecord:
    """One image as any store sees it.

    `attributes` holds the settable attributes in v2 form (base ones and custom properties,
    flat). `size`, `checksum` (md5) and `hash_algo`/`hash_value` describe the data and are
    used to verify every copy. `raw` keeps the record as the store returned it, so a dump can
    write it back unchanged.
    """

    id: str
    status: str
    attributes: Mapping[str, Any]
    size: int | None = None
    checksum: str | None = None
    hash_algo: str | None = None
    hash_value: str | None = None
    #: (member project, status) pairs, sorted; None when not known (not fetched, or a v1 dump).
    members: tuple[tuple[str, str], ...] | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    #: Why the store cannot serve this image as a source (a dump record whose data file is
    #: missing); the plan reports it as a failed image instead of copying an empty one.
    problem: str | None = None
    #: Between two clouds (`projects`): the source owner that has no counterpart on the target
    #: (then `attributes` holds no owner), and the members left out for the same reason.
    unmapped_owner: str | None = None
    unmapped_members: tuple[str, ...] = ()
    #: Properties of the source image that are never copied because of their name (`DROPPED_NAMES`).
    dropped: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return str(self.attributes.get("name") or "")

    @property
    def unmapped_projects(self) -> tuple[str, ...]:
        """The source projects this record names that have no counterpart on the target."""
        return ((self.unmapped_owner,) if self.unmapped_owner is not None else ()) + self.unmapped_members

    @property
    def has_readable_data(self) -> bool:
        return self.status in READABLE_STATUSES

    def replicated(self, excluded: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The attributes to copy or compare, less those the user excluded."""
        return {k: v for k, v in self.attributes.items() if k not in excluded}


class RecordError(ValueError):
    """A record a server or a dump wrote that is no image record (a field of the wrong type, an
    id that is no UUID). The decoders raise only this for bad input, and their callers catch only
    this: any other error in a decoder is a bug of ours, never reported as a bad record."""


def record_from_v2(raw: Mapping[str, Any], *, no_members: bool = False) -> ImageRecord:
    """Map a Glance v2 image record (as the API or our dump writes it) to an `ImageRecord`;
    RecordError for one that is not. `no_members`: the caller knows the image has none (a v2
    listing's image that is not `shared`), so the record says so from the start rather than
    being copied once more to say it."""
    if not isinstance(raw, Mapping):
        raise RecordError(f"not an object: {str(raw)[:40]!r}")
    if not is_image_id(raw.get("id")):
        raise RecordError(f"image id {raw.get('id')!r} is not a UUID")
    excluded, reserved = _NOT_REPLICABLE, RESERVED_PREFIX  # is_replicable, inline
    attributes = without_null_properties(
        {k: v for k, v in raw.items() if k not in excluded and not k.startswith(reserved)}
    )
    members = members_from(raw["members"]) if isinstance(raw.get("members"), list) else None
    return ImageRecord(
        id=str(raw["id"]),
        status=str(raw.get("status") or ImageStatus.QUEUED),
        attributes=attributes,
        size=int_or_none(raw.get("size")),
        checksum=text_or_none(raw, "checksum"),
        hash_algo=text_or_none(raw, "os_hash_algo"),
        hash_value=text_or_none(raw, "os_hash_value"),
        members=() if no_members else members,
        raw=dict(raw),
        # A dump's own `members` is the list it writes; any other value is the image's property.
        dropped=tuple(
            sorted(k for k in DROPPED_NAMES & raw.keys() if not (k == "members" and isinstance(raw[k], list)))
        ),
    )


def without_null_properties(attributes: dict[str, Any]) -> dict[str, Any]:
    """`attributes` less the custom properties set to null: Glance cannot create one (a null is
    left out at creation), so a null and an absent property are the same thing to compare."""
    return {k: v for k, v in attributes.items() if v is not None or k in SETTABLE_BASE}


def members_from(entries: list[Any]) -> tuple[tuple[str, str], ...]:
    """Glance's member records (`member_id`, `status`) as sorted pairs; RecordError for an entry
    that is not one."""
    pairs = []
    for entry in entries:
        if not isinstance(entry, Mapping) or "member_id" not in entry:
            raise RecordError(f"a member entry is not a member record: {str(entry)[:40]!r}")
        pairs.append((str(entry["member_id"]), str(entry.get("status", "pending"))))
    return tuple(sorted(pairs))


def text_or_none(raw: Mapping[str, Any], key: str) -> str | None:
    """A hash or checksum field: text, or absent; anything else is no record Glance writes."""
    value = raw.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RecordError(f"{key} is not text: {str(value)[:40]!r}")
    return value


def int_or_none(value: Any, key: str = "size") -> int | None:
    """A whole-number field (a size, `min_ram`): a number or its digits, zero or more, or absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RecordError(f"{key} is not a number: {str(value)[:40]!r}")
    try:
        number = int(value)
    except (ValueError, OverflowError) as exc:  # int() of these three types fails only so
        raise RecordError(f"{key} is not a whole number: {str(value)[:40]!r}") from exc
    if number < 0:
        raise RecordError(f"{key} {number} is negative, and no size or count is")
    return number
