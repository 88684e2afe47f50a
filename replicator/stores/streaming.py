"""Sending an image's bytes to a Glance as one request body, whichever API takes them."""

from __future__ import annotations

from typing import AsyncIterator, Mapping

from replicator.errors import ImageError
from replicator.http import GlanceHttp


async def send_body(
    http: GlanceHttp, method: str, path: str, chunks: AsyncIterator[bytes], *,
    headers: Mapping[str, str], expected: tuple[int, ...], what: str,
) -> None:
    """Stream `chunks` as the request body; a failure of the source side is the reason given.

    When the source fails (a download cut for good, a hash mismatch, a refused token) the request
    is cut, and the server's view of that ("connection lost", a 400) says nothing useful: the
    source's error is raised instead.
    """
    source_failure: list[BaseException] = []

    async def body() -> AsyncIterator[bytes]:
        # An empty first chunk makes aiohttp send the request line and headers now, instead
        # of holding them until the source's first bytes arrive: the target starts on the
        # upload (auth, image lookup) while the download is still waiting for its answer.
        yield b""
        try:
            async for chunk in chunks:
                yield chunk
        except BaseException as exc:
            source_failure.append(exc)
            raise

    try:
        await http.send(method, path, data=body(), headers=headers, expected=expected, what=what)
    except ImageError:
        # aiohttp reports the body's own failure as a connection failure: raise the real one
        # (an ImageError fails this image; a RunError, such as a refused token, stops the run).
        # (Not a CancelledError: aiohttp cancels the body's writer itself when the server
        # answers before reading all of it, and the server's answer is then the reason.)
        if source_failure and isinstance(source_failure[0], Exception):
            raise source_failure[0] from None
        raise
    if source_failure:
        failure = source_failure[0]
        if isinstance(failure, Exception):
            raise failure
        # The body was cancelled under an answer that said success: never count it as sent.
        raise ImageError(f"could not {what}: the server answered before the whole image was sent")
