"""Servers booted side by side, and a source and a target as one value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tests.support.servers import ServerProcess


@dataclass(frozen=True)
class ServerPair:
    """A source and a target server: `.source` and `.target` are base URLs."""

    source_server: ServerProcess
    target_server: ServerProcess

    @property
    def source(self) -> str:
        return self.source_server.url

    @property
    def target(self) -> str:
        return self.target_server.url


def start_all(servers: Sequence[ServerProcess]) -> None:
    """Boot servers side by side: launch them all, then wait for each."""
    for server in servers:
        server.launch()
    try:
        for server in servers:
            server.wait_ready()
    except BaseException:
        for server in servers:
            server.stop()
        raise
