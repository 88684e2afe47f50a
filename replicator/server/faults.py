"""Fault injection: the misbehaviour of real networks and clouds, on demand.

Kept apart from the Glance behaviour: a middleware adds latency, refuses expired tokens and
answers injected errors before any handler runs (so an injected error has no side effect,
like a proxy failing in front of Glance), and the data handlers ask `FaultInjector` how to
pace, stall or cut the one body they are streaming. Switches come from the command line and,
with `--control`, can be changed at run time through `POST /_faults` (see `control.py`).
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from replicator.server.config import FaultConfig
from replicator.server.problems import Problem, render

#: Answered without a token, as Glance answers version discovery.
PUBLIC_PATHS = ("/versions", "/")


@dataclass
class BodyFaults:
    """What to do to one streamed body: cut it after `drop_after` bytes, flip the byte at
    `corrupt_at`, stall once after the first chunk for `stall` seconds, and pace it at
    `bandwidth` bytes per second."""

    drop_after: int | None
    stall: float
    bandwidth: int | None
    corrupt_at: int | None = None

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.drop_after, self.bandwidth, self.corrupt_at)) or self.stall > 0


class FaultInjector:
    """The live fault switches of one server, their counters, and its tokens."""

    def __init__(self, config: FaultConfig, token: str | None) -> None:
        self.config = config
        self.fired: Counter[str] = Counter()
        #: Bytes of image data sent (by sendfile: the bytes of the answers begun), for tests
        #: that count what a client read (`GET /_faults`: `served_bytes`).
        self.served_bytes = 0
        self._random = random.Random(config.seed)
        self._tokens: dict[str, float] = {}
        self.required = token is not None
        if token is not None:
            self._issue(token)

    def update(self, changes: dict[str, object]) -> None:
        self.config.update(changes)
        if "seed" in changes:
            self._random = random.Random(self.config.seed)
        if "token_ttl" in changes:  # new lifetimes count from now
            for token in self._tokens:
                self._issue(token)

    def new_token(self) -> str:
        token = secrets.token_hex(16)
        self.required = True
        self._issue(token)
        return token

    def _issue(self, token: str) -> None:
        ttl = self.config.token_ttl
        self._tokens[token] = time.monotonic() + ttl if ttl is not None else float("inf")

    def token_valid(self, token: str | None) -> bool:
        if not self.required:
            return True
        expires = self._tokens.get(token or "")
        return expires is not None and time.monotonic() < expires

    def injected_error(self, path: str) -> Problem | None:
        """The error to answer instead of this request, if one is due."""
        config = self.config
        if config.error_rate <= 0 or not any(p in path for p in config.error_paths or [""]):
            return None
        if self._random.random() >= config.error_rate:
            return None
        self.fired["errors"] += 1
        headers = {}
        if config.retry_after is not None:
            headers["Retry-After"] = f"{config.retry_after:g}"
        return Problem(config.error_status, "Injected fault: the server is unavailable.", headers)

    def for_download(self) -> BodyFaults:
        return BodyFaults(
            self._take("drop_after_bytes", "drop_count", "drops"),
            self._take("stall_seconds", "stall_count", "stalls") or 0.0,
            self.config.bandwidth,
            self._take("corrupt_after_bytes", "corrupt_count", "corruptions"),
        )

    def for_upload(self) -> BodyFaults:
        return BodyFaults(
            self._take("drop_upload_after_bytes", "drop_count", "upload_drops"),
            self._take("stall_seconds", "stall_count", "stalls") or 0.0,
            self.config.bandwidth,
        )

    def _take(self, switch: str, count: str, counter: str) -> Any:
        """The switch's value if the fault fires for this body, spending one of its count.

        A switch is off when None; a stall of 0 seconds is off too (a cut at byte 0 is not).
        """
        value = getattr(self.config, switch)
        if value is None or (switch == "stall_seconds" and value <= 0):
            return None
        remaining = getattr(self.config, count)
        if remaining is not None:
            if remaining <= 0:
                return None
            setattr(self.config, count, remaining - 1)
        self.fired[counter] += 1
        return value


INJECTOR = web.AppKey("faults", FaultInjector)


class Pacer:
    """Holds a stream to `bandwidth` bytes per second, measured from its first byte."""

    def __init__(self, bandwidth: int | None) -> None:
        self.bandwidth = bandwidth
        self.started = time.monotonic()
        self.sent = 0

    async def pace(self, size: int) -> None:
        self.sent += size
        if self.bandwidth:
            ahead = self.sent / self.bandwidth - (time.monotonic() - self.started)
            if ahead > 0:
                await asyncio.sleep(ahead)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def middleware(injector: FaultInjector, exempt: frozenset[str]) -> Middleware:
    """Latency, token checks and injected errors for every path but those in `exempt` (the
    control paths, which a test must reach whatever faults it has switched on)."""

    @web.middleware
    async def inject(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path in exempt:
            return await handler(request)
        if injector.config.latency > 0:
            await asyncio.sleep(injector.config.latency)
        if path not in PUBLIC_PATHS and not injector.token_valid(request.headers.get("X-Auth-Token")):
            injector.fired["unauthorized"] += 1
            problem = Problem(
                401,
                "The request you have made requires authentication.",
                {"WWW-Authenticate": "Keystone uri='http://127.0.0.1/identity'"},
            )
            return render(request, problem)
        error = injector.injected_error(path)
        if error is not None:
            return render(request, error)
        return await handler(request)

    return inject
