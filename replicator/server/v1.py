"""The Glance v1 API over the same images the v2 API serves (`replicator serve --api v1,v2`).

v1 carried an image's metadata in HTTP headers (`x-image-meta-NAME`, custom properties as
`x-image-meta-property-NAME`) and its listings as JSON with the properties nested; it had no
`visibility`, only `is_public`. The images are stored once, in v2 form, and translated here
both ways, so a v1 client and a v2 client see the same image. Creating, deleting, sharing and
paging are the image repository's, as for v2; only the words differ.

What a v1 Glance did (Glance's `api/v1` before its removal in 2018) that its clients rely on,
and this server does too:
- a listing shows public images only unless `is_public=None` is asked for; pages follow
  `marker` (no `next` link), newest first unless one `sort_key` and `sort_dir` say otherwise;
- `HEAD` answers the metadata as headers, leaving out unset values, and 404 for an unknown id
  (the old glance-replicator tells presence by the `status` header);
- a `POST` creates under the id the client chose, and uploads in the same request when it has
  a body; with `x-image-meta-size: 0` and no body the image is active at once;
- a `PUT` replaces the properties with those it names (`x-glance-registry-purge-props`
  defaults to true) unless it carries data; `status` and `id` cannot change, nor `size` and
  `checksum` of an active image; other computed attributes sent back are ignored;
- an unknown `x-image-meta-*` header is refused (400), and an empty header value means unset;
- an upload that fails (cut, wrong size or checksum) leaves the image `killed`, never to take
  data again;
- members (`/v1/images/{id}/members`) are projects with no status of their own; a non-public
  image given one is what v2 calls `shared`;
- a download ignores `Range` (webob answered the whole body) and answers 404 for an image
  that is not active, 403 for a deactivated one.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from replicator.server import data, schema, state
from replicator.server.paging import (
    DEFAULT_DIRECTION,
    DEFAULT_KEY,
    DIRECTIONS,
    SORT_KEYS,
    Ordering,
    one_of,
    page_limit,
)
from replicator.server.problems import Problem
from replicator.server.storage import StoredImage

META = "x-image-meta-"
PROPERTY = "x-image-meta-property-"
PURGE = "x-glance-registry-purge-props"
#: v1's own base attributes; every other v2 key (less those v1 never had) is a property.
V1_BASE = ("name", "disk_format", "container_format", "size", "virtual_size", "checksum", "status",
           "min_ram", "min_disk", "owner", "protected", "created_at", "updated_at")  # fmt: skip
#: v2 attributes v1 has no word for.
V2_ONLY = frozenset({"visibility", "tags", "os_hidden", "os_hash_algo", "os_hash_value", "stores", "id"})
#: The `x-image-meta-*` names a v1 Glance accepted; any other is a 400.
KNOWN_HEADERS = frozenset(V1_BASE) | {"id", "is_public", "deleted", "deleted_at", "location", "copy_from",
                                      "uri", "store"}  # fmt: skip
#: Never stored as sent: Glance computes these (clients that copy a record send them back), or
#: they name where data comes from (refused when set, see `_meta_from_headers`).
NOT_STORED = frozenset({"size", "virtual_size", "checksum", "created_at", "updated_at", "deleted",
                        "deleted_at", "store", "location", "copy_from", "uri"})  # fmt: skip
#: Never changed by a PUT (403 when a different value is sent), and never while active.
IMMUTABLE = ("status", "id")
ACTIVE_IMMUTABLE = ("size", "checksum")
INTEGERS = ("size", "virtual_size", "min_ram", "min_disk")
BOOLEANS = ("is_public", "protected", "deleted")
#: Listing parameters that filter on an attribute's exact value.
EXACT_FILTERS = ("name", "status", "container_format", "disk_format")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/images", list_summaries)
    router.add_get("/v1/images/detail", list_details)
    router.add_post("/v1/images", create_image)
    one = "/v1/images/{image_id}"
    router.add_route("HEAD", one, show_headers)
    router.add_get(one, download, allow_head=False)
    router.add_put(one, update_image)
    router.add_delete(one, delete_image)
    router.add_get(one + "/members", list_members)
    router.add_put(one + "/members/{member_id}", add_member)
    router.add_delete(one + "/members/{member_id}", remove_member)


def v1_record(image: StoredImage) -> dict[str, Any]:
    """The image as a v1 listing shows it."""
    record = image.record
    body: dict[str, Any] = {key: record.get(key) for key in V1_BASE}
    body.update(id=image.id, is_public=record["visibility"] == "public", deleted=image.deleted, deleted_at=None)
    body["properties"] = {k: v for k, v in record.items() if k not in V1_BASE and k not in V2_ONLY}
    return body


def v1_headers(image: StoredImage) -> dict[str, str]:
    """The image as v1's `HEAD` told it: one header per attribute, unset values left out."""
    headers = {}
    for key, value in v1_record(image).items():
        if key == "properties":
            headers.update({PROPERTY + k: str(v) for k, v in value.items() if v is not None})
        elif value is not None:
            headers[META + key] = str(value)
    if image.record.get("checksum"):
        headers["ETag"] = image.record["checksum"]
    return headers


