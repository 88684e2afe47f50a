"""The image schema Glance enforces: which attributes a client may set, and to what.

Glance checks a request in two passes, and the order shows in its answers: values are
validated against the schema first (400), then read-only and reserved attributes are refused
(403). Custom properties must be strings; base attributes have their own types.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from replicator.server.problems import Problem

#: Attributes only Glance sets: a client sending one gets 403 "read-only".
READ_ONLY = frozenset(
    {
        "status", "created_at", "updated_at", "size", "virtual_size", "checksum",
        "direct_url", "self", "file", "schema", "stores",
    }
)  # fmt: skip

#: Accepted on create and then dropped (Glance computes them from the data); read-only later.
IGNORED_ON_CREATE = frozenset({"os_hash_algo", "os_hash_value"})

#: Attributes Glance keeps for itself: 403 "reserved".
RESERVED = frozenset({"locations", "deleted", "deleted_at"})

VISIBILITIES = ("public", "private", "shared", "community")
DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")

#: The base attributes every record carries, with the value of a new image.
BASE_DEFAULTS: dict[str, Any] = {
    "name": None, "disk_format": None, "container_format": None, "visibility": "shared",
    "size": None, "virtual_size": None, "status": "queued", "checksum": None,
    "protected": False, "min_ram": 0, "min_disk": 0, "owner": None, "os_hidden": False,
    "os_hash_algo": None, "os_hash_value": None, "tags": [],
}  # fmt: skip

#: Attributes that cannot be removed with a JSON-patch `remove`.
BASE_ATTRIBUTES = frozenset(BASE_DEFAULTS) | {"id", "created_at", "updated_at", "self", "file", "schema"}

#: Glance v2's `id` pattern, matched in full: `$` alone would also pass an id that ends in a
#: line break (real Glance then stores it and answers 500 on its own `Location` header).
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
MAX_STRING = 255


def now() -> str:
    """Glance's timestamp format: UTC, whole seconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def check_id(value: Any) -> None:
    """Glance v2's rule for a caller's image id: the UUID pattern, dashes included."""
    if not (isinstance(value, str) and _UUID.fullmatch(value)):
        raise Problem(400, f"Provided object does not match schema 'image': {value!r} is not a 'uuid'")


def is_uuid_like(value: Any) -> bool:
    """Glance v1's rule for ids (oslo's `is_uuid_like`): anything `uuid.UUID` reads back as
    itself, dashes, braces and upper case allowed."""
    if not isinstance(value, str):
        return False
    bare = value.replace("urn:", "").replace("uuid:", "").strip("{}").replace("-", "").lower()
    try:
        return uuid.UUID(value).hex == bare
    except ValueError:
        return False


def check_uuid_like(value: Any) -> None:
    if not is_uuid_like(value):
        raise Problem(400, "Invalid image id format")


def new_record(body: dict[str, Any], owner: str, id_rule: Callable[[Any], None] = check_id) -> dict[str, Any]:
    """The record of an image created from a `POST /v2/images` body (v1 creates through it too,
    with its own `id_rule`)."""
    if not isinstance(body, dict):
        raise Problem(400, "Image body must be a JSON object.")
    image_id = body.get("id")
    if image_id is not None:
        id_rule(image_id)
    for key, value in body.items():
        if key != "id":
            check_value(key, value)
    for key in body:
        if key != "id":
            check_settable(key, creating=True)
    if image_id is None:
        image_id = str(uuid.uuid4())
    stamp = now()
    record: dict[str, Any] = {**BASE_DEFAULTS, "owner": owner, "id": image_id}
    for key, value in body.items():
        if key not in IGNORED_ON_CREATE and key != "id":
            record[key] = unique_tags(value) if key == "tags" else value
    record.update(created_at=stamp, updated_at=stamp)
    return record


def check_settable(key: str, *, creating: bool = False) -> None:
    """Refuse attributes a client may not set: 403, like Glance."""
    if key in RESERVED:
        raise Problem(403, f"Attribute '{key}' is reserved.")
    if key in READ_ONLY or key == "id" or (key in IGNORED_ON_CREATE and not creating):
        raise Problem(403, f"Attribute '{key}' is read-only.")
    if key.startswith("os_glance"):
        raise Problem(403, f"Attribute '{key}' is reserved.")


