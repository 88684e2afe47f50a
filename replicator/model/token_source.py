"""What the transport asks of a token's source, and the one source that needs nothing: a token
given by the user.

In the model, below `stores/glance/transport` and `openstack/auth`: the Keystone side declares
that it is a token source without importing aiohttp with the transport, so `--help` and
`--version` load neither.
"""

from __future__ import annotations

from typing import Protocol

from replicator.model.errors import ErrorKind, RunError


class TokenSource(Protocol):
    """What the transport asks for a token, and asks again when Glance refuses one (401)."""

    async def token(self) -> str | None:
        """The token to send now."""

    async def renew(self, refused: str | None) -> str | None:
        """A new token after `refused` got a 401; raises RunError if there can be none."""


class StaticToken:
    """A token given by the user: used as is, and never renewable (the command line says what
    to do about it: `cli/advice.py`)."""

    def __init__(self, token: str | None) -> None:
        self._token = token or None

    async def token(self) -> str | None:
        return self._token

    async def renew(self, refused: str | None) -> str | None:
        if self._token is None:
            raise RunError("it requires a token (401 Unauthorized)", kind=ErrorKind.AUTH, status=401)
        raise RunError(
            "the token given was refused (401 Unauthorized): it has expired or is wrong, "
            "and a static token cannot be renewed",
            kind=ErrorKind.AUTH,
            status=401,
        )
