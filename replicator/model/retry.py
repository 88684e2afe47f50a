"""The retry policy, in one place: exponential back-off with full jitter.

Callers wrap one whole step (a listing page, a create, an upload from its first byte) so that
what is retried is always something that is safe to run again.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from replicator.model.errors import ImageError

T = TypeVar("T")

BASE_DELAY = 0.5
MAX_DELAY = 30.0


def backoff_delay(attempt: int, retry_after: float | None = None) -> float:
    """Seconds to wait before retry number `attempt` (1-based).

    A server's `Retry-After` wins when it asks for longer than our own back-off.
    """
    delay = random.uniform(0, min(MAX_DELAY, BASE_DELAY * 2 ** (attempt - 1)))
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_DELAY * 4))
    return delay


async def with_retries(
    step: Callable[[], Awaitable[T]],
    retries: int,
    on_retry: Callable[[int, ImageError], None] | None = None,
) -> T:
    """Run `step`; when it fails with a retryable `ImageError`, run it again, `retries` times at most."""
    attempt = 0
    while True:
        try:
            return await step()
        except ImageError as exc:
            attempt += 1
            if not exc.retryable or attempt > retries:
                raise
            if on_retry is not None:
                on_retry(attempt, exc)
            await asyncio.sleep(backoff_delay(attempt, exc.retry_after))
