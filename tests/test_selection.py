"""Selection: every filter alone and combined, ordering, and shards that split a migration."""

from __future__ import annotations

import uuid

import pytest

from replicator.cli.parsing import parse_order, parse_shard
from replicator.model.records import ImageRecord
from replicator.model.selection import Selection, shard_of


def image(
    name: str, size: int | None = 100, status: str = "active", created_at: str = "2026-01-01T00:00:00Z", **attributes
) -> ImageRecord:
    attrs = {"name": name, "visibility": "private", "tags": [], "owner": "p1", **attributes}
    return ImageRecord(id=str(uuid.uuid4()), status=status, attributes=attrs, size=size, raw={"created_at": created_at})


IMAGES = [
    image("ubuntu-22.04", 2_000, visibility="public", tags=["os", "lts"], created_at="2026-03-01T00:00:00Z"),
    image("ubuntu-24.04", 3_000, visibility="public", tags=["os"], created_at="2026-05-01T00:00:00Z"),
    image("debian-12", 1_000, visibility="shared", tags=["os", "lts"], owner="p2", created_at="2026-01-01T00:00:00Z"),
    image("scratch", None, status="queued", created_at="2026-02-01T00:00:00Z"),
    image("ubuntu-test", 50, status="deactivated", tags=["test"], created_at="2026-04-01T00:00:00Z"),
]


def select(records: list[ImageRecord], selection: Selection) -> list[ImageRecord]:
    return selection.ordered([record for record in records if selection.keeps(record)], lambda record: record)


def names(selection: Selection) -> list[str]:
    return [record.name for record in select(IMAGES, selection)]


@pytest.mark.parametrize(
    "selection, expected",
    [
        (Selection(), ["ubuntu-22.04", "ubuntu-24.04", "debian-12", "scratch", "ubuntu-test"]),
        (Selection(include=("ubuntu-*",)), ["ubuntu-22.04", "ubuntu-24.04", "ubuntu-test"]),
        (Selection(include=("debian-*", "scratch")), ["debian-12", "scratch"]),
        (Selection(exclude=("*-test", "scratch")), ["ubuntu-22.04", "ubuntu-24.04", "debian-12"]),
        (Selection(ids=frozenset({IMAGES[1].id, IMAGES[3].id})), ["ubuntu-24.04", "scratch"]),
        (Selection(visibility=frozenset({"public"})), ["ubuntu-22.04", "ubuntu-24.04"]),
        (Selection(visibility=frozenset({"shared", "private"})), ["debian-12", "scratch", "ubuntu-test"]),
        (Selection(status=frozenset({"queued", "deactivated"})), ["scratch", "ubuntu-test"]),
        (Selection(tags=frozenset({"lts"})), ["ubuntu-22.04", "debian-12"]),
        (Selection(tags=frozenset({"lts", "os"})), ["ubuntu-22.04", "debian-12"]),
        (Selection(tags=frozenset({"lts", "test"})), []),
        (Selection(owner="p2"), ["debian-12"]),
        (Selection(min_size=1_000), ["ubuntu-22.04", "ubuntu-24.04", "debian-12"]),
        (Selection(max_size=1_000), ["debian-12", "scratch", "ubuntu-test"]),
        (Selection(min_size=1_000, max_size=2_000), ["ubuntu-22.04", "debian-12"]),
        # Combinations: every filter must keep an image.
        (Selection(include=("ubuntu-*",), status=frozenset({"active"})), ["ubuntu-22.04", "ubuntu-24.04"]),
        (Selection(include=("ubuntu-*",), exclude=("*24*",), tags=frozenset({"os"})), ["ubuntu-22.04"]),
        (Selection(visibility=frozenset({"public"}), min_size=2_500), ["ubuntu-24.04"]),
        (Selection(ids=frozenset({IMAGES[0].id}), include=("debian-*",)), []),
    ],
)
def test_filters_keep_exactly_the_matching_images(selection: Selection, expected: list[str]) -> None:
    assert names(selection) == expected


@pytest.mark.parametrize(
    "order, expected",
    [
        ("size,desc", ["ubuntu-24.04", "ubuntu-22.04", "debian-12", "ubuntu-test", "scratch"]),
        ("size", ["scratch", "ubuntu-test", "debian-12", "ubuntu-22.04", "ubuntu-24.04"]),
        ("name", ["debian-12", "scratch", "ubuntu-22.04", "ubuntu-24.04", "ubuntu-test"]),
        ("created_at,desc", ["ubuntu-24.04", "ubuntu-test", "ubuntu-22.04", "scratch", "debian-12"]),
        ("created_at,asc", ["debian-12", "scratch", "ubuntu-22.04", "ubuntu-test", "ubuntu-24.04"]),
    ],
)
def test_order_by(order: str, expected: list[str]) -> None:
    assert names(Selection(order_by=parse_order(order))) == expected


@pytest.mark.parametrize("text", ["size,up", "color", "", "size,desc,more"])
def test_bad_order_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="--order-by"):
        parse_order(text)


@pytest.mark.parametrize("shards", [1, 2, 3, 7, 16])
def test_shards_are_disjoint_and_cover_every_image(shards: int) -> None:
    records = [image(f"i{n}") for n in range(2_000)]
    parts = [select(records, Selection(shard=(k, shards))) for k in range(shards)]
    ids = [record.id for part in parts for record in part]
    assert len(ids) == len(set(ids)) == len(records)
    # Hashing spreads the images: no shard is empty or holds more than twice its share.
    assert all(0 < len(part) < 2 * len(records) / shards for part in parts)


def test_shard_depends_on_the_id_alone() -> None:
    image_id = "0c1b4a5e-58a5-4c1e-9d6b-3c1f2b9c0e11"
    assert shard_of(image_id, 5) == shard_of(image_id.upper(), 5)
    assert shard_of(image_id, 5) == shard_of(image_id, 5)
    assert {shard_of(str(uuid.uuid4()), 4) for _ in range(200)} == {0, 1, 2, 3}


@pytest.mark.parametrize("text", ["1/1", "4/4", "-1/4", "a/4", "1", "1/2/3", "0/0"])
def test_bad_shard_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="--shard"):
        parse_shard(text)


def test_shard_parses_zero_based() -> None:
    assert parse_shard("0/4") == (0, 4) and parse_shard("3/4") == (3, 4)
