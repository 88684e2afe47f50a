"""Image members: the projects a `shared` image is shared with, each with its own status."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from replicator.server import schema, state
from replicator.server.problems import Problem
from replicator.server.storage import StoredImage

MEMBER_STATUSES = ("pending", "accepted", "rejected")


def _shared_image(request: web.Request) -> StoredImage:
    image = state.image_of(request)
    if image.record["visibility"] != "shared":
        raise Problem(403, "Only shared images have members.")
    return image


def _present(image: StoredImage, member: dict[str, Any]) -> dict[str, Any]:
    return {**member, "image_id": image.id, "schema": "/v2/schemas/member"}


def _member(image: StoredImage, member_id: str) -> dict[str, Any]:
    member = image.members.get(member_id)
    if member is None:
        raise Problem(404, f"{member_id} is not a member of image {image.id}")
    return member


async def list_members(request: web.Request) -> web.Response:
    image = _shared_image(request)
    members = [_present(image, member) for member in image.members.values()]
    return web.json_response({"members": members, "schema": "/v2/schemas/members"})


async def add_member(request: web.Request) -> web.Response:
    image = _shared_image(request)
    body = await state.json_body(request)
    member_id = body.get("member") if isinstance(body, dict) else None
    if not isinstance(member_id, str) or not member_id:
        raise Problem(400, "Member to be added not specified")
    if member_id in image.members:
        raise Problem(409, f"Member {member_id} already associated with image {image.id}.")
    stamp = schema.now()
    image.members[member_id] = {"member_id": member_id, "status": "pending", "created_at": stamp, "updated_at": stamp}
    state.repository(request).save(image)
    return web.json_response(_present(image, image.members[member_id]))


async def show_member(request: web.Request) -> web.Response:
    image = _shared_image(request)
    return web.json_response(_present(image, _member(image, request.match_info["member_id"])))


async def update_member(request: web.Request) -> web.Response:
    image = _shared_image(request)
    member = _member(image, request.match_info["member_id"])
    body = await state.json_body(request)
    status = body.get("status") if isinstance(body, dict) else None
    if status not in MEMBER_STATUSES:
        raise Problem(400, f"Invalid status: {status!r}; must be one of {', '.join(MEMBER_STATUSES)}")
    member.update(status=status, updated_at=schema.now())
    state.repository(request).save(image)
    return web.json_response(_present(image, member))


async def delete_member(request: web.Request) -> web.Response:
    image = _shared_image(request)
    _member(image, request.match_info["member_id"])
    del image.members[request.match_info["member_id"]]
    state.repository(request).save(image)
    return web.Response(status=204)
