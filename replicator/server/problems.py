"""Errors the server answers with, rendered the way Glance's webob layer renders them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus

from aiohttp import web


class Problem(Exception):
    """An HTTP error answer: raised anywhere in a handler, rendered by `render`."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def render(request: web.Request, problem: Problem) -> web.Response:
    """JSON `{"message", "code", "title"}` to clients that accept JSON, plain text otherwise."""
    title = HTTPStatus(problem.status).phrase
    code = f"{problem.status} {title}"
    if "application/json" in request.headers.get("Accept", ""):
        body = json.dumps({"message": problem.message, "code": code, "title": title})
        content_type = "application/json"
    else:
        body = f"{code}\n\n{problem.message}\n\n"
        content_type = "text/plain"
    return web.Response(status=problem.status, text=body, content_type=content_type, headers=problem.headers)


def not_found(image_id: str) -> Problem:
    return Problem(404, f"No image found with ID {image_id}")
