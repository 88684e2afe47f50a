"""The v1 record codec: a v1 listing's JSON and a v1 image's `x-image-meta-*` headers to and
from the neutral record.

Apart from the v1 store because the dump directory reads the old glance-replicator's dumps
(v1 records) with it too, and a store should not import another store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from replicator.model.records import (
    SETTABLE_BASE,
    ImageRecord,
    RecordError,
    int_or_none,
    is_image_id,
    is_replicable,
    text_or_none,
    without_null_properties,
)
from replicator.model.untrusted import header_problem

META = "x-image-meta-"
PROPERTY = "x-image-meta-property-"
#: Tells a v1 `PUT` that the properties it names are all the image keeps.
PURGE_PROPS = "x-glance-registry-purge-props"
#: v1's own settable attributes: everything else a record carries travels as a property.
V1_BASE = frozenset({"name", "disk_format", "container_format", "min_ram", "min_disk", "owner", "protected"})
#: v2 attributes a v1 Glance has no place for.
NOT_HELD = frozenset({"tags", "os_hidden"})
#: The v2 status every v1 member reads as (see the module docstring).
MEMBER_STATUS = "accepted"
#: v1 headers whose values are numbers or booleans in its JSON listing.
_INTEGERS = ("size", "virtual_size", "min_ram", "min_disk")
_BOOLEANS = ("is_public", "protected", "deleted")
#: What a header name may hold (RFC 9110 `token`): anything else would end the header, start
#: another, or be read as another property.
_HEADER_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def member_ids(body: Any) -> tuple[tuple[str, str], ...] | None:
    entries = body.get("members") if isinstance(body, dict) else None
    if not isinstance(entries, list) or not all(
        isinstance(entry, dict) and isinstance(entry.get("member_id"), str) for entry in entries
    ):
        return None
    return tuple((entry["member_id"], MEMBER_STATUS) for entry in entries)


def with_members(record: ImageRecord, member_ids: Sequence[str]) -> ImageRecord:
    """`record` (from a v1 listing) with its members, in v2 terms: a non-public image with
    members is `shared`, every member `accepted`."""
    members = tuple(sorted((member, MEMBER_STATUS) for member in set(member_ids)))
    attributes = dict(record.attributes)
    if members and attributes.get("visibility") == "private":
        attributes["visibility"] = "shared"
    return replace(record, attributes=attributes, members=members)


def held_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """v2-form attributes as a v1 Glance keeps them (and gives them back in its listing).

    A custom property whose name v1 folds into one of the base attributes' (`Name`, `MIN-RAM`)
    is left out (`folded_away`): sent, it would come back as no property at all, and held, it
    would stand in for the attribute itself."""
    held = {}
    away = set(folded_away(attributes))
    for key, value in attributes.items():
        if key in NOT_HELD or key in away:
            continue
        if key == "visibility":
            value = "public" if value == "public" else "private"  # v1 knew only is_public
        elif key not in SETTABLE_BASE:
            key = _folded(key)
        held[key] = value
    return held


def folded_away(attributes: Mapping[str, Any]) -> tuple[str, ...]:
    """The custom property names a v1 Glance cannot keep apart from its base attributes: v1
    carries a property in a header name, which it reads case-folded, `-` as `_`."""
    return tuple(sorted(key for key in attributes if key not in SETTABLE_BASE and _folded(key) in SETTABLE_BASE))


def _folded(key: str) -> str:
    return key.lower().replace("-", "_")  # v1 read property names from header names so


def to_headers(attributes: Mapping[str, Any]) -> dict[str, str]:
    """v2-form attributes as v1 request headers: `visibility` becomes `is_public`, custom
    properties `x-image-meta-property-*`; what v1 cannot hold is left out. An unset value
    (None) is sent empty, which v1 reads as unset.

    RecordError for a name or value no header can carry (a line break, a colon)."""
    headers = {}
    for key, value in attributes.items():
        if key in NOT_HELD:
            continue
        if key == "visibility":
            headers[META + "is_public"] = str(value == "public")
        elif key in V1_BASE:
            headers[META + key] = _header_value(key, value)
        elif key not in SETTABLE_BASE:
            if not _HEADER_TOKEN.fullmatch(key):
                raise RecordError(
                    f"property name {key!r} cannot be a v1 header name (it holds a character "
                    "a header name cannot carry)"
                )
            headers[PROPERTY + key] = _header_value(key, value)
    return headers


def v1_from_headers(headers: Mapping[str, str]) -> dict[str, Any]:
    """A v1 record (as its listing gives it) from the headers of a `HEAD` or `GET`."""
    record: dict[str, Any] = {"properties": {}}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith(PROPERTY):
            record["properties"][lowered[len(PROPERTY) :]] = value
        elif lowered.startswith(META):
            key = lowered[len(META) :]
            record[key] = int(value) if key in _INTEGERS and value.isdigit() else value
            if key in _BOOLEANS:
                record[key] = value.strip().lower() == "true"
    return record


def is_v1_record(raw: Mapping[str, Any]) -> bool:
    """Whether a record has the v1 shape (the old glance-replicator's dumps, a v1 listing)."""
    return isinstance(raw.get("properties"), dict) or "is_public" in raw


def record_from_v1(raw: Mapping[str, Any]) -> ImageRecord:
    """Map a v1 record (nested `properties`, `is_public`) onto v2 attributes.

    v1 had no `visibility`: `is_public` true means public, false private. v1 custom
    properties sit in `properties`; v2 keeps them at the top level.
    """
    if not isinstance(raw, Mapping):
        raise RecordError(f"not an object: {str(raw)[:40]!r}")
    if not is_image_id(raw.get("id")):
        raise RecordError(f"image id {raw.get('id')!r} is not a UUID")
    attributes: dict[str, Any] = {}
    for key in ("name", "disk_format", "container_format", "owner"):
        if key in raw:
            attributes[key] = raw[key]
    for key in ("min_ram", "min_disk"):
        if raw.get(key) is not None:
            attributes[key] = int_or_none(raw[key], key)
    if "protected" in raw:
        attributes["protected"] = _v1_bool(raw["protected"])
    if "is_public" in raw:
        attributes["visibility"] = "public" if _v1_bool(raw["is_public"]) else "private"
    properties = raw.get("properties") or {}
    if not isinstance(properties, Mapping):
        raise RecordError(f"properties are not an object: {str(properties)[:40]!r}")
    for key, value in properties.items():
        if is_replicable(str(key)) and key not in SETTABLE_BASE:
            attributes[key] = value
    if raw.get("tags"):
        if not isinstance(raw["tags"], list):
            raise RecordError(f"tags are not a list: {str(raw['tags'])[:40]!r}")
        attributes["tags"] = list(raw["tags"])
    return ImageRecord(
        id=str(raw["id"]),
        status=str(raw.get("status") or "queued"),
        attributes=without_null_properties(attributes),
        size=int_or_none(raw.get("size")),
        checksum=text_or_none(raw, "checksum"),
        raw=dict(raw),
    )


def _header_value(key: str, value: Any) -> str:
    """A value as v1 carries it: a string (v1 properties had no other type)."""
    text = "" if value is None else value if isinstance(value, str) else str(value)
    problem = header_problem(text)
    if problem:
        raise RecordError(f"attribute {key!r} {problem}, which a v1 header cannot carry")
    return text


def _v1_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)
