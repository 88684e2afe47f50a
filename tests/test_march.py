"""The march: two id-ordered listings walked side by side, each id handed out once."""

from __future__ import annotations

import pytest

from replicator.engine.march import march
from replicator.model.errors import ErrorKind, RunError
from replicator.model.records import ImageRecord


def record(image_id: str) -> ImageRecord:
    return ImageRecord(id=image_id, status="active", attributes={})


def ids(*digits: str) -> list[ImageRecord]:
    return [record(f"{d * 8}-{d * 4}-{d * 4}-{d * 4}-{d * 12}") for d in digits]


async def stream(records: list[ImageRecord]):
    for item in records:
        yield item


async def walked(source: list[ImageRecord], target: list[ImageRecord], **kwargs) -> list[tuple[str, str]]:
    pairs = []
    async for pair in march(stream(source), stream(target), **kwargs):
        pairs.append((pair.source.id[0] if pair.source else "-", pair.target.id[0] if pair.target else "-"))
    return pairs


async def test_every_id_once_as_source_only_target_only_or_both():
    pairs = await walked(ids("1", "3", "4", "a"), ids("2", "3", "b"))
    assert pairs == [("1", "-"), ("-", "2"), ("3", "3"), ("4", "-"), ("a", "-"), ("-", "b")]


async def test_empty_sides():
    assert await walked([], ids("1")) == [("-", "1")]
    assert await walked(ids("1"), []) == [("1", "-")]
    assert await walked([], []) == []


async def test_ids_with_capitals_are_paired_apart_whichever_order_the_database_gave_them():
    upper = record("AAAAAAAA-AAAA-AAAA-AAAA-AAAAAAAAAAAA")
    one, two = ids("1", "b")
    # SQLite and PostgreSQL sort bytes ("A" between digits and "b"), MySQL without case ("A" before "b").
    assert await walked([one, upper, two], [upper, one, two]) == [("1", "1"), ("b", "b"), ("A", "A")]
    assert await walked([one, upper], [two]) == [("1", "-"), ("-", "b"), ("A", "-")]


@pytest.mark.parametrize("source", [ids("1", "3", "2"), ids("1", "1")])
async def test_a_listing_out_of_order_or_repeating_stops_the_walk(source):
    with pytest.raises(RunError) as caught:
        await walked(source, [])
    assert caught.value.kind is ErrorKind.PROTOCOL and caught.value.side == "source"


async def test_listing_progress_is_reported_per_side_and_at_the_end():
    seen = []
    await walked(ids("1", "2"), ids("3"), on_listed=lambda side, images, done: seen.append((side, images, done)))
    assert ("source", 2, True) in seen and ("target", 1, True) in seen
