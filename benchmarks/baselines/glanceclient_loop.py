"""What operators run today: a sequential loop over python-glanceclient.

For each image of SOURCE: create it on TARGET under the same id, download its data (glanceclient
checks the hash as it reads, its default) and upload that stream to TARGET, one image at a time.
`--metaonly` creates the records only; `--compare` fetches each image from TARGET and compares
the fields a copy would set.

usage: glanceclient_loop.py SOURCE_URL TARGET_URL [--metaonly | --compare]
"""

from __future__ import annotations

import glanceclient
from glanceclient import exc
from glanceclient.v2 import schemas
from loop_args import FIELDS, finish, run

#: Real Glance serves `/v2/schemas/image`, which glanceclient fetches once per client to build
#: its models; the project's server does not, so the loop falls back to an open schema. Fetched
#: once, it costs nothing per image either way.
OPEN_SCHEMA = {"name": "image", "properties": {"id": {"type": "string"}}, "additionalProperties": True}
_fetch_schema = schemas.Controller.get


def _schema(self, name):  # type: ignore[no-untyped-def]
    try:
        return _fetch_schema(self, name)
    except exc.HTTPNotFound:
        return schemas.Schema(OPEN_SCHEMA)


schemas.Controller.get = _schema


class Stream:
    """The download's chunks as the file-like object `images.upload` reads from."""

    def __init__(self, chunks) -> None:  # type: ignore[no-untyped-def]
        self._chunks = iter(chunks)

    def read(self, size: int = -1) -> bytes:
        return next(self._chunks, b"")


def main(source_url: str, target_url: str, mode: str) -> int:
    source = glanceclient.Client("2", endpoint=source_url, token="bench")
    target = glanceclient.Client("2", endpoint=target_url, token="bench")
    differences = 0
    for image in source.images.list(page_size=1000):
        if mode == "compare":
            try:
                other = target.images.get(image["id"])
            except exc.HTTPNotFound:
                differences += 1
                continue
            differences += any(image.get(key) != other.get(key) for key in FIELDS)
            continue
        target.images.create(
            id=image["id"],
            name=image["name"],
            disk_format=image["disk_format"],
            container_format=image["container_format"],
        )
        if mode == "metaonly" or image["status"] != "active":
            continue
        data = source.images.data(image["id"])
        target.images.upload(image["id"], Stream(data), image_size=image["size"])
    return finish(mode, differences)


if __name__ == "__main__":
    run(main)
