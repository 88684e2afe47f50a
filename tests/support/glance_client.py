"""A tiny synchronous Glance v2 client for seeding and inspecting servers in tests.

Deliberately independent of the replicator's own HTTP code: a test that seeds images with the
code under test proves nothing. Standard library only; every call takes the server's base URL
(`http://127.0.0.1:PORT`).

`request` never raises on an HTTP status, for tests that check error answers; the helpers
above it check the status Glance documents and raise `GlanceError` otherwise. A Glance that
checks tokens (Keystone auth) gets one with every request once `authorize` has named it.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from typing import Any

# No proxy: the machine may set one for package registries, and tests only talk to 127.0.0.1.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

JSON_PATCH = "application/openstack-images-v2.1-json-patch"
OCTET_STREAM = "application/octet-stream"
TIMEOUT = 60.0

#: Tokens by base URL, for Glances that check them (`authorize`).
_TOKENS: dict[str, str] = {}


def authorize(base: str, token: str | None) -> None:
    """Send `token` as X-Auth-Token with every request to the Glance at `base` (None: stop)."""
    if token is None:
        _TOKENS.pop(base, None)
    else:
        _TOKENS[base] = token


@dataclass(frozen=True)
class Response:
    """One HTTP answer, read in full. `headers` looks names up case-insensitively."""

    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


class GlanceError(Exception):
    """An answer with a status the helper did not expect."""

    def __init__(self, method: str, url: str, response: Response) -> None:
        super().__init__(f"{method} {url} -> {response.status}: {response.text[:500]}")
        self.response = response


def request(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Send one request and return the answer whatever its status."""
    sent = dict(headers or {})
    for base, token in _TOKENS.items():
        if url.startswith(base + "/"):
            sent.setdefault("X-Auth-Token", token)
    req = urllib.request.Request(url, data=body, headers=sent, method=method)
    try:
        with OPENER.open(req, timeout=TIMEOUT) as answer:
            return Response(answer.status, answer.headers, answer.read())
    except urllib.error.HTTPError as error:
        with error:
            return Response(error.code, error.headers, error.read())


def call(
    method: str,
    url: str,
    expect: int,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Send one request; raise `GlanceError` unless the answer has status `expect`."""
    response = request(method, url, body, headers)
    if response.status != expect:
        raise GlanceError(method, url, response)
    return response


def send_json(method: str, url: str, document: Any, content_type: str = "application/json") -> Response:
    """Send a JSON document, returning the answer whatever its status."""
    return request(method, url, json.dumps(document).encode(), {"Content-Type": content_type})


def create_image(base: str, **fields: Any) -> dict[str, Any]:
    """`POST /v2/images` with `fields` (an `id` among them keeps that id); 201 expected."""
    response = send_json("POST", f"{base}/v2/images", fields)
    if response.status != 201:
        raise GlanceError("POST", f"{base}/v2/images", response)
    return response.json()


def upload(base: str, image_id: str, data: bytes) -> None:
    """`PUT /v2/images/{id}/file`: upload all data at once; 204 expected."""
    call("PUT", f"{base}/v2/images/{image_id}/file", 204, data, {"Content-Type": OCTET_STREAM})


def seed_raw_images(base: str, sizes: Sequence[int]) -> dict[str, bytes]:
    """Active raw images `img-0`, `img-1`, ... of random data, one per size: {id: data}."""
    data = {}
    for index, size in enumerate(sizes):
        image_id = str(uuid.uuid4())
        create_image(base, id=image_id, name=f"img-{index}", disk_format="raw", container_format="bare")
        data[image_id] = os.urandom(size)
        upload(base, image_id, data[image_id])
    return data


def get_image(base: str, image_id: str) -> dict[str, Any]:
    return call("GET", f"{base}/v2/images/{image_id}", 200).json()


def download(base: str, image_id: str) -> bytes:
    return call("GET", f"{base}/v2/images/{image_id}/file", 200).body


def patch(base: str, image_id: str, ops: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Apply a JSON-patch list (`[{"op": "replace", "path": "/name", "value": ...}]`)."""
    url = f"{base}/v2/images/{image_id}"
    response = send_json("PATCH", url, list(ops), JSON_PATCH)
    if response.status != 200:
        raise GlanceError("PATCH", url, response)
    return response.json()


def deactivate(base: str, image_id: str) -> None:
    call("POST", f"{base}/v2/images/{image_id}/actions/deactivate", 204)


def delete(base: str, image_id: str) -> None:
    call("DELETE", f"{base}/v2/images/{image_id}", 204)


def add_member(base: str, image_id: str, member: str) -> dict[str, Any]:
    """Share an image (its visibility must be `shared`) with project `member`."""
    url = f"{base}/v2/images/{image_id}/members"
    response = send_json("POST", url, {"member": member})
    if response.status != 200:
        raise GlanceError("POST", url, response)
    return response.json()


def update_member(base: str, image_id: str, member: str, status: str) -> dict[str, Any]:
    """Set a member's status: `accepted`, `rejected` or `pending`."""
    url = f"{base}/v2/images/{image_id}/members/{member}"
    response = send_json("PUT", url, {"status": status})
    if response.status != 200:
        raise GlanceError("PUT", url, response)
    return response.json()


def list_members(base: str, image_id: str) -> list[dict[str, Any]]:
    return call("GET", f"{base}/v2/images/{image_id}/members", 200).json()["members"]


def list_pages(base: str, **params: str | int) -> list[dict[str, Any]]:
    """`GET /v2/images` with `params`, following `next` until it is absent; one page per item."""
    pages = []
    url = f"{base}/v2/images?{urllib.parse.urlencode(params)}"
    while True:
        page = call("GET", url, 200).json()
        pages.append(page)
        if "next" not in page:
            return pages
        url = base + page["next"]


def list_all(base: str) -> list[dict[str, Any]]:
    """Every image the admin can see, hidden ones included.

    Glance leaves `os_hidden` images out of listings unless asked for `os_hidden=true`, which
    then lists only those; so this is two listings.
    """
    images = []
    for hidden in ("false", "true"):
        for page in list_pages(base, visibility="all", member_status="all", os_hidden=hidden):
            images.extend(page["images"])
    return images


def delete_all(base: str) -> None:
    """Delete every image, unprotecting protected ones first. Deleted ids stay taken."""
    for image in list_all(base):
        if image["protected"]:
            patch(base, image["id"], [{"op": "replace", "path": "/protected", "value": False}])
        delete(base, image["id"])
