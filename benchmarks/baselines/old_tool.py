"""The shape of the old `glance-replicator livecopy`: one image at a time over one connection.

The old tool speaks Glance v1 only (gone from every Glance since 2018), so it cannot run against
these servers; this is its algorithm over v2 with the standard library, as it was written: one
persistent connection to each server, the source listed page by page, the target checked once
per image, and the data relayed in 64 KiB reads (its default chunk size), unverified.

usage: old_tool.py SOURCE_URL TARGET_URL [--metaonly | --compare]
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from loop_args import FIELDS, finish, run

CHUNK = 65536


class Server:
    """One keep-alive connection to one server."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        self.conn.request(method, path, body=body, headers=headers or {})
        response = self.conn.getresponse()
        return response.status, response.read()

    def json(self, method: str, path: str, document: Any = None) -> tuple[int, Any]:
        body = json.dumps(document).encode() if document is not None else None
        status, raw = self.call(method, path, body, {"Content-Type": "application/json"})
        return status, json.loads(raw) if raw and status < 300 else None


def images(source: Server) -> Iterator[dict[str, Any]]:
    path: str | None = "/v2/images?limit=1000"
    while path:
        status, page = source.json("GET", path)
        if status != 200:
            raise SystemExit(f"list: {status}")
        yield from page["images"]
        path = page.get("next")


def relay(source: Server, target: Server, image: dict[str, Any]) -> None:
    source.conn.request("GET", f"/v2/images/{image['id']}/file")
    download = source.conn.getresponse()

    def chunks() -> Iterator[bytes]:
        while chunk := download.read(CHUNK):
            yield chunk

    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(image["size"])}
    status, body = target.call("PUT", f"/v2/images/{image['id']}/file", chunks(), headers)
    if status not in (201, 204):
        raise SystemExit(f"upload {image['id']}: {status} {body[:200]!r}")


def main(source_url: str, target_url: str, mode: str) -> int:
    source, target = Server(source_url), Server(target_url)
    differences = 0
    for image in list(images(source)):
        status, existing = target.json("GET", f"/v2/images/{image['id']}")
        if mode == "compare":
            differences += status != 200 or any(image.get(k) != existing.get(k) for k in FIELDS)
            continue
        if status == 200:
            continue
        create = {k: image[k] for k in ("id", "name", "disk_format", "container_format")}
        status, _ = target.json("POST", "/v2/images", create)
        if status != 201:
            raise SystemExit(f"create {image['id']}: {status}")
        if mode != "metaonly" and image["status"] == "active":
            relay(source, target, image)
    return finish(mode, differences)


if __name__ == "__main__":
    run(main)
