"""The aiohttp application: routes, version discovery, and errors rendered like Glance's."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from replicator.server import control, data, state, v1, v2
from replicator.server.config import ServerConfig
from replicator.server.faults import FaultInjector, middleware
from replicator.server.generated import generated_records
from replicator.server.problems import Problem, render
from replicator.server.repository import ImageRepository

log = logging.getLogger("replicator.server")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
API_VERSION = "v2.16"
V1_VERSION = "v1.1"


def create_app(data_dir: Path, config: ServerConfig) -> web.Application:
    """A server storing its images under `data_dir`."""
    injector = FaultInjector(config.faults, config.token)
    controlled = config.control_token is not None
    exempt = control.PATHS if controlled else frozenset()
    app = web.Application(middlewares=[_render_problems, middleware(injector, exempt)])
    app[state.CONFIG] = config
    repository = ImageRepository(data_dir)
    repository.add_generated(generated_records(config.generated_images, config.project_id))
    app[state.REPOSITORY] = repository
    app[state.FAULTS] = injector
    app[data.IMPORT_TASKS] = set()
    _add_routes(app.router, config.apis, controlled)
    return app


def _add_routes(router: web.UrlDispatcher, apis: tuple[str, ...], controlled: bool) -> None:
    router.add_get("/versions", versions)
    router.add_get("/", multiple_choices)
    if controlled:
        control.add_routes(router)
    # A Glance answers a path under an API version it does not serve with its versions (300).
    if "v1" in apis:
        v1.add_routes(router)
    else:
        router.add_route("*", "/v1/{tail:.*}", multiple_choices)
    if "v2" in apis:
        v2.add_routes(router)
        data.add_routes(router)
    else:
        router.add_route("*", "/v2/{tail:.*}", multiple_choices)


@web.middleware
async def _render_problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Problem as problem:
        return render(request, problem)
    except ConnectionError:
        # The connection is gone (cut by a fault, or by the client): nothing can be sent.
        return web.Response(status=500)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("error handling %s %s", request.method, request.path)
        return render(
            request, Problem(500, "The server has either erred or is incapable of performing the requested operation.")
        )


def _versions_body(request: web.Request) -> dict[str, object]:
    origin = request.url.origin()
    apis = state.config(request).apis
    listed = []
    if "v2" in apis:
        listed.append({"id": API_VERSION, "status": "CURRENT", "links": [{"rel": "self", "href": f"{origin}/v2/"}]})
    if "v1" in apis:
        status = "SUPPORTED" if "v2" in apis else "CURRENT"
        listed.append({"id": V1_VERSION, "status": status, "links": [{"rel": "self", "href": f"{origin}/v1/"}]})
    return {"versions": listed}


async def versions(request: web.Request) -> web.Response:
    return web.json_response(_versions_body(request))


async def multiple_choices(request: web.Request) -> web.Response:
    """What Glance answers for a path with no API version it serves, v1 included."""
    return web.json_response(_versions_body(request), status=300)
