"""The aiohttp session to one Glance, and the mapping of HTTP outcomes to our errors.

Everything the user may see of an HTTP failure is built here, from the status and the
server's own reason; request headers (which carry the token) are never part of a message.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import ssl
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Mapping

import aiohttp

from replicator.auth import StaticToken, TokenSource
from replicator.errors import ImageError, RunError
from replicator.settings import Settings

LOG = logging.getLogger(__name__)

#: Statuses worth trying again: the server or something in between may answer differently later.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_MAX_REASON = 300


def make_ssl_context(
    insecure: bool, cacert: str | None, client_cert: str | tuple[str, str] | None = None
) -> ssl.SSLContext | bool:
    """Certificates are verified unless the user says otherwise, against `cacert` if given;
    `client_cert` (a PEM file, or certificate and key files) is shown to servers that ask.

    RunError for a file that cannot be read or holds no certificate: the user's input, not a bug."""
    if insecure and client_cert is None:
        return False
    if not cacert and client_cert is None:
        return True
    certificate, key = client_cert if isinstance(client_cert, tuple) else (client_cert, None)
    try:
        context = ssl.create_default_context(cafile=cacert or None)
        if insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if certificate is not None:
            context.load_cert_chain(certificate, key)
    except (OSError, ssl.SSLError) as exc:
        files = ", ".join(name for name in (cacert, certificate, key) if name)
        raise RunError(f"cannot use the certificate file(s) {files}: {exc.strerror or exc}") from None
    return context


