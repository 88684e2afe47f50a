"""The Glance v2 API: image records and members, translated to and from the image repository.

The rules of the images themselves (ids never reused, what deletion removes, how a listing is
ordered and paged) live in `repository.py` and `paging.py`, shared with v1; what is here is
how v2 says it: JSON records, JSON-patch updates, query parameters and `next` links.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from replicator.server import data, schema, state
from replicator.server.paging import DEFAULT_DIRECTION, DIRECTIONS, SORT_KEYS, Ordering, one_of, page_limit
from replicator.server.problems import Problem
from replicator.server.storage import StoredImage

JSON_PATCH_TYPES = (
    "application/openstack-images-v2.1-json-patch",
    "application/openstack-images-v2.0-json-patch",
)
LISTING_VISIBILITIES = (*schema.VISIBILITIES, "all")
LISTING_MEMBER_STATUSES = ("pending", "accepted", "rejected", "all")
MEMBER_STATUSES = ("pending", "accepted", "rejected")
#: Listing parameters that filter on an attribute's exact value.
EXACT_FILTERS = ("name", "status", "owner", "disk_format", "container_format")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v2/images", create_image)
    router.add_get("/v2/images", list_images)
    one = "/v2/images/{image_id}"
    router.add_get(one, show_image)
    router.add_patch(one, update_image)
    router.add_delete(one, delete_image)
    router.add_post(one + "/actions/deactivate", deactivate_image)
    router.add_post(one + "/actions/reactivate", reactivate_image)
    router.add_get(one + "/members", list_members)
    router.add_post(one + "/members", add_member)
    router.add_get(one + "/members/{member_id}", show_member)
    router.add_put(one + "/members/{member_id}", update_member)
    router.add_delete(one + "/members/{member_id}", delete_member)
    router.add_get("/v2/info/import", import_info)
    router.add_get("/v2/info/stores", stores_info)


def present(image: StoredImage) -> dict[str, Any]:
    """The record as Glance returns it: stored attributes plus the links it derives."""
    image_id = image.id
    return {
        **image.record,
        "self": f"/v2/images/{image_id}",
        "file": f"/v2/images/{image_id}/file",
        "schema": "/v2/schemas/image",
    }


def record_response(image: StoredImage, status: int = 200, **headers: str) -> web.Response:
    return web.json_response(present(image), status=status, headers=headers)


# --- images ------------------------------------------------------------------------------


async def create_image(request: web.Request) -> web.Response:
    body = await state.json_body(request)
    record = schema.new_record(body, state.config(request).project_id)
    image = state.repository(request).create(record)
    return record_response(image, 201, Location=f"{request.url.origin()}/v2/images/{image.id}")


async def show_image(request: web.Request) -> web.Response:
    return record_response(state.image_of(request))


async def update_image(request: web.Request) -> web.Response:
    image = state.image_of(request)
    if request.content_type not in JSON_PATCH_TYPES:
        raise Problem(
            415,
            f"Unsupported Content-Type {request.content_type}",
            {"Accept-Patch": ", ".join(JSON_PATCH_TYPES)},
        )
    operations = await state.json_body(request)
    updated = schema.apply_patch(image.record, operations)
    if updated != image.record:
        updated["updated_at"] = schema.now()
        image.record = updated
        state.repository(request).save(image)
    return record_response(image)


async def delete_image(request: web.Request) -> web.Response:
    state.repository(request).delete(state.image_of(request))
    return web.Response(status=204)


async def deactivate_image(request: web.Request) -> web.Response:
    return _change_activation(request, "deactivate", "deactivated")


async def reactivate_image(request: web.Request) -> web.Response:
    return _change_activation(request, "reactivate", "active")


def _change_activation(request: web.Request, action: str, status: str) -> web.Response:
    """Only images with data switch between active and deactivated; repeats are no-ops."""
    image = state.image_of(request)
    if image.status not in ("active", "deactivated"):
        raise Problem(403, f"Not allowed to {action} image in status '{image.status}'")
    if image.status != status:
        image.record.update(status=status, updated_at=schema.now())
        state.repository(request).save(image)
    return web.Response(status=204)


# --- listing -----------------------------------------------------------------------------


async def list_images(request: web.Request) -> web.Response:
    """One page in the order asked for (newest first by default), with `next` whenever the
    page is full."""
    query = request.query
    config = state.config(request)
    matches = _filter(query)
    limit = page_limit(query.get("limit"), config.default_limit, config.page_cap)
    ordering = _ordering(query)
    repository = state.repository(request)
    marker = query.get("marker")
    after = None
    if marker is not None:
        after = repository.get(marker)
        if after is None:
            raise Problem(400, f"No image found with ID {marker}")
    page = repository.page(ordering, matches, after, limit)
    others = [(key, value) for key, value in query.items() if key != "marker"]
    body: dict[str, Any] = {
        "images": [present(image) for image in page],
        "first": _listing_url(others),
        "schema": "/v2/schemas/images",
    }
    if page and len(page) == limit:
        body["next"] = _listing_url([*others, ("marker", page[-1].id)])
    return web.json_response(body)


def _filter(query: MultiMapping[str]) -> Callable[[StoredImage], bool]:
    """The listing's filters, checked once, as a test of one image."""
    visibility = query.get("visibility")
    if visibility is not None and visibility not in LISTING_VISIBILITIES:
        raise Problem(400, f"Invalid visibility value: {visibility}")
    member_status = query.get("member_status", "accepted")
    if member_status not in LISTING_MEMBER_STATUSES:
        raise Problem(400, f"Invalid status: {member_status}")
    hidden = query.get("os_hidden", "false").lower()
    if hidden not in ("true", "false"):
        raise Problem(400, f"Invalid value '{hidden}' for 'os_hidden' filter. Valid values are 'true' or 'false'.")
    exact = {key: query[key] for key in EXACT_FILTERS if key in query}
    tags = [tag.strip() for tag in query.getall("tag", [])]

    def matches(image: StoredImage) -> bool:
        record = image.record
        return (
            (visibility in (None, "all") or record["visibility"] == visibility)
            and record["os_hidden"] == (hidden == "true")
            and all(record.get(key) == value for key, value in exact.items())
            and all(tag in record["tags"] for tag in tags)
        )

    return matches


