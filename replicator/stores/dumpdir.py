"""A dump directory: the old glance-replicator's layout, `DIR/<id>` (JSON) and `DIR/<id>.img`.

Both shapes of record are read: ours (the v2 record as Glance returned it) and the old tool's
(v1, with nested `properties`). We write v2 records.

Safety rules, because a dump is often the only copy of an image:
- data is written to `<id>.img.part` and renamed to `<id>.img` only once the stream has been
  verified, so a final name always holds complete, verified data and a rerun can trust it;
- records are written to a temporary name and renamed, so a record is never half written;
- everything is created readable by its owner only (dumps may hold private images).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, AsyncIterator, Sequence

import aiofiles
import aiofiles.os

from replicator.errors import ImageError, RunError
from replicator.records import MEMBERS, ImageRecord, is_image_id, is_v1_record, record_from_dump
from replicator.settings import Settings
from replicator.engine.actions import AttributeChange, MemberChange

DATA_SUFFIX = ".img"
PARTIAL_SUFFIX = ".img.part"
FILE_MODE = 0o600
DIR_MODE = 0o700


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
                raise RunError(f"cannot create dump directory {path}: {exc.strerror}") from None
        if not path.is_dir():
            raise RunError(f"dump directory {path} does not exist or is not a directory")

    def record_path(self, image_id: str) -> Path:
        return self._path / image_id

    def data_path(self, image_id: str) -> Path:
        return self._path / (image_id + DATA_SUFFIX)

    async def list_images(self) -> list[ImageRecord]:
        records = []
        if self._for_writing and not self._path.exists():
            return records
        try:
            names = sorted(os.listdir(self._path))
        except OSError as exc:
            raise RunError(f"cannot read {self.description}: {exc.strerror}") from None
        for name in names:
            if is_image_id(name) and (self._path / name).is_file():
                records.append(self._load_record(name))
        return records

    def _load_record(self, name: str) -> ImageRecord:
        path = self._path / name
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise RunError(f"cannot read dump file {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise RunError(f"dump file {path} is not valid JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise RunError(f"dump file {path} does not hold an image record (a JSON object)")
        if raw.get("id") != name:
            raise RunError(f"dump file {path} holds image id {raw.get('id')!r}, not the id in its name")
        try:
            record = record_from_dump(raw)
        except (ValueError, TypeError) as exc:
            raise RunError(f"dump file {path} holds a bad image record: {exc}") from None
        # A record says what the image was; whether this dump holds its data is the .img file.
        # A rerun of `dump` writes again a data file of the wrong size (changed by hand: ours
        # are renamed into place only when complete); `load` lets verification report it.
        if record.has_readable_data and not self._holds_data(name, record.size):
            record = replace(record, status="queued")
        return record

    def _holds_data(self, image_id: str, size: int | None) -> bool:
        path = self.data_path(image_id)
        if not path.is_file():
            return False
        return not self._for_writing or size is None or path.stat().st_size == size

    async def read_data(self, image: ImageRecord, offset: int = 0) -> AsyncIterator[bytes]:
        path = self.data_path(image.id)
        try:
            async with aiofiles.open(path, "rb") as stream:
                if offset:
                    await stream.seek(offset)
                while chunk := await stream.read(self._settings.chunk_size):
                    yield chunk
        except OSError as exc:
            raise ImageError(f"cannot read {path}: {exc.strerror}") from None

    async def create_image(self, image: ImageRecord, attributes: dict[str, Any]) -> None:
        self._write_record(image)

    async def update_metadata(
        self, image: ImageRecord, current: ImageRecord, changes: Sequence[AttributeChange]
    ) -> None:
        self._write_record(image)

    async def apply_members(self, image: ImageRecord, changes: Sequence[MemberChange]) -> None:
        self._write_record(image)

    async def set_status(self, image: ImageRecord, status: str) -> None:
        self._write_record(image)

    def _write_record(self, image: ImageRecord) -> None:
        """Write the source's whole record: a dump keeps what the source said, sizes and hashes too.

        The image's members go beside it under `members`, in Glance's own member format; not
        beside a v1 record, which stays exactly as the old glance-replicator wrote one (its `load`
        sends every key as a header).
        """
        path = self.record_path(image.id)
        temporary = path.with_name(f".{image.id}.tmp")
        record = dict(image.raw)
        if image.members is not None and not is_v1_record(record):
            record[MEMBERS] = [{"member_id": member, "status": status} for member, status in image.members]
        text = json.dumps(record, indent=2, sort_keys=True, default=str)
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                stream.write(text)
            os.replace(temporary, path)
        except OSError as exc:
            _remove_quietly(temporary)
            raise ImageError(f"cannot write {path}: {exc.strerror}") from None

    async def write_data(self, image: ImageRecord, chunks: AsyncIterator[bytes]) -> None:
        final = self.data_path(image.id)
        partial = self._path / (image.id + PARTIAL_SUFFIX)
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
            async with aiofiles.open(fd, "wb") as stream:
                async for chunk in chunks:
                    await stream.write(chunk)
                await stream.flush()
                await aiofiles.os.wrap(os.fsync)(fd)
            os.replace(partial, final)
        except OSError as exc:
            _remove_quietly(partial)
            raise ImageError(f"cannot write {final}: {exc.strerror}") from None
        except BaseException:
            _remove_quietly(partial)
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


def _remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
