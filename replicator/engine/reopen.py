"""A source stream that survives being cut: it reopens at the byte it reached, up to a limit.

The shape of rclone's `fs/operations/reopen.go`: the consumer (the target upload, the verifier)
keeps reading one uninterrupted stream while, underneath, a dropped download is resumed with a
`Range` request instead of starting the whole image over.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing

from replicator.model.errors import ImageError
from replicator.model.records import ImageRecord
from replicator.model.retry import backoff_delay
from replicator.stores.base import ImageStore


async def reopening_stream(
    source: ImageStore,
    image: ImageRecord,
    retries: int,
    on_retry: Callable[[int, ImageError], None] | None = None,
) -> AsyncGenerator[bytes, None]:
    """The image's bytes from its first to its last, reopening the source after transient failures.

    Gives up after `retries` reopenings in a row without progress; the error it then raises is
    final (not retryable), so a caller's own retry loop does not multiply the attempts.
    """
    offset = 0
    failures = 0
    while True:
        reached = offset
        try:
            async with aclosing(source.read_data(image, offset)) as chunks:
                async for chunk in chunks:
                    offset += len(chunk)
                    yield chunk
            return
        except ImageError as exc:
            failures = 1 if offset > reached else failures + 1
            if not exc.retryable or failures > retries:
                raise exc.again(retryable=False) from exc
            if on_retry is not None:
                on_retry(failures, exc.again(f"{exc}; resuming at byte {offset}", retryable=True))
            await asyncio.sleep(backoff_delay(failures, exc.retry_after))