def check_value(key: str, value: Any) -> None:
    """Validate one value against the image schema: 400 when it does not fit."""
    if key in READ_ONLY or key in RESERVED:
        return  # refused later with 403, whatever the value
    if len(key) > MAX_STRING:
        raise _invalid(key, value, "a property name of at most 255 characters")
    expected = _BASE_TYPES.get(key)
    if expected is None:
        if not isinstance(value, str):
            raise _invalid(key, value, "a string")
        return
    description, accepts = expected
    if not accepts(value):
        raise _invalid(key, value, description)


def _invalid(key: str, value: Any, description: str) -> Problem:
    return Problem(400, f"Provided object does not match schema 'image': {value!r} for '{key}' is not {description}")


def _optional_string(value: Any) -> bool:
    return value is None or (isinstance(value, str) and len(value) <= MAX_STRING)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _tags(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(t, str) and len(t) <= MAX_STRING for t in value)


_BASE_TYPES: dict[str, tuple[str, Any]] = {
    "name": ("a string or null", _optional_string),
    "owner": ("a string or null", _optional_string),
    "visibility": (f"one of {VISIBILITIES}", lambda v: v in VISIBILITIES),
    "protected": ("a boolean", lambda v: isinstance(v, bool)),
    "os_hidden": ("a boolean", lambda v: isinstance(v, bool)),
    "min_ram": ("an integer of at least 0", _count),
    "min_disk": ("an integer of at least 0", _count),
    "disk_format": (f"null or one of {DISK_FORMATS}", lambda v: v is None or v in DISK_FORMATS),
    "container_format": (f"null or one of {CONTAINER_FORMATS}", lambda v: v is None or v in CONTAINER_FORMATS),
    "tags": ("a list of strings", _tags),
    "os_hash_algo": ("a string or null", _optional_string),
    "os_hash_value": ("a string or null", _optional_string),
}


def unique_tags(tags: list[str]) -> list[str]:
    """Glance keeps tags as a set: duplicates collapse."""
    return list(dict.fromkeys(tags))


def apply_patch(record: dict[str, Any], operations: Any) -> dict[str, Any]:
    """A copy of `record` with JSON-patch `operations` applied, checked as Glance checks them.

    `add` sets a property whether or not it exists (JSON-patch semantics at the top level);
    `replace` and `remove` need it to exist (409 otherwise).
    """
    if not isinstance(operations, list):
        raise Problem(400, "Request body must be a JSON array of operation objects.")
    updated = dict(record)
    for operation in operations:
        op, key, value = _operation(operation)
        if op == "remove":
            check_settable(key)
            if key in BASE_ATTRIBUTES:
                raise Problem(403, f"Attribute '{key}' is read-only.")
            if key not in updated:
                raise Problem(409, f"Property {key} does not exist.")
            del updated[key]
            continue
        check_value(key, value)
        check_settable(key)
        if op == "replace" and key not in updated:
            raise Problem(409, f"Property {key} does not exist.")
        updated[key] = unique_tags(value) if key == "tags" else value
    return updated


def _operation(operation: Any) -> tuple[str, str, Any]:
    if not isinstance(operation, dict):
        raise Problem(400, "Operations must be JSON objects.")
    op, path = operation.get("op"), operation.get("path")
    if op not in ("add", "replace", "remove"):
        raise Problem(400, f'Operation objects must contain exactly one of "add", "remove", or "replace"; got {op!r}.')
    if not isinstance(path, str) or not path.startswith("/") or len(path) < 2 or "/" in path[1:]:
        raise Problem(400, f"Unable to find '{path}' in JSON Schema change")
    if op != "remove" and "value" not in operation:
        raise Problem(400, f'Operation "{op}" requires a member named "value".')
    key = path[1:].replace("~1", "/").replace("~0", "~")
    return op, key, operation.get("value")
