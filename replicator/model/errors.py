"""The errors the replicator raises, as a small tree whose facts are fields, never wording.

Two branches, split by consequence (the CLI maps them to exit codes in one place):

- `RunError`: the run cannot go on at all (unusable input, a server that is down or no Glance,
  credentials refused): exit 2, with a one-line message.
- `ImageError`: one image could not be handled; the others go on (exit 1 at the end).
  `VerificationError` is the image error for data that does not match the source.

Every error carries what a caller decides on:

- `kind` (an `ErrorKind`): conflict, forbidden, not found, auth, transport, refused, certificate,
  server, protocol (an answer no Glance gives), verification, unsafe (untrusted input refused),
  input (the operator's), unsupported;
- `status`: the HTTP status, when a server answered;
- `side`: "source" or "target", when the error belongs to one side of a run;
- `retryable` and `retry_after`: whether the same step may succeed later, and when;
- `from_api`: whether an error answer was the API's own error document (Glance's
  `{"code": "404 Not Found", "title": ...}`), not a page from a proxy or an ingress in front of
  it: a deletion is confirmed only by the API itself.

The message (`str(error)`) is for people only: no code anywhere branches on it. Lower layers
speak of kinds, never of command-line options; the CLI turns a kind into advice.
"""

from __future__ import annotations

import enum
from typing import Any, Self


class ErrorKind(enum.StrEnum):
    """What went wrong, in the terms a decision needs."""

    CONFLICT = "conflict"  # 409: the id is taken, or the image is in a state that refuses the step
    FORBIDDEN = "forbidden"  # 403: the credentials may not do this
    NOT_FOUND = "not found"  # 404
    AUTH = "auth"  # 401, or credentials missing, refused, or impossible to renew
    TRANSPORT = "transport"  # no connection, a lost connection, a timeout
    REFUSED = "refused"  # the connection was refused: nothing listens at the address (yet)
    CERTIFICATE = "certificate"  # an https certificate that is not trusted
    SERVER = "server"  # any other error status
    PROTOCOL = "protocol"  # an answer no Glance gives: not JSON, too large, too deep, wrong shape
    VERIFICATION = "verification"  # bytes that do not match the source's size or hashes
    UNSAFE = "unsafe"  # untrusted input refused: a bad id, a foreign origin, an ambiguous name
    INPUT = "input"  # the operator's input cannot be used (a file, a value, a dump)
    UNSUPPORTED = "unsupported"  # the store cannot do this at all (v1 and deactivation)


#: The kind an HTTP error status means; statuses not listed are `SERVER`.
STATUS_KINDS = {401: ErrorKind.AUTH, 403: ErrorKind.FORBIDDEN, 404: ErrorKind.NOT_FOUND, 409: ErrorKind.CONFLICT}


def kind_of_status(status: int | None) -> ErrorKind:
    return STATUS_KINDS.get(status or 0, ErrorKind.SERVER)


class ReplicatorError(Exception):
    """Base of every error the replicator raises on purpose; its text is shown to the user."""

    default_kind = ErrorKind.SERVER

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind | None = None,
        status: int | None = None,
        side: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        from_api: bool = False,
    ) -> None:
        super().__init__(message)
        self.kind = kind or (kind_of_status(status) if status is not None else self.default_kind)
        #: The HTTP status that caused it, when a server answered.
        self.status = status
        #: "source" or "target" when the error belongs to one side of a run.
        self.side = side
        #: Whether trying the same step again may succeed (a dropped connection, a 5xx), as
        #: opposed to an answer that will not change (403, 409, 415, a hash mismatch).
        self.retryable = retryable
        self.retry_after = retry_after
        #: Whether the error answer was the API's own error document (see the module's docstring).
        self.from_api = from_api

    def again(self, message: str | None = None, **changes: Any) -> Self:
        """The same error with other fields (a new message, `retryable=False`...), same class."""
        fields: dict[str, Any] = {
            "kind": self.kind,
            "status": self.status,
            "side": self.side,
            "retryable": self.retryable,
            "retry_after": self.retry_after,
            "from_api": self.from_api,
        }
        fields.update(changes)
        return type(self)(str(self) if message is None else message, **fields)

    def as_run_error(self) -> RunError:
        """This error, fatal to the run, with its facts kept."""
        return RunError(
            str(self),
            kind=self.kind,
            status=self.status,
            side=self.side,
            retryable=False,
            retry_after=self.retry_after,
        )


class RunError(ReplicatorError):
    """The run cannot go on at all: wrong input, a server that is down or is no Glance."""

    default_kind = ErrorKind.INPUT


class ImageError(ReplicatorError):
    """One image could not be handled; the others go on."""


class VerificationError(ImageError):
    """The bytes that passed do not match the source's size or hashes: never retried as is."""

    default_kind = ErrorKind.VERIFICATION
