"""The aiohttp application: routes, version discovery, and errors rendered like Glance's."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Awaitable, Callable

from aiohttp import web

from replicator.server import data, images, members, state, v1
from replicator.server.config import ServerConfig
from replicator.server.faults import FaultInjector, change_faults, issue_token, middleware, show_faults
from replicator.server.problems import Problem, render
from replicator.server.storage import ImageRepository

log = logging.getLogger("replicator.server")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
API_VERSION = "v2.16"
V1_VERSION = "v1.1"


def create_app(data_dir: Path, config: ServerConfig) -> web.Application:
    """A server storing its images under `data_dir`."""
    injector = FaultInjector(config.faults, config.token)
    app = web.Application(middlewares=[_render_problems, middleware(injector)])
    app[state.CONFIG] = config
    app[state.REPOSITORY] = ImageRepository(data_dir)
    app[state.FAULTS] = injector
    app[data.IMPORT_TASKS] = set()
    _add_routes(app.router, config.apis)
    return app


def _add_routes(router: web.UrlDispatcher, apis: tuple[str, ...]) -> None:
    router.add_get("/versions", versions)
    router.add_get("/", multiple_choices)
    router.add_get("/_faults", show_faults)
    router.add_post("/_faults", change_faults)
    router.add_post("/_token", issue_token)
    # A Glance answers a path under an API version it does not serve with its versions (300).
    if "v1" in apis:
        v1.add_routes(router)
    else:
        router.add_route("*", "/v1/{tail:.*}", multiple_choices)
    if "v2" in apis:
        _add_v2_routes(router)
    else:
        router.add_route("*", "/v2/{tail:.*}", multiple_choices)


def _add_v2_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v2/images", images.create_image)
    router.add_get("/v2/images", images.list_images)
    one = "/v2/images/{image_id}"
    router.add_get(one, images.show_image)
    router.add_patch(one, images.update_image)
    router.add_delete(one, images.delete_image)
    router.add_post(one + "/actions/deactivate", images.deactivate_image)
    router.add_post(one + "/actions/reactivate", images.reactivate_image)
    router.add_put(one + "/file", data.upload_file)
    router.add_get(one + "/file", data.download_file)
    router.add_put(one + "/stage", data.stage_file)
    router.add_post(one + "/import", data.import_image)
    router.add_get(one + "/members", members.list_members)
    router.add_post(one + "/members", members.add_member)
    router.add_get(one + "/members/{member_id}", members.show_member)
    router.add_put(one + "/members/{member_id}", members.update_member)
    router.add_delete(one + "/members/{member_id}", members.delete_member)
    router.add_get("/v2/info/import", import_info)
    router.add_get("/v2/info/stores", stores_info)


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
        return render(request, Problem(500, "The server has either erred or is incapable of performing the requested operation."))


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


async def import_info(request: web.Request) -> web.Response:
    methods = {"description": "Import methods available.", "type": "array", "value": list(data.IMPORT_METHODS)}
    return web.json_response({"import-methods": methods})


async def stores_info(request: web.Request) -> web.Response:
    stores = state.config(request).stores
    listed = [{"id": store, **({"default": "true"} if i == 0 else {})} for i, store in enumerate(stores)]
    return web.json_response({"stores": listed})
