"""The dump directory store: the old tool's layout, atomic and owner-only files, clear errors."""

import json
import stat
from pathlib import Path

import pytest

from replicator.model.errors import RunError, VerificationError
from replicator.model.records import record_from_v2
from replicator.model.settings import Settings
from replicator.stores.dumpdir import DumpDirStore
from tests.support.records import IMAGE_ID


async def listed_records(store: DumpDirStore) -> list:
    return [record async for record in store.walk()]


RAW = {"id": IMAGE_ID, "status": "active", "name": "n", "size": 6, "checksum": None, "disk_format": "raw"}


async def chunks(*parts: bytes):
    for part in parts:
        yield part


async def failing_chunks():
    yield b"abc"
    raise VerificationError("bad data")


async def test_written_image_is_listed_back_with_its_data(tmp_path: Path):
    store = DumpDirStore(tmp_path / "dump", Settings(), create=True)
    image = record_from_v2(RAW)
    await store.create_image(image, {})
    await store.write_data(image, chunks(b"abc", b"def"))
    (listed,) = await listed_records(store)
    assert listed.id == IMAGE_ID and listed.status == "active" and listed.attributes["name"] == "n"
    assert b"".join([c async for c in store.read_data(listed)]) == b"abcdef"
    assert b"".join([c async for c in store.read_data(listed, offset=4)]) == b"ef"


async def test_files_are_readable_by_their_owner_only(tmp_path: Path):
    store = DumpDirStore(tmp_path / "dump", Settings(), create=True)
    image = record_from_v2(RAW)
    await store.create_image(image, {})
    await store.write_data(image, chunks(b"abcdef"))
    for path in (tmp_path / "dump", tmp_path / "dump" / IMAGE_ID, tmp_path / "dump" / f"{IMAGE_ID}.img"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


async def test_failed_stream_leaves_no_data_file_under_any_name(tmp_path: Path):
    store = DumpDirStore(tmp_path, Settings(), create=False)
    with pytest.raises(VerificationError):
        await store.write_data(record_from_v2(RAW), failing_chunks())
    assert list(tmp_path.iterdir()) == []


async def test_record_without_data_file_lists_as_queued(tmp_path: Path):
    (tmp_path / IMAGE_ID).write_text(json.dumps(RAW))
    (listed,) = await listed_records(DumpDirStore(tmp_path, Settings(), create=False))
    assert listed.status == "queued" and listed.size == 6


async def test_other_files_are_ignored(tmp_path: Path):
    (tmp_path / "README").write_text("not an image")
    (tmp_path / f"{IMAGE_ID}.img.part").write_bytes(b"partial")
    assert await listed_records(DumpDirStore(tmp_path, Settings(), create=False)) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "does not hold an image record"),
        (json.dumps({**RAW, "id": "11111111-2222-3333-4444-555555555555"}), "not the id in its name"),
    ],
)
async def test_bad_dump_files_are_refused_with_their_path(tmp_path: Path, content: str, message: str):
    (tmp_path / IMAGE_ID).write_text(content)
    with pytest.raises(RunError, match=message) as caught:
        await listed_records(DumpDirStore(tmp_path, Settings(), create=False))
    assert str(tmp_path / IMAGE_ID) in str(caught.value)


def test_missing_directory_is_refused(tmp_path: Path):
    with pytest.raises(RunError, match="does not exist"):
        DumpDirStore(tmp_path / "absent", Settings(), create=False)
