"""The control paths: switch faults at run time (`/_faults`) and mint API tokens (`/_token`).

They exist only on a server started with `--control`, and answer only requests whose
`X-Auth-Token` is the server's admin token: anyone who could reach them otherwise could switch
every request to an error, or mint a token and so lock out every client that lacks one.
Without `--control` they are unknown paths like any other (404). Faults never apply to them.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from replicator.server import state
from replicator.server.problems import Problem

PATHS = frozenset({"/_faults", "/_token"})
#: Where `serve --control` finds the admin token when `--control-token` does not give it.
TOKEN_VARIABLE = "REPLICATOR_SERVE_CONTROL_TOKEN"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/_faults", _admin_only(show_faults))
    router.add_post("/_faults", _admin_only(change_faults))
    router.add_post("/_token", _admin_only(issue_token))


def _admin_only(handler: Handler) -> Handler:
    async def checked(request: web.Request) -> web.StreamResponse:
        expected = state.config(request).control_token
        given = request.headers.get("X-Auth-Token")
        if not given:
            raise Problem(401, "The control paths need this server's admin token in X-Auth-Token.")
        if expected is None or not secrets.compare_digest(given.encode(), expected.encode()):
            raise Problem(403, "That is not this server's admin token.")
        return await handler(request)

    return checked


async def show_faults(request: web.Request) -> web.Response:
    """The switches, how often each fault fired (so a test can tell that its fault happened), and
    the bytes of image data served (so a test can tell how often the data was read)."""
    injector = state.faults(request)
    return web.json_response(
        {**injector.config.as_dict(), "fired": dict(injector.fired), "served_bytes": injector.served_bytes}
    )


async def change_faults(request: web.Request) -> web.Response:
    """Set the switches in a JSON object, all or none: a bad value is a 400 that changes nothing."""
    body = await state.json_body(request)
    if not isinstance(body, dict):
        raise Problem(400, "The body must be a JSON object of fault switches.")
    try:
        state.faults(request).update(body)
    except ValueError as exc:
        raise Problem(400, str(exc)) from exc
    return await show_faults(request)


async def issue_token(request: web.Request) -> web.Response:
    """A fresh API token, valid for `token_ttl` seconds: what a Keystone re-authentication gets."""
    injector = state.faults(request)
    return web.json_response({"token": injector.new_token(), "ttl": injector.config.token_ttl})
