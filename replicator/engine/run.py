"""The five commands as one engine: list both stores, plan, and (for copies) execute."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from replicator.engine.events import EventSink, ImageResult, RunPlanned, ignore
from replicator.engine.actions import Action
from replicator.engine.plan import plan, totals
from replicator.engine.transfer import Transfer
from replicator.records import ImageRecord
from replicator.selection import Selection, select
from replicator.settings import Settings
from replicator.stores.base import ImageStore


@dataclass(frozen=True)
class Inventory:
    """What `size` reports: the active images and the bytes a dump would take, and how many
    images were listed in all (whatever their status) with their ids."""

    images: int
    bytes: int
    listed: int = 0
    ids: frozenset[str] = frozenset()


def inventory(records: list[ImageRecord]) -> Inventory:
    active = [r for r in records if r.status == "active"]
    return Inventory(images=len(active), bytes=sum(r.size or 0 for r in active), listed=len(records),
                     ids=frozenset(r.id for r in records))


async def measure(source: ImageStore, selection: Selection | None = None) -> Inventory:
    return inventory(select(await source.list_images(), selection or Selection()))


async def compare(source: ImageStore, target: ImageStore, settings: Settings) -> list[Action]:
    """The plan a copy would follow, for reporting: what is missing and what differs."""
    source_records, target_records = await asyncio.gather(source.list_images(), target.list_images())
    # Compared as the target would hold them: what it cannot express is neither copied nor a difference.
    wanted = [target.as_held(record) for record in select(source_records, settings.selection)]
    return plan(wanted, target_records, settings)


async def replicate(
    source: ImageStore, target: ImageStore, settings: Settings, emit: EventSink = ignore
) -> list[ImageResult]:
    """Bring `target` in line with `source`: create, upload and update what the plan says."""
    actions = await compare(source, target, settings)
    images, size = totals(actions)
    emit(RunPlanned(tuple(actions), images, size))
    return await Transfer(source, target, settings, emit).run(actions)
