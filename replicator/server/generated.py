"""Metadata-only images made up in bulk, for listings at scale (`serve --generate-images N`).

The same count always gives the same images (and a smaller count the first of them), so two
servers started alike hold identical listings: a `compare` or `livecopy --metaonly` between them
has nothing to do, which is what a benchmark of listing at scale measures.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

from replicator.server import schema

#: Every generated image was created at this moment: the order is then decided by id.
CREATED_AT = "2024-01-01T00:00:00Z"
_SEED = 20240101


def generated_records(count: int, owner: str) -> Iterator[dict[str, Any]]:
    """`count` queued, private raw images with no data, named `generated-<n>`."""
    dice = random.Random(_SEED)
    for number in range(count):
        image_id = str(uuid.UUID(int=dice.getrandbits(128), version=4))
        yield {
            **schema.BASE_DEFAULTS, "tags": [], "id": image_id, "name": f"generated-{number}",
            "owner": owner, "visibility": "private", "disk_format": "raw", "container_format": "bare",
            "created_at": CREATED_AT, "updated_at": CREATED_AT,
        }  # fmt: skip
