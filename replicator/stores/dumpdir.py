"""A dump directory: the old glance-replicator's layout, `DIR/<id>` (JSON) and `DIR/<id>.img`.

Both shapes of record are read: ours (the v2 record as Glance returned it) and the old tool's
(v1, with nested `properties`). We write v2 records.

Safety rules, because a dump is often the only copy of an image, and a directory is a place
where somebody else may have left something:
- data is written to `<id>.img.part` and renamed to `<id>.img` only once the stream has been
  verified, so a final name always holds complete, verified data and a rerun can trust it;
- records are written to a temporary name and renamed, so a record is never half written;
- every file is created new (`O_EXCL`) and never through a symlink (`O_NOFOLLOW`), and read
  without following one: nothing is written or read outside DIR, whatever was planted in it;
- everything is created readable by its owner only (dumps may hold private images), and a
  DIR that other users can write to is refused: they could swap what we write or read;
- a record is parsed with bounds on size and depth, like any answer from a server.

All file I/O runs off the event loop, through aiofiles, so a slow disk never stalls transfers.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiofiles
import aiofiles.os

from replicator.model.changes import AttributeChange, MemberChange
from replicator.model.errors import ErrorKind, ImageError, RunError
from replicator.model.files import NotRegularFile, open_regular
from replicator.model.records import MEMBERS, ImageRecord, RecordError, id_order, is_image_id, record_from_v2
from replicator.model.settings import Settings
from replicator.model.untrusted import MAX_JSON_BYTES, UntrustedJsonError, load_json
from replicator.stores.glance.v1_codec import is_v1_record, record_from_v1

DATA_SUFFIX = ".img"
PARTIAL_SUFFIX = ".img.part"
FILE_MODE = 0o600
DIR_MODE = 0o700
#: `lstat` off the loop (aiofiles wraps `stat` only): a symlink is never taken for the file.
_lstat = aiofiles.os.wrap(os.lstat)
_fsync = aiofiles.os.wrap(os.fsync)
#: Permission bits that let other users change what a directory holds.
_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


def _create_new(path: str | os.PathLike[str], flags: int) -> int:
    """An `opener` for `open`: a new file, owner-only, never through a symlink."""
    return os.open(path, flags | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)


def _no_follow(path: str | os.PathLike[str], flags: int) -> int:
    """An `opener` for reading a file that must be a regular file, never a symlink to somewhere
    else nor a FIFO that would hold the read for ever (`model.files.open_regular`)."""
    return open_regular(path, flags)


def record_from_dump(raw: dict[str, Any]) -> ImageRecord:
    """A dumped record in either shape: ours (v2) or the old tool's (v1)."""
    return record_from_v1(raw) if is_v1_record(raw) else record_from_v2(raw)


