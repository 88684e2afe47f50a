"""The Keystone error table: every failure of one side's Keystone as one line of ours.

Kept in one place so that each failure reads the same whether it happened while the cloud was
loaded, a token was asked for or a project looked up: one line with a kind and a side, no library
log line, no connection-pool text, never Keystone's answer body (a 400 may quote the password it
was sent).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

from replicator.model.errors import ErrorKind, RunError

#: The reason phrases of the statuses a Keystone is known to answer with.
REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class KeystoneErrors:
    """The errors of one side's Keystone, each prefixed with where the cloud was named (`where`)
    and carrying the side as a field.

    `credentials` says where the user keeps the credentials (for a 401); `auth_url` answers
    where this side authenticates, once its settings are read ("" before).
    """

    def __init__(
        self, where: str, *, side: str | None, credentials: str, auth_url: Callable[[], str] = lambda: ""
    ) -> None:
        self.where = where
        self.side = side
        self._credentials = credentials
        self._auth_url = auth_url

    def error(self, message: str, kind: ErrorKind | None = None, *, status: int | None = None) -> RunError:
        """One line about this side's cloud."""
        return RunError(f"{self.where}: {message}", kind=kind, status=status, side=self.side)

    def from_library(self, exc: Exception, timeout: float | None = None) -> RunError:
        """What a keystoneauth failure means for the user (`timeout`: the seconds it was given)."""
        from keystoneauth1 import exceptions as ksa

        url = self._auth_url() or "Keystone"
        if isinstance(exc, ksa.Unauthorized):
            return self.error(
                f"Keystone refused the credentials (401): check the user, password or "
                f"application credential in {self._credentials}",
                ErrorKind.AUTH,
                status=401,
            )
        if isinstance(exc, ksa.HttpError):
            # Never exc's text: it carries Keystone's answer, which may quote what it was sent.
            return self.from_status(exc.http_status or 0, "authenticate")
        if isinstance(exc, ksa.MissingRequiredOptions):
            names = ", ".join(option.dest for option in exc.options)
            return self.error(f"the auth settings lack {names}", ErrorKind.INPUT)
        if isinstance(exc, ksa.SSLError):
            return self.error(
                f"the certificate of Keystone at {url} is not trusted ({root_reason(exc)}); "
                "trust its CA (the cloud's cacert), or skip the check",
                ErrorKind.CERTIFICATE,
            )
        if isinstance(exc, ksa.ConnectTimeout):
            within = f" within {timeout:g} s" if timeout else " in time"
            return self.error(f"Keystone at {url} did not answer{within}", ErrorKind.TRANSPORT)
        if isinstance(exc, ksa.ConnectionError):
            return self.error(f"cannot reach Keystone at {url}: {root_reason(exc)}", ErrorKind.TRANSPORT)
        if isinstance(exc, ksa.DiscoveryFailure):
            return self.error(
                f"Keystone at {url} offers no identity API version this tool can use: is auth_url right?",
                ErrorKind.PROTOCOL,
            )
        if isinstance(exc, ksa.EndpointNotFound):
            return self.error(first_line(exc), ErrorKind.NOT_FOUND)
        if isinstance(exc, ksa.NoMatchingPlugin):
            return self.error(f"unknown auth_type: {first_line(exc)}", ErrorKind.INPUT)
        return self.error(f"Keystone: {type(exc).__name__}", ErrorKind.SERVER)

    def from_status(self, status: int, what: str) -> RunError:
        """Keystone answered `status` when asked to do `what` ("authenticate", "list projects")."""
        url = self._auth_url() or "Keystone"
        reason = REASONS.get(status, "")
        answered = f"Keystone at {url} answered {status} {reason}".rstrip() + f" when asked to {what}"
        if status == 400:
            return self.error(
                f"{answered}: a value in the auth settings is malformed (a password must be text)",
                ErrorKind.AUTH,
                status=status,
            )
        if status == 403:
            return self.error(f"{answered}: these credentials may not do this", ErrorKind.FORBIDDEN, status=status)
        if status == 404:
            return self.error(f"{answered}: is auth_url right?", ErrorKind.NOT_FOUND, status=status)
        return self.error(answered, status=status)


def root_reason(exc: BaseException) -> str:
    """The innermost cause of a connection failure ("Connection refused", "self-signed
    certificate"), found down the chain of wrapped errors (keystoneauth wraps requests, which
    wraps urllib3's connection pool, which wraps the socket's), without their wrapping text."""
    reason: str | None = None
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return current.verify_message or "certificate verify failed"
        if isinstance(current, OSError) and current.strerror:
            reason = current.strerror
        pending += [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
    return reason or type(exc).__name__


def first_line(exc: Exception) -> str:
    """The first line of a library's message (the rest is its own context, not the user's)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
