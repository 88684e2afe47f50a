"""The store contract (rclone's fstests): one set of tests that every `ImageStore` passes.

The engine plans and copies against `stores/base.ImageStore` only, so what it relies on is
written here once, as calls on the protocol, and run against each store: Glance v2 and Glance
v1 on the built-in server (in process), the dump directory, and real Glance 33 (marked
`realglance`). A new store is one more parameter of the `contract` fixture.

Only the core of the protocol is required; the optional protocols (`Deactivator`, found by
`isinstance`) and members (by `hasattr`) are tested where a store has them, and skipped where
it has not.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from replicator.engine.plan import attribute_changes
from replicator.model.changes import MISSING, MemberChange
from replicator.model.records import DELETED_STATUSES, ImageRecord, id_order, record_from_v2
from replicator.model.settings import Settings
from replicator.openstack.connect import Side, open_glance
from replicator.stores.base import Deactivator, ImageStore
from replicator.stores.dumpdir import DumpDirStore
from tests.support.servers import ReplicatorServe

#: Small chunks, so that a read is several chunks and a reopen lands inside the data.
CHUNK = 4096


@dataclass
class Contract:
    """A store under test, and what the suite needs to know of it."""

    kind: str
    store: ImageStore


@pytest.fixture(params=["v2", "v1", "dumpdir", pytest.param("real-v2", marks=pytest.mark.realglance)])
async def contract(
    request: pytest.FixtureRequest, start_serve: Callable[..., ReplicatorServe], tmp_path: Path
) -> AsyncIterator[Contract]:
    settings = Settings(chunk_size=CHUNK, retries=0)
    store: ImageStore
    if request.param == "dumpdir":
        store = DumpDirStore(tmp_path / "dump", settings, create=True)
    else:
        if request.param == "real-v2":
            url = request.getfixturevalue("real_glance").url
        else:
            url = start_serve("--api", request.param).url
        store = await open_glance(Side(url, api_version=request.param[-1]), settings, warn=lambda message: None)
    try:
        yield Contract(request.param, store)
    finally:
        await store.close()


def new_id() -> str:
    return str(uuid.uuid4())


def source_image(image_id: str | None = None, data: bytes | None = None, **attributes: Any) -> ImageRecord:
    """An image as a Glance v2 source lists it (the neutral form), active when it has data."""
    raw: dict[str, Any] = {
        "id": image_id or new_id(),
        "status": "queued" if data is None else "active",
        "name": "contract",
        "disk_format": "raw",
        "container_format": "bare",
        "visibility": "private",
        **attributes,
    }
    if data is not None:
        raw |= {
            "size": len(data),
            "checksum": hashlib.md5(data).hexdigest(),
            "os_hash_algo": "sha512",
            "os_hash_value": hashlib.sha512(data).hexdigest(),
        }
    return record_from_v2(raw)


async def put(store: ImageStore, image: ImageRecord, data: bytes | None = None) -> ImageRecord:
    """Create `image` in `store` as the engine does (the store's form of it), with its data."""
    held = store.as_held(image)
    await store.create_image(held, {k: v for k, v in held.attributes.items() if v is not None})
    if data is not None:
        await store.write_data(held, chunks(data))
    return held


async def chunks(data: bytes, size: int = CHUNK) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def listed(store: ImageStore) -> list[ImageRecord]:
    return [record async for record in store.walk()]


async def listed_by_id(store: ImageStore) -> dict[str, ImageRecord]:
    return {record.id: record for record in await listed(store)}


async def read_all(store: ImageStore, image: ImageRecord, offset: int = 0) -> bytes:
    return b"".join([chunk async for chunk in store.read_data(image, offset)])


# --- walk ----------------------------------------------------------------------------------------


async def test_walk_lists_every_image_once_in_id_order(contract: Contract) -> None:
    store = contract.store
    ids = [new_id() for _ in range(7)]
    for image_id in ids:
        await put(store, source_image(image_id))

    walked = [record.id for record in await listed(store)]

    assert sorted(walked) == sorted(ids)
    assert walked == sorted(walked, key=id_order)


def case_twins_case(kind: str) -> Any:
    """The case-twin test on every store (issue 20 item 1: ids are equal only when byte-equal)."""
    return pytest.param(kind, marks=[pytest.mark.realglance] if kind == "real-v2" else [])


@pytest.mark.parametrize(
    "contract", [case_twins_case(kind) for kind in ("v2", "v1", "dumpdir", "real-v2")], indirect=True
)
async def test_ids_that_differ_only_in_letter_case_are_two_images(contract: Contract) -> None:
    store = contract.store
    lower = new_id()
    while lower == lower.upper():  # all digits: no letter to change (rare)
        lower = new_id()
    upper = lower.upper()
    for image_id, name in ((lower, "lower"), (upper, "upper")):
        await put(store, source_image(image_id, name=name))

    walked = await listed(store)

    assert sorted((record.id, record.name) for record in walked) == sorted([(lower, "lower"), (upper, "upper")])


# --- data ----------------------------------------------------------------------------------------


async def test_an_image_created_then_written_is_held_whole(contract: Contract) -> None:
    store = contract.store
    data = os.urandom(3 * CHUNK + 123)
    image = source_image(data=data)
    assert await store.stat(image) is None

    held = await put(store, image, data)
    copy = await store.stat(held)

    assert copy is not None and copy.id == image.id
    assert copy.size == len(data)
    # What a store reports of the data must be true; a dump reports its size alone (its hashes
    # were checked in flight).
    assert copy.checksum in (None, image.checksum)
    if copy.hash_value is not None:
        assert (copy.hash_algo, copy.hash_value) == (image.hash_algo, image.hash_value)
    assert (await listed_by_id(store))[image.id].status == "active"


async def test_data_reads_back_whole_and_from_any_offset_after_a_reopen(contract: Contract) -> None:
    store = contract.store
    data = os.urandom(5 * CHUNK + 7)
    image = source_image(data=data)
    await put(store, image, data)
    record = (await listed_by_id(store))[image.id]

    assert await read_all(store, record) == data
    # A read cut off after two chunks, then reopened where it stopped (engine/reopen.py).
    first = store.read_data(record)
    received = [await anext(first), await anext(first)]
    await first.aclose()
    reached = sum(map(len, received))
    assert 0 < reached < len(data)
    assert b"".join(received) + await read_all(store, record, reached) == data
    assert await read_all(store, record, len(data) - 1) == data[-1:]


# --- metadata ------------------------------------------------------------------------------------


async def test_a_copy_reads_back_as_the_store_said_it_would_hold_it(contract: Contract) -> None:
    store = contract.store
    image = source_image(
        name="round trip", tags=["b", "a"], min_ram=512, os_distro="debian", hw_disk_bus="scsi", visibility="shared"
    )
    held = await put(store, image)

    record = (await listed_by_id(store))[image.id]

    # What the plan compares: no difference, so no run would update this copy again.
    assert attribute_changes(held.attributes, record.attributes) == []


@pytest.mark.parametrize(
    "image",
    [
        source_image(tags=["x"], visibility="shared", os_distro="debian", min_disk=3, protected=True),
        source_image(visibility="public", os_hidden=True),
        replace(source_image(visibility="shared"), members=(("p1", "accepted"), ("p2", "pending"))),
        source_image(data=b"data", visibility="community"),
    ],
    ids=["properties and tags", "public and hidden", "members", "with data"],
)
async def test_as_held_is_idempotent(contract: Contract, image: ImageRecord) -> None:
    once = contract.store.as_held(image)
    assert contract.store.as_held(once) == once


async def test_update_metadata_adds_changes_and_removes_properties(contract: Contract) -> None:
    store = contract.store
    image = source_image(name="before", os_distro="debian", color="red", retired="yes")
    await put(store, image)
    current = (await listed_by_id(store))[image.id]

    # The source's record after its owner renamed it, changed a property, added and removed one.
    desired = store.as_held(
        source_image(image.id, name="after", os_distro="debian", color="blue", hw_disk_bus="virtio")
    )
    changes = attribute_changes(desired.attributes, current.attributes)
    assert {(change.key, change.new is MISSING) for change in changes} == {
        ("name", False),
        ("color", False),
        ("hw_disk_bus", False),
        ("retired", True),
    }
    await store.update_metadata(desired, current, changes)

    updated = (await listed_by_id(store))[image.id]
    assert attribute_changes(desired.attributes, updated.attributes) == []
    assert "retired" not in updated.attributes
    assert (updated.name, updated.attributes["os_distro"]) == ("after", "debian")


async def test_members_are_added_and_removed_where_the_store_keeps_them(contract: Contract) -> None:
    store = contract.store
    if not hasattr(store, "apply_members"):
        pytest.skip(f"{contract.kind} keeps no members")
    image = source_image(visibility="shared")
    await put(store, image)

    async def members_held() -> tuple[tuple[str, str], ...] | None:
        record = (await listed_by_id(store))[image.id]
        return (store.known_members(record) or await store.with_members(record)).members

    steps: list[tuple[tuple[tuple[str, str], ...], list[MemberChange]]] = [
        (
            (("p1", "pending"), ("p2", "pending")),
            [MemberChange("p1", MISSING, "pending"), MemberChange("p2", MISSING, "pending")],
        ),
        ((("p2", "pending"),), [MemberChange("p1", "pending", MISSING)]),
    ]
    for members, changes in steps:
        desired = store.as_held(replace(image, members=members))
        await store.apply_members(desired, changes)
        assert await members_held() == desired.members


# --- optional protocols ------------------------------------------------------------------------


async def test_a_deactivator_deactivates_and_reactivates_and_keeps_the_data(contract: Contract) -> None:
    store = contract.store
    if not isinstance(store, Deactivator):
        pytest.skip(f"{contract.kind} is no Deactivator")
    data = os.urandom(CHUNK)
    image = source_image(data=data)
    await put(store, image, data)

    for status in ("deactivated", "active"):
        # The source's record once its status changed, as the engine hands it over.
        await store.set_status(store.as_held(source_image(image.id, data, status=status)), status)
        assert (await listed_by_id(store))[image.id].status == status
    assert await read_all(store, (await listed_by_id(store))[image.id]) == data


# --- delete --------------------------------------------------------------------------------------


async def test_a_deleted_image_is_gone_and_the_others_stay(contract: Contract) -> None:
    store = contract.store
    data = os.urandom(CHUNK)
    doomed, kept = source_image(data=data), source_image(data=data)
    for image in (doomed, kept):
        await put(store, image, data)

    await store.delete_image(store.as_held(doomed))

    after = await store.stat(doomed)
    assert after is None or after.status in DELETED_STATUSES
    assert list(await listed_by_id(store)) == [kept.id]
    assert await read_all(store, (await listed_by_id(store))[kept.id]) == data
