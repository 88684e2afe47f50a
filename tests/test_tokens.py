"""A side's token kept and renewed on an injected clock: renewal is tested by moving time, not by
sleeping, and without a Keystone (`authenticate` is a function that counts its calls).

The real thing is in `test_keystone_failures.py` (a token from a clock hours off ours) and
`test_keystone.py` (a long copy outliving 60-second tokens).
"""

from __future__ import annotations

import asyncio
import datetime

import pytest

from replicator.openstack.tokens import RENEW_AHEAD, Grant, TokenCache, renewal_time

UTC = datetime.UTC
ISSUED = datetime.datetime(2001, 1, 1, tzinfo=UTC)


class Keystone:
    """Hands out token-1, token-2, ... each valid for `lifetime` seconds by its own clock."""

    def __init__(self, lifetime: float | None = 3600, issued: datetime.datetime = ISSUED) -> None:
        self.lifetime = lifetime
        self.issued = issued
        self.calls = 0
        self.gate: asyncio.Event | None = None

    async def authenticate(self) -> Grant:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        expires = None if self.lifetime is None else self.issued + datetime.timedelta(seconds=self.lifetime)
        return Grant(f"token-{self.calls}", catalog=[], issued=self.issued, expires=expires)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cache(keystone: Keystone, clock: Clock, warned: list[str] | None = None) -> TokenCache:
    sink = warned.append if warned is not None else (lambda message: None)
    return TokenCache(keystone.authenticate, warn=sink, clock=clock, wall_clock=lambda: ISSUED)


async def test_a_token_is_kept_until_shortly_before_its_lifetime_ends() -> None:
    keystone, clock = Keystone(lifetime=3600), Clock()
    tokens = cache(keystone, clock)
    first = await tokens.token()
    clock.now += 3600 - RENEW_AHEAD.total_seconds() - 1
    assert await tokens.token() == first and keystone.calls == 1
    clock.now += 1
    assert await tokens.token() == "token-2" and keystone.calls == 2


async def test_a_short_lived_token_is_renewed_at_half_its_life() -> None:
    keystone, clock = Keystone(lifetime=20), Clock()
    tokens = cache(keystone, clock)
    await tokens.token()
    clock.now += 9.9
    assert keystone.calls == 1 and await tokens.token() == "token-1"
    clock.now += 0.1
    assert await tokens.token() == "token-2"


async def test_a_token_without_a_lifetime_is_kept_until_refused() -> None:
    keystone, clock = Keystone(lifetime=None), Clock()
    tokens = cache(keystone, clock)
    await tokens.token()
    clock.now += 10**9
    assert await tokens.token() == "token-1"
    assert await tokens.renew("token-1") == "token-2"


async def test_concurrent_callers_share_one_authentication_and_one_renewal() -> None:
    keystone, clock = Keystone(), Clock()
    tokens = cache(keystone, clock)
    keystone.gate = asyncio.Event()
    waiting = asyncio.gather(*(tokens.token() for _ in range(10)))
    await asyncio.sleep(0)
    keystone.gate.set()
    assert set(await waiting) == {"token-1"} and keystone.calls == 1
    renewed = await asyncio.gather(*(tokens.renew("token-1") for _ in range(10)))
    assert set(renewed) == {"token-2"} and keystone.calls == 2


async def test_a_refusal_of_an_older_token_does_not_renew_again() -> None:
    keystone, clock = Keystone(), Clock()
    tokens = cache(keystone, clock)
    await tokens.renew("token-0")  # nothing kept yet: authenticates
    assert await tokens.renew("token-0") == "token-1" and keystone.calls == 1


async def test_a_token_expired_by_our_clock_is_said_once_and_used() -> None:
    keystone, clock = Keystone(lifetime=3600, issued=ISSUED - datetime.timedelta(days=1)), Clock()
    warned: list[str] = []
    tokens = cache(keystone, clock, warned)
    assert await tokens.token() == "token-1"
    await tokens.renew("token-1")
    assert len(warned) == 1 and "arrived already expired" in warned[0] and "2000-12-31 01:00:00" in warned[0]


@pytest.mark.parametrize(
    "issued, expires",
    [(None, ISSUED), (ISSUED, None), (ISSUED, ISSUED), (ISSUED, ISSUED - datetime.timedelta(seconds=1))],
)
def test_no_renewal_time_without_a_sound_lifetime(
    issued: datetime.datetime | None, expires: datetime.datetime | None
) -> None:
    assert renewal_time(Grant("t", [], issued, expires), received=5.0) is None
