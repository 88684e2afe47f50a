"""Image data: upload (`PUT .../file`), download (`GET .../file`), and interoperable import
(`PUT .../stage`, then `POST .../import` with `glance-direct`).

An upload that does not complete (cut connection, wrong size, data that does not match the
disk format) leaves the image `queued` with no data, as Glance does, so a client can simply
upload again. Data reaches its final name only once it is complete.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from aiohttp import web

from replicator.server import schema, state
from replicator.server.faults import BodyFaults, Pacer
from replicator.server.hashing import HashingWriter, digest_file
from replicator.server.problems import Problem
from replicator.server.storage import StoredImage

OCTET_STREAM = "application/octet-stream"
SIZE_HEADER = "x-openstack-image-size"
STORE_HEADER = "X-Image-Meta-Store"
DOWNLOAD_BLOCK = 64 * 1024
IMPORT_METHODS = ("glance-direct",)
#: Leading bytes by which Glance's format inspector recognises a disk format.
SIGNATURES = {"qcow2": b"QFI\xfb", "vmdk": b"KDMV", "vhd": b"conectix", "vhdx": b"vhdxfile"}
IMPORT_TASKS = web.AppKey("import_tasks", set)


def add_routes(router: web.UrlDispatcher) -> None:
    one = "/v2/images/{image_id}"
    router.add_put(one + "/file", upload_file)
    router.add_get(one + "/file", download_file)
    router.add_put(one + "/stage", stage_file)
    router.add_post(one + "/import", import_image)


async def upload_file(request: web.Request) -> web.Response:
    image = state.image_of(request)
    if not state.config(request).direct_upload:
        raise Problem(403, "You are not authorized to complete upload_image action.")
    _require_octet_stream(request)
    store = _store_choice(request, request.headers.get(STORE_HEADER))
    if not (image.record["disk_format"] and image.record["container_format"]):
        raise Problem(400, "Properties disk_format, container_format must be set prior to saving data.")
    if image.status != "queued":
        raise Problem(409, f"Image status transition from {image.status} to saving is not allowed")
    await store_data(request, image, store, _declared_size(request))
    return web.Response(status=204)


async def store_data(
    request: web.Request, image: StoredImage, store: str, declared: int | None, checksum: str | None = None
) -> None:
    """Receive the request body as the image's data and make the image active (v1 and v2).

    `checksum`, when the client gave one (v1's `x-image-meta-checksum`), must be the data's md5.
    """
    repository = state.repository(request)
    partial = repository.partial_path(image.id)
    size, md5, sha512 = await receive(request, image, partial, "saving", declared, checksum)
    os.replace(partial, repository.data_path(image.id))
    _activate(image, size, md5, sha512, store)
    repository.save(image)


async def stage_file(request: web.Request) -> web.Response:
    image = state.image_of(request)
    _require_octet_stream(request)
    if image.status != "queued":
        raise Problem(409, f"Image status transition from {image.status} to uploading is not allowed")
    path = state.repository(request).staging_path(image.id)
    await receive(request, image, path, "uploading", _declared_size(request))
    return web.Response(status=204)


async def import_image(request: web.Request) -> web.Response:
    image = state.image_of(request)
    body = await state.json_body(request)
    method = body.get("method", {}).get("name") if isinstance(body, dict) else None
    if method not in IMPORT_METHODS:
        raise Problem(400, f"Import method {method!r} is not valid; available: {', '.join(IMPORT_METHODS)}")
    stores = body.get("stores") or [request.headers.get(STORE_HEADER)]
    store = _store_choice(request, stores[0] if isinstance(stores, list) and stores else None)
    repository = state.repository(request)
    if image.status != "uploading" or not repository.staging_path(image.id).exists():
        raise Problem(409, "Image needs to be staged before 'glance-direct' method can be used")
    image.record.update(status="importing", updated_at=schema.now())
    repository.save(image)
    tasks: set[asyncio.Task[None]] = request.app[IMPORT_TASKS]
    task = asyncio.create_task(_finish_import(request.app, image, store))
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return web.Response(status=202)


async def _finish_import(app: web.Application, image: StoredImage, store: str) -> None:
    """Glance imports in the background: the client polls the image until it is active."""
    repository = app[state.REPOSITORY]
    staged = repository.staging_path(image.id)
    try:
        size, md5, sha512 = await asyncio.to_thread(digest_file, staged)
        os.replace(staged, repository.data_path(image.id))
    except OSError as exc:
        image.record.update(status="queued", os_glance_failed_import=store, updated_at=schema.now())
        image.record["os_glance_import_error"] = str(exc)
    else:
        _activate(image, size, md5, sha512, store)
    if not image.deleted:
        repository.save(image)


async def download_file(request: web.Request) -> web.StreamResponse:
    image = state.image_of(request)
    return await send_data(
        request, image, {"Content-Type": OCTET_STREAM, "Content-MD5": image.record["checksum"] or ""}
    )


async def send_data(
    request: web.Request, image: StoredImage, headers: dict[str, str], honour_range: bool = True
) -> web.StreamResponse:
    """The image's data (or the Range asked for) with `headers`; 204 when it has none.

    `honour_range=False` sends the whole file whatever `Range` asks, as Glance v1 did (webob
    ignored the header), so clients must cope with a 200 where they asked for a range.
    """
    path = state.repository(request).data_path(image.id)
    if image.status not in ("active", "deactivated") or not path.exists():
        return web.Response(status=204, headers=headers)
    injector = state.faults(request)
    faults = injector.for_download()
    ranged = "Range" in request.headers
    if ranged and not honour_range:
        request = request.clone(headers={k: v for k, v in request.headers.items() if k.lower() != "range"})
    if not faults.active:
        try:
            start, stop = _requested_range(request, path.stat().st_size)
        except Problem:
            start = stop = 0  # aiohttp answers it (416), as Glance does
        injector.served_bytes += stop - start
        # sendfile: the fastest path, and aiohttp answers Range requests itself.
        response = web.FileResponse(path, chunk_size=256 * 1024, headers=headers)
        if ranged and not honour_range:
            await response.prepare(request)  # with the clone: aiohttp would prepare with the original
        return response
    return await _stream_with_faults(request, path, headers, faults)


async def _stream_with_faults(
    request: web.Request, path: Path, headers: dict[str, str], faults: BodyFaults
) -> web.StreamResponse:
    """Send the file (or the range asked for) while pacing, stalling or cutting it."""
    size = path.stat().st_size
    start, stop = _requested_range(request, size)
    response = web.StreamResponse(status=200, headers=headers)
    if (start, stop) != (0, size):
        response.set_status(206)
        response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    response.content_length = stop - start
    await response.prepare(request)
    pacer, stall, sent = Pacer(faults.bandwidth), faults.stall, 0
    with path.open("rb") as file:
        file.seek(start)
        while sent < stop - start:
            block = await asyncio.to_thread(file.read, min(DOWNLOAD_BLOCK, stop - start - sent))
            if faults.drop_after is not None and sent + len(block) >= faults.drop_after:
                await response.write(block[: faults.drop_after - sent])
                state.faults(request).served_bytes += faults.drop_after - sent
                _cut(request)
                return response
            if faults.corrupt_at is not None and sent <= faults.corrupt_at < sent + len(block):
                flipped = bytearray(block)
                flipped[faults.corrupt_at - sent] ^= 0xFF
                block = bytes(flipped)
            await response.write(block)
            sent += len(block)
            state.faults(request).served_bytes += len(block)
            if stall:
                await asyncio.sleep(stall)
                stall = 0.0
            await pacer.pace(len(block))
    await response.write_eof()
    return response


def _requested_range(request: web.Request, size: int) -> tuple[int, int]:
    """[start, stop) of the bytes to send, read by aiohttp as `FileResponse` reads it (which
    answers the requests no fault touches): the whole file when there is no Range, 416 for
    one that is malformed or starts past the end."""
    unsatisfiable = Problem(416, "Requested range not satisfiable", {"Content-Range": f"bytes */{size}"})
    try:
        wanted = request.http_range
    except ValueError as exc:
        raise unsatisfiable from exc
    if wanted.start is None:
        return 0, size
    start, stop, _ = wanted.indices(size)
    if wanted.start >= size:
        raise unsatisfiable
    return start, stop


async def receive(
    request: web.Request,
    image: StoredImage,
    path: Path,
    status: str,
    declared: int | None,
    checksum: str | None = None,
) -> tuple[int, str, str]:
    """Read the request body into `path`, hashing it; the image is `status` meanwhile.

    Any failure puts the image back to `queued` and removes what was written.
    """
    repository = state.repository(request)
    image.record.update(status=status, updated_at=schema.now())
    repository.save(image)
    writer = HashingWriter(path)
    faults = state.faults(request).for_upload()
    pacer, stall = Pacer(faults.bandwidth), faults.stall
    try:
        async for chunk in request.content.iter_any():
            if faults.drop_after is not None and writer.size + len(chunk) > faults.drop_after:
                _cut(request)
                raise ConnectionResetError("fault injection: upload cut")
            await writer.write(chunk)
            if declared is not None and writer.size > declared:
                raise Problem(400, f"Size exceeds: expected {declared} bytes, got {writer.size} bytes")
            if stall:
                await asyncio.sleep(stall)
                stall = 0.0
            await pacer.pace(len(chunk))
        md5, sha512 = await writer.finish()
        if declared is not None and writer.size != declared:
            raise Problem(400, f"Size mismatch: expected {declared} bytes, got {writer.size} bytes")
        _check_format(image.record["disk_format"], writer.head)
        if checksum and checksum != md5:
            raise Problem(
                400, f"Supplied checksum ({checksum}) and checksum generated from uploaded image ({md5}) did not match"
            )
    except BaseException:
        await writer.discard()
        if not image.deleted:
            image.record.update(status="queued", updated_at=schema.now())
            repository.save(image)
        raise
    return writer.size, md5, sha512


def _activate(image: StoredImage, size: int, md5: str, sha512: str, store: str) -> None:
    image.record.update(
        status="active", size=size, virtual_size=size, checksum=md5, os_hash_algo="sha512",
        os_hash_value=sha512, stores=store, updated_at=schema.now(),
    )  # fmt: skip


def _check_format(disk_format: str | None, head: bytes) -> None:
    """Refuse data whose leading bytes contradict `disk_format`, as Glance's inspector does."""
    signature = SIGNATURES.get(disk_format or "")
    if signature is not None and not head.startswith(signature):
        found = next((name for name, magic in SIGNATURES.items() if head.startswith(magic)), "raw")
        raise Problem(415, f"Image disk_format {disk_format} does not match stream data {found}")


def _declared_size(request: web.Request) -> int | None:
    value = request.headers.get(SIZE_HEADER)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise Problem(400, f"{SIZE_HEADER} must be an integer, not {value!r}") from exc


def _require_octet_stream(request: web.Request) -> None:
    if request.content_type != OCTET_STREAM:
        raise Problem(415, f"Content type {request.content_type} is not supported; send {OCTET_STREAM}")


def _store_choice(request: web.Request, store: Any) -> str:
    stores = state.config(request).stores
    if store is None:
        return stores[0]
    if store not in stores:
        raise Problem(400, f"Store for identifier {store} not found")
    return str(store)


def _cut(request: web.Request) -> None:
    """Close the connection under the client: what a network failure looks like to it."""
    if request.transport is not None:
        request.transport.close()
