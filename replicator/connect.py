"""From what the user said about one side of a run to an open image store.

The CLI gathers the options that name and reach one Glance (its SERVER argument, token,
certificates, and later its cloud and API version) into a `Side`; `open_glance` turns a side
into a store. Everything about choosing an API version or obtaining credentials lives behind
this one call, so the commands never change when a new way to reach a Glance is added.
"""

from __future__ import annotations

from dataclasses import dataclass

from replicator.endpoints import parse_server
from replicator.http import GlanceHttp, make_ssl_context
from replicator.settings import Settings
from replicator.stores.base import ImageStore
from replicator.stores.glance_v2 import GlanceV2Store


@dataclass(frozen=True)
class Side:
    """How to reach the Glance on one side of a run (the source or the target)."""

    #: The SERVER argument as typed: host:port or http(s)://host[:port][/prefix].
    server: str
    token: str | None = None
    insecure: bool = False
    cacert: str | None = None

    def check(self) -> str:
        """The parsed base URL; raises RunError for an address that cannot be a Glance's."""
        return parse_server(self.server)


async def open_glance(side: Side, settings: Settings) -> ImageStore:
    """A store for the Glance `side` names; call `check()` on every side first, so that a
    typo in the second argument is reported before any connection is made."""
    http = GlanceHttp(side.check(), settings, token=side.token, ssl_context=make_ssl_context(side.insecure, side.cacert))
    return GlanceV2Store(http, settings)
