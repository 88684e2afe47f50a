"""The objects every handler of one server shares, kept on the aiohttp application."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from replicator.server.config import ServerConfig
from replicator.server.faults import INJECTOR, FaultInjector
from replicator.server.problems import Problem, not_found
from replicator.server.repository import ImageRepository
from replicator.server.storage import StoredImage

CONFIG = web.AppKey("config", ServerConfig)
REPOSITORY = web.AppKey("repository", ImageRepository)
#: The fault injector's key, defined with the injector (`faults.middleware` reads it too).
FAULTS = INJECTOR


def config(request: web.Request) -> ServerConfig:
    return request.app[CONFIG]


def repository(request: web.Request) -> ImageRepository:
    return request.app[REPOSITORY]


def faults(request: web.Request) -> FaultInjector:
    return request.app[FAULTS]


def image_of(request: web.Request) -> StoredImage:
    """The live image the path names, or 404 as Glance words it."""
    image_id = request.match_info["image_id"]
    image = repository(request).get(image_id)
    if image is None:
        raise not_found(image_id)
    return image


async def json_body(request: web.Request) -> Any:
    """The request body as JSON, whatever its content type; 400 when it is not JSON."""
    try:
        return json.loads(await request.read())
    except ValueError as exc:
        raise Problem(400, "Malformed JSON in request body.") from exc