async def list_summaries(request: web.Request) -> web.Response:
    keys = ("id", "name", "disk_format", "container_format", "size", "checksum")
    return web.json_response({"images": [{k: r[k] for k in keys} for r in _page(request)]})


async def list_details(request: web.Request) -> web.Response:
    return web.json_response({"images": _page(request)})


def _page(request: web.Request) -> list[dict[str, Any]]:
    """One page from after `marker`, at most `limit`: v1's paging (no `next` link)."""
    query = request.query
    config = state.config(request)
    limit = page_limit(query.get("limit"), config.default_limit, config.page_cap)
    ordering = Ordering.of([_sort_key(query.get("sort_key", DEFAULT_KEY))],
                           [_sort_direction(query.get("sort_dir", DEFAULT_DIRECTION))])  # fmt: skip
    repository = state.repository(request)
    marker = query.get("marker")
    after = None
    if marker is not None:
        if marker and not schema.is_uuid_like(marker):
            raise Problem(400, "Invalid marker format")
        after = repository.get(marker)
        if after is None:
            raise Problem(400, "Invalid marker. Image could not be found.")
    wanted = _is_public_filter(query.get("is_public"))
    exact = {key: query[key] for key in EXACT_FILTERS if key in query}

    def matches(image: StoredImage) -> bool:
        record = image.record
        return (wanted is None or (record["visibility"] == "public") == wanted) and all(
            record.get(key) == value for key, value in exact.items()
        )

    return [v1_record(image) for image in repository.page(ordering, matches, after, limit)]


def _sort_key(key: str) -> str:
    return one_of(key, SORT_KEYS, f"Unsupported sort_key. Acceptable values: {', '.join(SORT_KEYS)}")


def _sort_direction(direction: str) -> str:
    return one_of(direction, DIRECTIONS, f"Unsupported sort_dir. Acceptable values: {', '.join(DIRECTIONS)}")


def _is_public_filter(value: str | None) -> bool | None:
    """Public images only by default; `None` for every image; else True or False (as v1's
    registry read it: `true`/`1` or `false`/`0`, nothing else)."""
    if value is None:
        return True
    lowered = value.lower()
    if lowered == "none":
        return None
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise Problem(400, "is_public must be None, True, or False")


async def show_headers(request: web.Request) -> web.Response:
    image = state.image_of(request)
    return web.Response(status=200, headers=v1_headers(image))


async def download(request: web.Request) -> web.StreamResponse:
    image = state.image_of(request)
    if image.status == "deactivated":
        raise Problem(403, f"Image {image.id} is deactivated")
    if image.status != "active":
        raise Problem(404, f"Image {image.id} is not active")
    headers = {**v1_headers(image), "Content-Type": data.OCTET_STREAM}
    return await data.send_data(request, image, headers, honour_range=False)


async def create_image(request: web.Request) -> web.Response:
    meta, properties = _meta_from_headers(request)
    body = {k: v for k, v in meta.items() if k not in NOT_STORED and k not in IMMUTABLE}
    body.update(properties)
    if meta.get("id") is not None:
        body["id"] = meta["id"]
    record = schema.new_record(body, state.config(request).project_id, schema.check_uuid_like)
    if "visibility" not in meta:
        record["visibility"] = "private"  # v1's is_public defaulted to false
    image = state.repository(request).create(record)
    await _take_data(request, image, meta.get("size"))
    return web.json_response(
        {"image": v1_record(image)}, status=201, headers={"Location": f"{request.url.origin()}/v1/images/{image.id}"}
    )


