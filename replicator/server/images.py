"""Image records: create, show, list, update, delete, deactivate and reactivate."""

from __future__ import annotations

import urllib.parse
from typing import Any

from aiohttp import web

from replicator.server import schema, state
from replicator.server.problems import Problem
from replicator.server.storage import StoredImage

JSON_PATCH_TYPES = (
    "application/openstack-images-v2.1-json-patch",
    "application/openstack-images-v2.0-json-patch",
)
LISTING_VISIBILITIES = (*schema.VISIBILITIES, "all")
MEMBER_STATUSES = ("pending", "accepted", "rejected", "all")
#: Listing parameters that filter on an attribute's exact value.
EXACT_FILTERS = ("name", "status", "owner", "disk_format", "container_format")


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


async def create_image(request: web.Request) -> web.Response:
    body = await state.json_body(request)
    record = schema.new_record(body, state.config(request).project_id)
    repository = state.repository(request)
    if repository.ever_existed(record["id"]):
        raise Problem(409, f"Image ID {record['id']} already exists!")
    image = StoredImage(record)
    repository.add(image)
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
    image = state.image_of(request)
    if image.record.get("protected"):
        raise Problem(403, f"Image {image.id} is protected and cannot be deleted.")
    image.deleted = True
    image.record.update(status="deleted", updated_at=schema.now())
    repository = state.repository(request)
    repository.save(image)
    for path in (repository.data_path(image.id), repository.staging_path(image.id)):
        path.unlink(missing_ok=True)
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


async def list_images(request: web.Request) -> web.Response:
    """One page, newest first, with `next` whenever the page is full (Glance's paging)."""
    query = request.query
    config = state.config(request)
    limit = min(_limit(query.get("limit"), config.default_limit), config.page_cap)
    candidates = [image for image in state.repository(request).live() if _matches(image, query)]
    candidates.sort(key=_order, reverse=True)
    marker = query.get("marker")
    if marker is not None:
        marked = state.repository(request).get(marker)
        if marked is None:
            raise Problem(400, f"Invalid marker. Image {marker} could not be found.")
        candidates = [image for image in candidates if _order(image) < _order(marked)]
    page = candidates[:limit]
    others = [(key, value) for key, value in query.items() if key != "marker"]
    body: dict[str, Any] = {
        "images": [present(image) for image in page],
        "first": _listing_url(others),
        "schema": "/v2/schemas/images",
    }
    if page and len(page) == limit:
        body["next"] = _listing_url([*others, ("marker", page[-1].id)])
    return web.json_response(body)


def _limit(value: str | None, default: int) -> int:
    if value is None:
        return default
    try:
        limit = int(value)
    except ValueError:
        raise Problem(400, "limit param must be an integer") from None
    if limit < 0:
        raise Problem(400, "limit param must be positive")
    return limit


def _matches(image: StoredImage, query: Any) -> bool:
    record = image.record
    visibility = query.get("visibility")
    if visibility is not None and visibility not in LISTING_VISIBILITIES:
        raise Problem(400, f"Invalid visibility value: {visibility}")
    member_status = query.get("member_status")
    if member_status is not None and member_status not in MEMBER_STATUSES:
        raise Problem(400, f"Invalid status value: {member_status}")
    if visibility not in (None, "all") and record["visibility"] != visibility:
        return False
    if record["os_hidden"] != _boolean(query.get("os_hidden", "false"), "os_hidden"):
        return False
    if any(key in query and record.get(key) != query[key] for key in EXACT_FILTERS):
        return False
    return all(tag in record["tags"] for tag in query.getall("tag", []))


def _boolean(value: str, name: str) -> bool:
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise Problem(400, f"Failed to parse '{name}' value '{value}' as a boolean")
    return lowered == "true"


def _order(image: StoredImage) -> tuple[str, str]:
    return image.record["created_at"], image.id


def _listing_url(params: list[tuple[str, str]]) -> str:
    return "/v2/images" + (f"?{urllib.parse.urlencode(params)}" if params else "")