class DumpDirStore:
    """Images kept as files in one directory."""

    def __init__(self, path: Path, settings: Settings, *, create: bool, dry_run: bool = False) -> None:
        self._path = path
        self._settings = settings
        #: Dumping into it (a rerun resumes) rather than loading from it.
        self._for_writing = create
        self.description = f"dump directory {path}"
        if create and dry_run and not path.exists():
            return  # a dump's --dry-run touches nothing: listed as empty, never created
        if create and not dry_run:
            try:
                path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            except OSError as exc:
                raise RunError(f"cannot create dump directory {path}: {exc.strerror}") from exc
        if not path.is_dir():
            raise RunError(f"dump directory {path} does not exist or is not a directory")
        mode = path.stat().st_mode
        # Sticky (/tmp) is no help: others still add files under names we have not written yet.
        if mode & _OTHERS_WRITE:
            raise RunError(
                f"dump directory {path} can be written by other users (mode {stat.S_IMODE(mode):o}): "
                "they could replace what is written or read there; use a directory only you can write",
                kind=ErrorKind.UNSAFE,
            )

    def record_path(self, image_id: str) -> Path:
        return self._path / image_id

    def data_path(self, image_id: str) -> Path:
        return self._path / (image_id + DATA_SUFFIX)

    def holds_dump(self) -> bool:
        """Whether the directory holds at least one image record (a `load` of anything else is a
        mistake worth stopping for)."""
        try:
            return any(is_image_id(name) for name in os.listdir(self._path))
        except OSError:
            return False

    async def walk(self) -> AsyncGenerator[ImageRecord, None]:
        """Every record, in id order (the order a Glance lists them in)."""
        if self._for_writing and not self._path.exists():
            return
        try:
            names = await aiofiles.os.listdir(self._path)
        except OSError as exc:
            raise RunError(f"cannot read {self.description}: {exc.strerror}") from exc
        for name in sorted((name for name in names if is_image_id(name)), key=id_order):
            record = await self._load_record(name)
            if record is not None:
                yield record

    async def _load_record(self, name: str) -> ImageRecord | None:
        path = self._path / name
        try:
            async with aiofiles.open(path, "rb", opener=_no_follow) as stream:
                info = os.fstat(stream.fileno())
                if info.st_uid not in (os.getuid(), 0):
                    raise RunError(
                        f"dump file {path} belongs to another user (uid {info.st_uid}): not read, as it could "
                        "say anything about any image",
                        kind=ErrorKind.UNSAFE,
                    )
                if info.st_size > MAX_JSON_BYTES:
                    raise RunError(f"dump file {path} is larger than any image record ({info.st_size} bytes)")
                text = await stream.read(MAX_JSON_BYTES + 1)
        except NotRegularFile:
            return None  # a FIFO, a device or a directory under an id's name is not a record of ours
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EISDIR):
                return None  # a symlink or a directory under an id's name is not a record of ours
            raise RunError(f"cannot read dump file {path}: {exc.strerror}") from exc
        try:
            raw = load_json(text)
        except UntrustedJsonError as exc:
            raise RunError(f"dump file {path} is not valid JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise RunError(f"dump file {path} does not hold an image record (a JSON object)")
        if raw.get("id") != name:
            raise RunError(f"dump file {path} holds image id {raw.get('id')!r}, not the id in its name")
        try:
            record = record_from_dump(raw)
        except RecordError as exc:
            raise RunError(f"dump file {path} holds a bad image record: {exc}") from exc
        return await self._with_data_state(record)

    async def _with_data_state(self, record: ImageRecord) -> ImageRecord:
        """A record says what the image was; whether this dump holds its data is the .img file.

        Dumping into it, a missing or wrong-sized file means "data missing here" (queued), so
        the rerun writes it again (ours are renamed into place only when complete). Loading
        from it, a missing file or one of another size than its record says is a problem of
        that image, known before anything is sent (so `--dry-run` says it would fail): it must
        not become an empty or a wrong image on the target.
        """
        if not record.has_readable_data:
            return record
        size = await self._data_size(record.id)
        if size is not None and (record.size is None or size == record.size):
            return record
        queued = replace(record, status="queued")
        if self._for_writing:
            return queued
        if size is not None:
            return replace(
                queued,
                problem=f"the dump's {record.id}{DATA_SUFFIX} holds {size} bytes, its record says {record.size}",
            )
        partial = await aiofiles.os.path.exists(self._path / (record.id + PARTIAL_SUFFIX))
        missing = f"the dump holds no data for this {record.status} image ({record.id}{DATA_SUFFIX} is missing"
        missing += f"; only {record.id}{PARTIAL_SUFFIX} is there, from a dump cut short)" if partial else ")"
        return replace(queued, problem=missing)

    async def _data_size(self, image_id: str) -> int | None:
        try:
            info = await _lstat(self.data_path(image_id))
        except FileNotFoundError:
            return None
        return info.st_size if stat.S_ISREG(info.st_mode) else None

    def known_members(self, image: ImageRecord) -> ImageRecord | None:
        return image  # a dump keeps members beside the record (None for the old tool's records)

    async def with_members(self, image: ImageRecord) -> ImageRecord:
        return image

    async def read_data(self, image: ImageRecord, offset: int = 0) -> AsyncGenerator[bytes, None]:
        path = self.data_path(image.id)
        try:
            async with aiofiles.open(path, "rb", opener=_no_follow) as stream:
                if offset:
                    await stream.seek(offset)
                while chunk := await stream.read(self._settings.chunk_size):
                    yield chunk
        except OSError as exc:
            reason = "it is a symlink, which a dump never holds" if exc.errno == errno.ELOOP else exc.strerror
            raise ImageError(f"cannot read {path}: {reason}", kind=ErrorKind.INPUT) from exc

    async def gone(self, image: ImageRecord) -> bool:
        """Whether the image's record file is absent now (the disk's own answer)."""
        try:
            await aiofiles.os.stat(self.record_path(image.id), follow_symlinks=False)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return False

    async def stat(self, image: ImageRecord) -> ImageRecord | None:
        """The dumped copy as the disk has it: its size (its hashes were checked in flight)."""
        size = await self._data_size(image.id)
        if size is None:
            return None
        return replace(image, size=size, checksum=None, hash_algo=None, hash_value=None)

    async def create_image(self, image: ImageRecord, attributes: dict[str, Any]) -> None:
        await self._write_record(image)

    async def update_metadata(
        self, image: ImageRecord, current: ImageRecord, changes: Sequence[AttributeChange]
    ) -> None:
        await self._write_record(image)

    async def apply_members(self, image: ImageRecord, changes: Sequence[MemberChange]) -> None:
        await self._write_record(image)

    async def delete_image(self, image: ImageRecord) -> None:
        for path in (self.record_path(image.id), self.data_path(image.id)):
            await _remove_quietly(path)

    async def set_status(self, image: ImageRecord, status: str) -> None:
        """A dump keeps the source's whole record, its status with it (`Deactivator`): the record
        is written again, as the source has it."""
        await self._write_record(image)

    async def _write_record(self, image: ImageRecord) -> None:
        """Write the source's whole record: a dump keeps what the source said, sizes and hashes too.

        The image's members go beside it under `members`, in Glance's own member format; not
        beside a v1 record, which stays exactly as the old glance-replicator wrote one (its `load`
        sends every key as a header).
        """
        path = self.record_path(image.id)
        record = dict(image.raw)
        if image.members is not None and not is_v1_record(record):
            record[MEMBERS] = [{"member_id": member, "status": status} for member, status in image.members]
        text = json.dumps(record, indent=2, sort_keys=True, default=str).encode()

        async def write(stream: Any) -> None:
            await stream.write(text)

        await self._write_new(path, path.with_name(f".{image.id}.tmp"), write)

    async def write_data(self, image: ImageRecord, chunks: AsyncIterator[bytes]) -> None:
        async def write(stream: Any) -> None:
            async for chunk in chunks:
                await stream.write(chunk)

        await self._write_new(self.data_path(image.id), self._path / (image.id + PARTIAL_SUFFIX), write)

    async def _write_new(self, final: Path, temporary: Path, write: Any) -> None:
        """Write a file under `temporary` (created new, never through a symlink), flush it to disk,
        and rename it to `final`; whatever fails, no temporary file is left behind."""
        try:
            await _remove_quietly(temporary)  # left by a run that was killed: never followed
            async with aiofiles.open(temporary, "wb", opener=_create_new) as stream:
                await write(stream)
                await stream.flush()
                await _fsync(stream.fileno())
            await aiofiles.os.replace(temporary, final)
        except OSError as exc:
            await _remove_quietly(temporary)
            raise ImageError(f"cannot write {final}: {exc.strerror}", kind=ErrorKind.INPUT) from exc
        except BaseException:
            await _remove_quietly(temporary)
            raise

    def as_held(self, image: ImageRecord) -> ImageRecord:
        """A dump keeps the record as it was listed; a v1 record (from a Glance v1, written in the
        old tool's format, which has no place for members) reads back unshared."""
        if not is_v1_record(image.raw):
            return image
        attributes = dict(image.attributes)
        if attributes.get("visibility") == "shared":
            attributes["visibility"] = "private"
        return replace(image, attributes=attributes, members=None)

    async def close(self) -> None:
        return None


async def _remove_quietly(path: Path) -> None:
    try:
        await aiofiles.os.unlink(path)
    except FileNotFoundError:
        pass