def _ordering(query: MultiMapping[str]) -> Ordering:
    """`sort=key:dir,...` or the classic `sort_key=...&sort_dir=...` (not both), as v2 reads them."""
    keys: list[str] = []
    directions: list[str] = []
    if "sort" in query:
        if "sort_key" in query or "sort_dir" in query:
            raise Problem(400, "Old and new sorting syntax cannot be combined")
        for part in query["sort"].strip().split(","):
            key, _, direction = part.partition(":")
            keys.append(_sort_key(key.strip()))
            directions.append(_sort_direction((direction or DEFAULT_DIRECTION).strip()))
    else:
        keys = [_sort_key(key.strip()) for key in query.getall("sort_key", [])]
        directions = [_sort_direction(direction.strip()) for direction in query.getall("sort_dir", [])]
        if len(directions) > 1 and len(directions) != len(keys):
            raise Problem(400, "Number of sort dirs does not match the number of sort keys")
    return Ordering.of(keys, directions)


def _sort_key(key: str) -> str:
    return one_of(key, SORT_KEYS, f"Invalid sort key: {key}. It must be one of the following: {', '.join(SORT_KEYS)}.")


def _sort_direction(direction: str) -> str:
    return one_of(direction, DIRECTIONS, f"Invalid sort direction: {direction}")


def _listing_url(params: list[tuple[str, str]]) -> str:
    return "/v2/images" + (f"?{urllib.parse.urlencode(params)}" if params else "")


# --- members -----------------------------------------------------------------------------


def _shared_image(request: web.Request) -> StoredImage:
    image = state.image_of(request)
    if image.record["visibility"] != "shared":
        raise Problem(403, "Only shared images have members.")
    return image


def _present_member(image: StoredImage, member: dict[str, Any]) -> dict[str, Any]:
    return {**member, "image_id": image.id, "schema": "/v2/schemas/member"}


async def list_members(request: web.Request) -> web.Response:
    image = _shared_image(request)
    members = [_present_member(image, member) for member in image.members.values()]
    return web.json_response({"members": members, "schema": "/v2/schemas/members"})


async def add_member(request: web.Request) -> web.Response:
    image = _shared_image(request)
    body = await state.json_body(request)
    member_id = body.get("member") if isinstance(body, dict) else None
    if not isinstance(member_id, str) or not member_id:
        raise Problem(400, "Member to be added not specified")
    member = state.repository(request).share(image, member_id)
    return web.json_response(_present_member(image, member))


async def show_member(request: web.Request) -> web.Response:
    image = _shared_image(request)
    member = state.repository(request).member(image, request.match_info["member_id"])
    return web.json_response(_present_member(image, member))


async def update_member(request: web.Request) -> web.Response:
    image = _shared_image(request)
    repository = state.repository(request)
    member = repository.member(image, request.match_info["member_id"])
    body = await state.json_body(request)
    status = body.get("status") if isinstance(body, dict) else None
    if status not in MEMBER_STATUSES:
        raise Problem(400, f"Invalid status: {status!r}; must be one of {', '.join(MEMBER_STATUSES)}")
    member.update(status=status, updated_at=schema.now())
    repository.save(image)
    return web.json_response(_present_member(image, member))


async def delete_member(request: web.Request) -> web.Response:
    image = _shared_image(request)
    state.repository(request).unshare(image, request.match_info["member_id"])
    return web.Response(status=204)


# --- discovery ---------------------------------------------------------------------------


async def import_info(request: web.Request) -> web.Response:
    methods = {"description": "Import methods available.", "type": "array", "value": list(data.IMPORT_METHODS)}
    return web.json_response({"import-methods": methods})


async def stores_info(request: web.Request) -> web.Response:
    stores = state.config(request).stores
    listed = [{"id": store, **({"default": "true"} if i == 0 else {})} for i, store in enumerate(stores)]
    return web.json_response({"stores": listed})