async def update_image(request: web.Request) -> web.Response:
    image = state.image_of(request)
    meta, properties = _meta_from_headers(request)
    record = image.record
    current = {**record, "id": image.id}
    guarded = IMMUTABLE + (ACTIVE_IMMUTABLE if image.status in ("active", "deactivated") else ())
    for key in guarded:
        if key in meta and meta[key] != current.get(key):
            raise Problem(403, f"Forbidden to modify '{key}' of {image.status} image.")
    settable = {k: v for k, v in meta.items() if k not in NOT_STORED and k not in IMMUTABLE}
    if settable.get("visibility") == "private" and image.members:
        settable["visibility"] = "shared"  # not public, and shared with its members
    for key, value in {**settable, **properties}.items():
        schema.check_value(key, value)
    uploading = request.body_exists
    if uploading and image.status != "queued":
        raise Problem(409, "Cannot upload to an unqueued image")
    if _bool(request.headers.get(PURGE, "true")) and not uploading:
        for key in [k for k in record if k not in V1_BASE and k not in V2_ONLY]:
            del record[key]
    record.update(settable)
    record.update(properties)
    record["updated_at"] = schema.now()
    state.repository(request).save(image)
    await _take_data(request, image, meta.get("size"))
    return web.json_response({"image": v1_record(image)})


async def delete_image(request: web.Request) -> web.Response:
    state.repository(request).delete(state.image_of(request))
    return web.Response(status=200)


async def list_members(request: web.Request) -> web.Response:
    image = state.image_of(request)
    return web.json_response({"members": [{"member_id": m, "can_share": False} for m in image.members]})


async def add_member(request: web.Request) -> web.Response:
    """Share the image (unchanged if it already is); in v2 terms it is then `shared`."""
    image = state.image_of(request)
    member_id = request.match_info["member_id"]
    repository = state.repository(request)
    if member_id not in image.members:
        repository.share(image, member_id)
    if image.record["visibility"] == "private":
        image.record["visibility"] = "shared"
        repository.save(image)
    return web.Response(status=204)


async def remove_member(request: web.Request) -> web.Response:
    state.repository(request).unshare(state.image_of(request), request.match_info["member_id"])
    return web.Response(status=204)


async def _take_data(request: web.Request, image: StoredImage, size: int | None) -> None:
    """A request body is the image's data (v1 uploads with the create or update request)."""
    if not request.body_exists and size != 0:
        return
    if image.status != "queued":
        raise Problem(409, f"Image {image.id} already has data (status {image.status})")
    if request.body_exists and request.content_type != data.OCTET_STREAM:
        raise Problem(400, f"Content-Type must be {data.OCTET_STREAM}")
    if not (image.record["disk_format"] and image.record["container_format"]):
        raise Problem(400, "Disk format and container format are required to upload image data")
    store = state.config(request).stores[0]
    try:
        await data.store_data(request, image, store, size, request.headers.get(META + "checksum") or None)
    except BaseException:
        # A v1 Glance "killed" an image whose upload failed: no data can be sent to it again.
        if not image.deleted and image.status == "queued":
            image.record.update(status="killed", updated_at=schema.now())
            state.repository(request).save(image)
        raise


def _meta_from_headers(request: web.Request) -> tuple[dict[str, Any], dict[str, str]]:
    """(v1 attributes in v2 form, custom properties) from a request's x-image-meta headers.

    As v1 read them: names lower-cased with `-` read as `_`, an empty value meaning unset,
    numbers and booleans parsed; `is_public` becomes `visibility`.
    """
    meta: dict[str, Any] = {}
    properties: dict[str, str] = {}
    for name, value in request.headers.items():
        lowered = name.lower()
        if lowered.startswith(PROPERTY):
            properties[lowered[len(PROPERTY) :].replace("-", "_")] = value
        elif lowered.startswith(META):
            key = lowered[len(META) :].replace("-", "_")
            if key not in KNOWN_HEADERS:
                raise Problem(400, f"Bad header: {lowered}")
            meta[key] = value or None
    if meta.get("location") or meta.get("copy_from"):
        raise Problem(400, "External image sources (location, copy_from) are not supported by this server")
    for key in INTEGERS:
        if meta.get(key) is not None:
            try:
                meta[key] = int(meta[key])
            except ValueError as exc:
                raise Problem(400, f"Cannot convert image {key} '{meta[key]}' to an integer.") from exc
            if meta[key] < 0:
                raise Problem(400, f"Invalid value '{meta[key]}' for parameter '{key}': Cannot be a negative value.")
    for key in BOOLEANS:
        if key in meta:
            meta[key] = _bool(meta[key] or "false")
    if "is_public" in meta:
        meta["visibility"] = "public" if meta.pop("is_public") else "private"
    return meta, properties


def _bool(text: str) -> bool:
    """How v1 read a boolean header (oslo's `bool_from_string`): anything but a true word is false."""
    return text.strip().lower() in ("1", "t", "true", "on", "y", "yes")
