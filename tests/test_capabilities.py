"""Optional store capabilities (rclone's optional interfaces): a store that cannot fetch data
itself or deactivate a copy does not implement `Puller` or `Deactivator`, and the engine falls
back (streams the data) or reports that the step cannot be done (the image fails, the run goes on).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from replicator.engine.actions import Action, ActionKind, Outcome
from replicator.engine.events import Event, ImageFetching, ImageFinished, ImageResult
from replicator.engine.transfer import Transfer, cannot_deactivate
from replicator.model.errors import ErrorKind
from replicator.model.settings import Settings
from replicator.openstack.connect import transport_for
from replicator.stores.base import Deactivator, ImageStore, Puller
from replicator.stores.dumpdir import DumpDirStore
from replicator.stores.glance.v1 import GlanceV1Store
from replicator.stores.glance.v2 import GlanceV2Store, PullSource
from tests.support.memory_stores import DATA, MemoryStore, PullingStore, image_record


async def _run(source: ImageStore, target: ImageStore, *actions: Action) -> tuple[list[ImageResult], list[Event]]:
    events: list[Event] = []

    async def work() -> AsyncIterator[Action]:
        for action in actions:
            yield action

    await Transfer(source, target, Settings(concurrency=1, retries=0), events.append).run(work())
    return [event.result for event in events if isinstance(event, ImageFinished)], events


#: mypy holds the test stores to the core protocol.
_CORE: type[ImageStore] = MemoryStore


def test_the_memory_stores_are_what_they_claim() -> None:
    assert not isinstance(MemoryStore(), Puller) and not isinstance(MemoryStore(), Deactivator)
    assert isinstance(PullingStore(), Puller) and isinstance(PullingStore(), Deactivator)


async def test_glance_v1_is_neither_a_puller_nor_a_deactivator() -> None:
    settings = Settings()
    store = GlanceV1Store(transport_for("http://127.0.0.1:9", settings, True, None, None), settings)
    try:
        assert not isinstance(store, Puller)
        assert not isinstance(store, Deactivator)
    finally:
        await store.close()


async def test_a_dump_directory_cannot_pull(tmp_path: Path) -> None:
    directory = tmp_path / "dump"
    directory.mkdir(mode=0o700)
    store = DumpDirStore(directory, Settings(), create=False)
    assert not isinstance(store, Puller)


async def test_glance_v2_pulls_only_when_made_with_a_source() -> None:
    settings = Settings()
    image = image_record()
    plain = GlanceV2Store(transport_for("http://127.0.0.1:9", settings, True, None, None), settings)
    pulling = GlanceV2Store(
        transport_for("http://127.0.0.1:9", settings, True, None, None), settings, pull_from=PullSource("east")
    )
    try:
        assert isinstance(plain, Puller) and isinstance(plain, Deactivator)
        assert not plain.can_pull(image)
        assert pulling.can_pull(image)
    finally:
        await plain.close()
        await pulling.close()


async def test_a_target_that_cannot_pull_gets_the_data_streamed() -> None:
    image = image_record()
    source, target = MemoryStore([image]), MemoryStore()
    [result], events = await _run(source, target, Action(ActionKind.CREATE, image, None, upload=True))
    assert result.result == Outcome.OK, result
    assert target.data[image.id] == DATA and result.bytes == len(DATA)
    assert not [event for event in events if isinstance(event, ImageFetching)]


async def test_a_target_that_can_pull_fetches_the_data_itself() -> None:
    image = image_record()
    source, target = MemoryStore([image]), PullingStore()
    [result], events = await _run(source, target, Action(ActionKind.CREATE, image, None, upload=True))
    assert result.result == Outcome.OK, result
    assert target.pulled == [image.id] and target.written == []
    assert "fetched by the target" in result.reason
    assert any(isinstance(event, ImageFetching) for event in events)


async def test_a_target_that_cannot_deactivate_fails_the_image_saying_so() -> None:
    image = image_record("deactivated")
    source, target = MemoryStore([image]), MemoryStore()
    [result], _ = await _run(
        source, target, Action(ActionKind.CREATE, image, None, upload=True, set_status="deactivated")
    )
    assert result.result == Outcome.FAILED
    assert result.error == f"image {image.id}: memory store cannot deactivate or reactivate an image"
    assert target.data[image.id] == DATA  # the data was copied before the step that cannot be done


async def test_a_prune_by_deactivation_on_a_target_that_cannot_deactivate_fails() -> None:
    image = image_record()
    target = MemoryStore([image])
    prune = Action(
        ActionKind.PRUNE, image, image, gone_from_source=True, prune="deactivate", reason="gone from the source"
    )
    [result], _ = await _run(MemoryStore(), target, prune)
    assert result.result == Outcome.FAILED and "cannot deactivate" in (result.error or "")
    assert image.id in target.images  # nothing else was done to it


async def test_a_target_that_can_deactivate_is_asked_to() -> None:
    image = image_record("deactivated")
    source, target = MemoryStore([image]), PullingStore()
    [result], _ = await _run(
        source, target, Action(ActionKind.CREATE, image, None, upload=True, set_status="deactivated")
    )
    assert result.result == Outcome.OK, result
    assert target.statuses == [(image.id, "deactivated")]


def test_the_unsupported_kind_is_what_a_missing_capability_raises() -> None:
    error = cannot_deactivate(MemoryStore(), image_record())
    assert error.kind is ErrorKind.UNSUPPORTED and error.side == "target" and not error.retryable
