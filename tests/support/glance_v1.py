"""A v1 client for seeding and reading `replicator serve --api v1`, as `glance_client` is for v2:
standard library only, independent of the replicator's own v1 store."""

from __future__ import annotations

import uuid
from typing import Any

from tests.support import glance_client as gc


def v1_create(base: str, data: bytes | None, **meta: Any) -> str:
    """Create an image the v1 way: metadata in headers, data (if any) as the POST body."""
    image_id = meta.pop("id", None) or str(uuid.uuid4())
    properties = meta.pop("properties", {})
    headers = {
        "x-image-meta-id": image_id,
        "x-image-meta-disk_format": "raw",
        "x-image-meta-container_format": "bare",
        "Content-Type": "application/octet-stream",
    }
    headers.update({f"x-image-meta-{k}": str(v) for k, v in meta.items()})
    headers.update({f"x-image-meta-property-{k}": v for k, v in properties.items()})
    if data is not None:
        headers["x-image-meta-size"] = str(len(data))
    answer = gc.call("POST", f"{base}/v1/images", 201, data, headers)
    assert answer.json()["image"]["status"] == ("active" if data is not None else "queued")
    return image_id


def v1_detail(base: str) -> dict[str, dict[str, Any]]:
    images = gc.call("GET", f"{base}/v1/images/detail?is_public=None", 200).json()["images"]
    return {image["id"]: image for image in images}
