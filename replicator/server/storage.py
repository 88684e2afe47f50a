"""Where the server keeps images on disk: one JSON file per record, one file per image's data.

Deletion is soft, as in Glance: a deleted image keeps its file with `deleted: true`, so its id
can never be created again, even after a restart.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class StoredImage:
    """An image record as clients see it, plus what Glance keeps beside it."""

    record: dict[str, Any]
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: bool = False

    @property
    def id(self) -> str:
        return str(self.record["id"])

    @property
    def status(self) -> str:
        return str(self.record["status"])


class ImageFiles:
    """The folders under `root`: records in `meta/`, data in `data/`, staged uploads in `staging/`."""

    def __init__(self, root: Path) -> None:
        self.meta_dir = root / "meta"
        self.data_dir = root / "data"
        self.staging_dir = root / "staging"
        for folder in (self.meta_dir, self.data_dir, self.staging_dir):
            folder.mkdir(parents=True, exist_ok=True)

    def load(self) -> Iterator[StoredImage]:
        """Every image saved before, deleted ones included."""
        for path in self.meta_dir.glob("*.json"):
            saved = json.loads(path.read_text())
            image = StoredImage(saved["record"], saved.get("members", {}), saved.get("deleted", False))
            if image.status in ("saving", "importing"):
                # The process stopped during an upload: Glance would leave it queued with no data.
                image.record.update(
                    status="queued", size=None, virtual_size=None, checksum=None,
                    os_hash_algo=None, os_hash_value=None,
                )  # fmt: skip
            yield image

    def save(self, image: StoredImage) -> None:
        """Write the image's JSON file atomically: a crash never leaves half a record."""
        path = self.meta_dir / f"{image.id}.json"
        temporary = path.with_suffix(".tmp")
        data = {"record": image.record, "members": image.members, "deleted": image.deleted}
        temporary.write_text(json.dumps(data))
        os.replace(temporary, path)

    def data_path(self, image_id: str) -> Path:
        return self.data_dir / image_id

    def partial_path(self, image_id: str) -> Path:
        return self.data_dir / f"{image_id}.part"

    def staging_path(self, image_id: str) -> Path:
        return self.staging_dir / image_id
