"""One side's Keystone token, kept and renewed ahead of its end on an injected clock.

keystoneauth authenticates again whenever a token has less than two minutes left (every call,
with short-lived tokens or a clock that is ahead of Keystone's). Here one authentication is kept
and reused until shortly before its end, measured by its own lifetime (`expires - issued`, both
Keystone's clock) from when it arrived on ours, or until Glance refuses it (401); one renewal at a
time, shared by every request that saw the same stale token.

Time is asked of `clock` (monotonic seconds) and `wall_clock` (for the one warning about clocks
that disagree), both injected, so tests of renewal move time instead of sleeping
(`tests/test_tokens.py`). How a token is obtained is not known here: `authenticate` is given.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

#: Renew a token this long before its end, so no request carries a dying one (at most half its
#: lifetime, for short-lived tokens).
RENEW_AHEAD = datetime.timedelta(seconds=30)


@dataclass(frozen=True)
class Grant:
    """What one authentication gave: the token, its service catalog (Keystone's JSON), and its
    times as Keystone's clock gives them (None where it gave none)."""

    token: str
    catalog: object
    issued: datetime.datetime | None = None
    expires: datetime.datetime | None = None


@dataclass(frozen=True)
class Login:
    """A grant as it is kept: with when to renew it, on `clock` (None: until refused)."""

    grant: Grant
    renew_at: float | None

    @property
    def token(self) -> str:
        return self.grant.token

    @property
    def catalog(self) -> object:
        return self.grant.catalog


def renewal_time(grant: Grant, received: float) -> float | None:
    """When to renew `grant`, received at `received` on our clock: shortly before its own
    lifetime has passed since it arrived (None: it says no lifetime; kept until refused)."""
    if grant.expires is None or grant.issued is None or grant.expires <= grant.issued:
        return None
    lifetime = (grant.expires - grant.issued).total_seconds()
    return received + lifetime - min(RENEW_AHEAD.total_seconds(), lifetime / 2)


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class TokenCache:
    """The token of one side: one authentication at a time, kept until due or refused."""

    def __init__(
        self,
        authenticate: Callable[[], Awaitable[Grant]],
        *,
        warn: Callable[[str], None] = lambda message: None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime.datetime] = _utc_now,
    ) -> None:
        self._authenticate = authenticate
        self._warn = warn
        self._clock = clock
        self._wall_clock = wall_clock
        self._login: Login | None = None
        self._warned_expired = False
        self._lock = asyncio.Lock()

    async def current(self) -> Login:
        """The login to use now: the one kept, else a new one."""
        login = self._login
        if login is None or self._due(login):
            async with self._lock:
                login = self._login
                if login is None or self._due(login):
                    login = await self._new()
        return login

    async def token(self) -> str:
        return (await self.current()).token

    async def renew(self, refused: str | None) -> str:
        """A new token after `refused` was refused, unless another request renewed it already."""
        async with self._lock:
            login = self._login
            if login is None or login.token == refused:  # nobody has renewed it since that request went out
                login = await self._new()
        return login.token

    def _due(self, login: Login) -> bool:
        return login.renew_at is not None and self._clock() >= login.renew_at

    async def _new(self) -> Login:
        received = self._clock()
        grant = await self._authenticate()
        expires = grant.expires
        if expires is not None and expires <= self._wall_clock() and not self._warned_expired:
            # Keystone's clock and ours need not agree: the token is used until Glance refuses it.
            self._warned_expired = True
            self._warn(
                f"Keystone's token arrived already expired by this machine's clock "
                f"(it says {expires:%Y-%m-%d %H:%M:%S} UTC): the clocks disagree; it is used until "
                "Glance refuses it"
            )
        self._login = Login(grant, renewal_time(grant, received))
        return self._login