class GlanceHttp:
    """Requests to one Glance: base URL, token, timeouts, connection reuse, error mapping."""

    def __init__(
        self,
        base_url: str,
        settings: Settings,
        token: str | None = None,
        ssl_context: ssl.SSLContext | bool = True,
        auth: TokenSource | None = None,
    ) -> None:
        self.base_url = base_url
        self._auth = auth or StaticToken(token, "--token/--sourcetoken/--targettoken")
        timeout = aiohttp.ClientTimeout(
            total=None, connect=settings.timeout, sock_connect=settings.timeout, sock_read=settings.timeout
        )
        # Room for the listing's member lookups (glance_v2.LISTING_REQUESTS) as well as transfers.
        connector = aiohttp.TCPConnector(limit=max(36, settings.concurrency * 2 + 4), ssl=ssl_context)
        self._session = aiohttp.ClientSession(
            timeout=timeout,
            connector=connector,
            read_bufsize=max(2**16, min(settings.chunk_size, 4 * 2**20)),
            auto_decompress=False,
        )

    def url(self, path_or_url: str) -> str:
        """Absolute URL for an API path; `next` links from Glance are paths on the same server."""
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return self.base_url + path_or_url

    def headers(self, extra: Mapping[str, str] | None = None, token: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if token:
            headers["X-Auth-Token"] = token
        if extra:
            headers.update(extra)
        return headers

    @asynccontextmanager
    async def request(
        self,
        method: str,
        path: str,
        *,
        expected: tuple[int, ...] = (200,),
        what: str,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send one request; yield the response if its status is expected, else raise ImageError.

        `what` names the operation for messages ("list images", "upload image X").
        """
        try:
            for renewed in (False, True):
                started = time.monotonic()
                token = await self._auth.token()
                async with self._session.request(
                    method, self.url(path), headers=self.headers(headers, token), allow_redirects=False, **kwargs
                ) as response:
                    # --debug: what was asked and answered; never a header (the token travels in one).
                    LOG.debug("%s %s -> %s in %.0f ms", method, response.url, response.status,
                              1000 * (time.monotonic() - started))
                    if response.status == 401 and not renewed:
                        # Expired or revoked: renew once (a static token cannot be: RunError).
                        await self._auth.renew(token)
                        if _replayable(kwargs):
                            continue
                        raise ImageError(f"{what}: the token expired during the request and was renewed",
                                         retryable=True, retry_after=0, status=401)
                    if response.status not in expected:
                        raise await _status_error(response, what)
                    yield response
                    return
        except ImageError:
            raise
        except aiohttp.ClientConnectorCertificateError as exc:
            raise ImageError(
                f"{what}: the certificate of {self.base_url} is not trusted ({_certificate_reason(exc)}); "
                "give its CA with --cacert, or --insecure to skip the check"
            ) from None
        except aiohttp.ClientConnectorError as exc:
            raise ImageError(f"{what}: cannot connect to {self.base_url}: {_os_reason(exc)}", retryable=True) from None
        except (aiohttp.ServerTimeoutError, asyncio.TimeoutError):
            raise ImageError(f"{what}: {self.base_url} did not answer in time", retryable=True) from None
        except aiohttp.ClientResponseError as exc:
            raise ImageError(f"{what}: bad response from {self.base_url}: {exc.message}", retryable=True) from None
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            raise ImageError(f"{what}: connection to {self.base_url} lost: {_exc_reason(exc)}", retryable=True) from None
        except aiohttp.InvalidURL as exc:
            raise ImageError(f"{what}: invalid URL {exc}") from None
        except aiohttp.ClientError as exc:
            raise ImageError(f"{what}: connection to {self.base_url} failed: {_exc_reason(exc)}", retryable=True) from None

    async def send(
        self, method: str, path: str, *, what: str, expected: tuple[int, ...] = (200,), **kwargs: Any
    ) -> None:
        """A request whose answer carries nothing the caller needs: only its status is checked."""
        async with self.request(method, path, what=what, expected=expected, **kwargs):
            pass

    async def json(
        self, method: str, path: str, *, what: str, expected: tuple[int, ...] = (200,), **kwargs: Any
    ) -> Any:
        """A request whose answer must be JSON; anything else is a clear error, never a traceback."""
        async with self.request(method, path, what=what, expected=expected, **kwargs) as response:
            body = await _read_body(response, what, self.base_url)
        try:
            return json.loads(body)
        except ValueError:
            raise ImageError(
                f"{what}: {self.base_url} answered with something that is not JSON "
                f"({_snippet(body)}); is it a Glance API endpoint?",
                retryable=False,
            ) from None

    async def close(self) -> None:
        await self._session.close()


def _replayable(kwargs: Mapping[str, Any]) -> bool:
    """Whether the same request can be sent again: not when its body was a stream, now spent."""
    body = kwargs.get("data")
    return body is None or isinstance(body, (bytes, str))


async def _read_body(response: aiohttp.ClientResponse, what: str, base_url: str) -> bytes:
    try:
        return await response.read()
    except (aiohttp.ClientPayloadError, aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
        raise ImageError(f"{what}: connection to {base_url} lost: {_exc_reason(exc)}", retryable=True) from None


async def _status_error(response: aiohttp.ClientResponse, what: str) -> ImageError:
    try:
        body = await response.read()
    except aiohttp.ClientError:
        body = b""
    reason = server_reason(body) or response.reason or ""
    status = response.status
    if status == 401:
        message = f"{what}: 401 Unauthorized: the token is missing, wrong or expired"
    else:
        message = f"{what}: {status} {response.reason or ''}".rstrip()
        if reason and reason != response.reason:
            message += f": {reason}"
    retry_after = _retry_after(response.headers.get("Retry-After"))
    return ImageError(message, retryable=status in RETRYABLE_STATUSES, retry_after=retry_after, status=status)


def server_reason(body: bytes) -> str:
    """The server's own explanation from an error body (Glance sends webob HTML or JSON)."""
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return ""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("message", "explanation", "detail", "title"):
            inner = data.get(key)
            if isinstance(inner, str) and inner:
                return _plain(inner)
        for inner in data.values():
            if isinstance(inner, dict) and isinstance(inner.get("message"), str):
                return _plain(inner["message"])
    return _plain(text)


def _plain(text: str) -> str:
    """Text without webob's markup (it puts `<br />` even into JSON messages)."""
    text = _TAGS.sub(" ", html.unescape(text))
    text = _SPACE.sub(" ", text).strip()
    # webob repeats its title ("409 Conflict 409 Conflict There was a conflict ..."): keep the rest.
    title = re.match(r"^(\d{3} [A-Za-z ]+?) \1 ", text)
    if title:
        text = text[len(title.group(0)):]
    return _shorten(text)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _shorten(text: str) -> str:
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"


def _snippet(body: bytes) -> str:
    text = _SPACE.sub(" ", body[:80].decode("utf-8", "replace")).strip()
    return repr(text) if text else "an empty body"


def _os_reason(exc: aiohttp.ClientConnectorError) -> str:
    return exc.os_error.strerror or str(exc.os_error) if exc.os_error else str(exc)


def _certificate_reason(exc: aiohttp.ClientConnectorCertificateError) -> str:
    error = exc.certificate_error
    return getattr(error, "verify_message", None) or _exc_reason(error)


def _exc_reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
