"""The neutral image record, and the rules for which attributes are replicated.

Every store maps its own format (a Glance v2 JSON record, a v1 record with nested
`properties`, a dump file) to an `ImageRecord`, so the engine compares and copies images
without knowing where they live.

Which attributes are replicated (the one documented list):
- every attribute a client may set on a Glance v2 image: the base attributes in
  `SETTABLE_BASE` and every custom property (any other top-level key);
- never the attributes Glance computes itself (`READ_ONLY`), nor the ones reserved for its
  own use (`os_glance_*`), nor what the user names in `--dontreplicate`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

#: Attributes Glance computes or owns; sending one on create answers 403 "read-only".
READ_ONLY: frozenset[str] = frozenset(
    {
        "id", "status", "created_at", "updated_at", "size", "virtual_size", "checksum",
        "os_hash_algo", "os_hash_value", "direct_url", "locations", "file", "schema", "self",
        "stores",
        # v1 and dump-only fields that have no settable v2 counterpart.
        "deleted", "deleted_at", "location",
    }
)

#: Keys our dumps add beside the Glance record; never image attributes.
DUMP_ONLY: frozenset[str] = frozenset({"members"})

#: The name `--dontreplicate` takes to leave image members (sharing) alone.
MEMBERS = "members"

#: Base attributes of a v2 image that a client may set; all other settable keys are
#: custom properties, which Glance keeps at the top level of the record.
SETTABLE_BASE: frozenset[str] = frozenset(
    {
        "name", "disk_format", "container_format", "visibility", "protected", "min_ram",
        "min_disk", "tags", "os_hidden", "owner",
    }
)

#: Prefix Glance reserves for properties it sets itself (import plugins, stores).
RESERVED_PREFIX = "os_glance_"

#: Statuses in which an image's data is there to be copied. A deactivated image's data can be
#: read by an admin only; for others the download answers 403 and that image fails.
READABLE_STATUSES: frozenset[str] = frozenset({"active", "deactivated"})

#: Statuses that will change by themselves: an upload or import is under way somewhere.
TRANSIENT_STATUSES: frozenset[str] = frozenset({"saving", "uploading", "importing"})

_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")


def is_image_id(value: object) -> bool:
    """Whether `value` is a UUID: ids name files in a dump, so nothing else is accepted."""
    return isinstance(value, str) and bool(_UUID.match(value))


def is_replicable(key: str) -> bool:
    """Whether a client may set `key`, so it is copied and compared."""
    return key not in READ_ONLY and key not in DUMP_ONLY and not key.startswith(RESERVED_PREFIX)


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

    @property
    def name(self) -> str:
        return str(self.attributes.get("name") or "")

    @property
    def has_readable_data(self) -> bool:
        return self.status in READABLE_STATUSES

    def replicated(self, excluded: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The attributes to copy or compare, less those the user excluded."""
        return {k: v for k, v in self.attributes.items() if k not in excluded}


def record_from_v2(raw: Mapping[str, Any]) -> ImageRecord:
    """Map a Glance v2 image record (as the API or our dump writes it) to an `ImageRecord`."""
    if not is_image_id(raw.get("id")):
        raise ValueError(f"image id {raw.get('id')!r} is not a UUID")
    attributes = {k: v for k, v in raw.items() if is_replicable(k)}
    return ImageRecord(
        id=str(raw["id"]),
        status=str(raw.get("status") or "queued"),
        attributes=attributes,
        size=_int_or_none(raw.get("size")),
        checksum=raw.get("checksum") or None,
        hash_algo=raw.get("os_hash_algo") or None,
        hash_value=raw.get("os_hash_value") or None,
        members=members_from(raw["members"]) if isinstance(raw.get("members"), list) else None,
        raw=dict(raw),
    )


def members_from(entries: list[Any]) -> tuple[tuple[str, str], ...]:
    """Glance's member records (`member_id`, `status`) as sorted pairs."""
    return tuple(sorted((str(e["member_id"]), str(e.get("status", "pending"))) for e in entries))


def is_v1_record(raw: Mapping[str, Any]) -> bool:
    """Whether a dumped record has the v1 shape the old glance-replicator wrote."""
    return isinstance(raw.get("properties"), dict) or "is_public" in raw


def record_from_v1(raw: Mapping[str, Any]) -> ImageRecord:
    """Map a v1 record (nested `properties`, `is_public`) onto v2 attributes.

    v1 had no `visibility`: `is_public` true means public, false private. v1 custom
    properties sit in `properties`; v2 keeps them at the top level.
    """
    if not is_image_id(raw.get("id")):
        raise ValueError(f"image id {raw.get('id')!r} is not a UUID")
    attributes: dict[str, Any] = {}
    for key in ("name", "disk_format", "container_format", "owner"):
        if key in raw:
            attributes[key] = raw[key]
    for key in ("min_ram", "min_disk"):
        if raw.get(key) is not None:
            attributes[key] = int(raw[key])
    if "protected" in raw:
        attributes["protected"] = _v1_bool(raw["protected"])
    if "is_public" in raw:
        attributes["visibility"] = "public" if _v1_bool(raw["is_public"]) else "private"
    properties = raw.get("properties") or {}
    for key, value in properties.items():
        if is_replicable(key) and key not in SETTABLE_BASE:
            attributes[key] = value
    if raw.get("tags"):
        attributes["tags"] = list(raw["tags"])
    return ImageRecord(
        id=str(raw["id"]),
        status=str(raw.get("status") or "queued"),
        attributes=attributes,
        size=_int_or_none(raw.get("size")),
        checksum=raw.get("checksum") or None,
        raw=dict(raw),
    )


def record_from_dump(raw: Mapping[str, Any]) -> ImageRecord:
    """A dumped record in either shape: ours (v2) or the old tool's (v1)."""
    return record_from_v1(raw) if is_v1_record(raw) else record_from_v2(raw)


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)


def _v1_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)
