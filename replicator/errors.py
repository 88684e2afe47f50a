"""The errors the replicator reports, split by what they mean for the run.

The CLI maps these to exit codes in one place: a `RunError` (bad usage, an unreachable or
non-Glance server, an unusable dump) stops the whole run with exit 2; an `ImageError` fails
one image, and the engine goes on with the others (exit 1 at the end).
"""

from __future__ import annotations


class ReplicatorError(Exception):
    """Base of every error the replicator raises on purpose; its text is shown to the user."""


class RunError(ReplicatorError):
    """The run cannot go on at all: wrong input, a server that is down or is no Glance."""


class ImageError(ReplicatorError):
    """One image could not be handled; the others go on.

    `retryable` says whether trying the same request again may succeed (a dropped connection,
    a 5xx), as opposed to an answer that will not change (403, 409, 415, a hash mismatch).
    """

    def __init__(
        self, message: str, *, retryable: bool = False, retry_after: float | None = None, status: int | None = None
    ):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        #: The HTTP status that caused it, when a server answered.
        self.status = status


class VerificationError(ImageError):
    """The bytes that passed do not match the source's size or hashes: never retried as is."""
