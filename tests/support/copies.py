"""Images seeded on a source, and the check that a target holds them whole: shared by the tests of
upload methods, imports and stores."""

from __future__ import annotations

import hashlib
import os
import uuid

from tests.support import glance_client as gc


def seed_active(base: str, count: int = 3) -> dict[str, bytes]:
    """Active raw images `img-0`, `img-1`, ... of 10,000 x (n + 1) random bytes: {id: data}."""
    data = {}
    for index in range(count):
        image_id = str(uuid.uuid4())
        gc.create_image(base, id=image_id, name=f"img-{index}", disk_format="raw", container_format="bare")
        data[image_id] = os.urandom(10_000 * (index + 1))
        gc.upload(base, image_id, data[image_id])
    return data


def assert_active_copies(target: str, data: dict[str, bytes]) -> None:
    """Every image of `data` is active on `target`, with the md5 and the bytes of its data."""
    for image_id, payload in data.items():
        image = gc.get_image(target, image_id)
        assert image["status"] == "active", image
        assert image["checksum"] == hashlib.md5(payload).hexdigest()
        assert gc.download(target, image_id) == payload
