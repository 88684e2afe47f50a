"""What the operator can do about an error, in the command line's terms.

The layers below raise errors with a kind (`replicator.errors.ErrorKind`) and the side they
belong to, and never name an option; this is the one place where a kind becomes advice
("give its CA with --cacert"), since only the command line knows which options and
variables exist and which the operator used.
"""

from __future__ import annotations

from collections.abc import Mapping

from replicator.cli.views.console import printable
from replicator.model.errors import ErrorKind, ReplicatorError
from replicator.model.vocabulary import Role
from replicator.openstack.connect import Side

#: Where a static token for each side may come from, the side's own first.
TOKEN_SOURCES: dict[str | None, str] = {
    Role.SOURCE: "--sourcetoken (or REPLICATOR_SOURCE_TOKEN)",
    Role.TARGET: "--targettoken (or REPLICATOR_TARGET_TOKEN)",
    None: "--token (or REPLICATOR_TOKEN, or OS_TOKEN)",
}


def error_line(error: ReplicatorError, sides: Mapping[str, Side] | None = None) -> str:
    """The one line an error that stops the run is shown as: its message, then the advice
    its kind calls for."""
    message = printable(str(error))
    hint = advice(error, sides or {})
    return f"replicator: error: {message}; {hint}" if hint else f"replicator: error: {message}"


def advice(error: ReplicatorError, sides: Mapping[str, Side]) -> str | None:
    """What to do about `error`, given the sides of the run ("source"/"target", or the one
    side of `size`, `dump` and `load` under either name); None when there is nothing to add."""
    if error.kind == ErrorKind.CERTIFICATE:
        return "give its CA with --cacert, or --insecure to skip the check"
    if error.kind == ErrorKind.AUTH:
        return _auth_advice(error, sides)
    if error.kind == ErrorKind.UNSUPPORTED and error.status == 300:
        return "name an API version it offers, or leave the API version to auto (the default)"
    return None


def _auth_advice(error: ReplicatorError, sides: Mapping[str, Side]) -> str | None:
    role, side = _side_of(error, sides)
    if side is not None and side.token is None and side.cloud_choice() is not None:
        return None  # Keystone refused the cloud's credentials: its message says which
    token_option = TOKEN_SOURCES[role if len(sides) > 1 else None]
    cloud_option = side.cloud_option if side is not None else "--os-cloud"
    if side is not None and side.token is not None:
        return (
            f"the token given with {token_option} cannot be renewed: run the same command again with a "
            f"new token (it goes on where it stopped), or name a cloud ({cloud_option}) whose tokens are renewed"
        )
    return f"give a token with {token_option}, or a cloud with {cloud_option}"


def _side_of(error: ReplicatorError, sides: Mapping[str, Side]) -> tuple[str | None, Side | None]:
    """The side the error belongs to: the one it names, else the only one there is, else the
    only one with a static token."""
    if error.side is not None and error.side in sides:
        return error.side, sides[error.side]
    if len(sides) == 1:
        return next(iter(sides.items()))
    with_tokens = [(role, side) for role, side in sides.items() if side.token is not None]
    return with_tokens[0] if len(with_tokens) == 1 else (None, None)
