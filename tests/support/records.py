"""Image records as tests compare them: what is settable, and an id that parses."""

from __future__ import annotations

from typing import Any

IMAGE_ID = "0c43eaca-c2a8-4f79-8f2a-b265655883d3"


#: Attributes Glance computes itself; everything else on a record is settable and must match.
COMPUTED = {
    "status",
    "created_at",
    "updated_at",
    "size",
    "virtual_size",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "self",
    "file",
    "schema",
    "stores",
    "direct_url",
    "locations",
}


def settable(record: dict[str, Any]) -> dict[str, Any]:
    """What a copy must reproduce of a v2 record: all but the computed fields, tags as a sorted list."""
    fields = {k: v for k, v in record.items() if k not in COMPUTED and not k.startswith("os_glance_")}
    fields["tags"] = sorted(fields.get("tags", []))
    return fields
