"""The HTTP transport to one Glance: the one path builder, origin-bound tokens, bounded answers,
and the one place where aiohttp's failures become our typed errors.

Three rules hold here for every request, because every value a server gives us (an id, a member
id, a `next` link) was written by somebody we do not trust:

- a request path is an `ApiPath`, made only by `api_path` (which percent-encodes every segment
  and refuses `.`/`..`) or by `Transport.listing_link` (which accepts a server's `next` link
  only on this Glance's own origin and under its listing path); the URL is handed to the client
  library as encoded, so nothing re-reads `%2F` as `/` or folds `..` away;
- the token goes only to the base URL's origin: there is no way to send a request elsewhere,
  and redirects are never followed;
- a JSON answer is read with a size cap and parsed with a depth cap (`untrusted.load_json`).

Messages are built from the status and the server's own reason, never from request headers
(which carry the token). Decisions are on the error's fields (`kind`, `status`, `retryable`).
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, NewType
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
from yarl import URL

from replicator.model.errors import ErrorKind, ImageError, ReplicatorError, RunError
from replicator.model.token_source import StaticToken, TokenSource
from replicator.model.untrusted import MAX_JSON_BYTES, UntrustedJsonError, header_problem, load_json

LOG = logging.getLogger("replicator.http")


#: A request path (and query) relative to a Glance's base URL, built by `api_path` or accepted
#: by `Transport.listing_link`: never by string formatting anywhere else.
ApiPath = NewType("ApiPath", str)

#: Statuses worth trying again: the server or something in between may answer differently later.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_MAX_REASON = 300
#: The most of an error answer read for its reason: a hostile server may send gigabytes.
_MAX_ERROR_BODY = 64 * 1024

#: A JSON answer arrives whole within this many `timeout`s (`Transport`).
ANSWER_DEADLINE_READS = 5


def api_path(*segments: str, query: Mapping[str, str] | None = None) -> ApiPath:
    """`/seg1/seg2...?query` with every segment percent-encoded, `/` included.

    A segment that is empty, `.` or `..` could only change which resource the path names: it is
    refused (an `ImageError` of kind UNSAFE, so the one image it came from fails, nothing else).
    """
    for segment in segments:
        if segment in ("", ".", ".."):
            raise ImageError(
                f"refusing the path segment {segment!r}: it would change the resource named", kind=ErrorKind.UNSAFE
            )
    path = "".join("/" + quote(segment, safe="") for segment in segments)
    if query:
        path += "?" + urlencode(query, quote_via=quote)
    return ApiPath(path)


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
        raise RunError(f"cannot use the certificate file(s) {files}: {exc.strerror or exc}") from exc
    return context


class Transport:
    """Requests to one Glance: base URL, token, timeouts, connection reuse, error mapping.

    Takes explicit values rather than the run's settings: `timeout` is a connect and per-read
    (stall) limit, never a limit on a whole transfer; `connections` bounds the pool;
    `read_bufsize` is the socket read size (about the chunk size). `side` ("source"/"target")
    is written into every error, so a caller can tell whose fault it was. A JSON answer (a
    listing page, a record) must also arrive whole within `ANSWER_DEADLINE_READS` times
    `timeout`: a server that sends one byte a second never stalls a read, and would otherwise
    hold the run for ever (data transfers keep the per-read rule alone: they may take hours).
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 60.0,
        connections: int = 36,
        read_bufsize: int = 2**20,
        ssl_context: ssl.SSLContext | bool = True,
        auth: TokenSource | None = None,
        side: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.side = side
        self._answer_deadline = timeout * ANSWER_DEADLINE_READS
        self._origin = _origin(self.base_url)
        self._auth = auth or StaticToken(None)
        #: Whether this Glance has answered anything yet (a silent close before then may be https).
        self._answered = False
        client_timeout = aiohttp.ClientTimeout(total=None, connect=timeout, sock_connect=timeout, sock_read=timeout)
        self._session = aiohttp.ClientSession(
            timeout=client_timeout,
            connector=aiohttp.TCPConnector(limit=connections, ssl=ssl_context),
            read_bufsize=read_bufsize,
            auto_decompress=False,
        )

    def url(self, path: ApiPath) -> URL:
        """The absolute URL of `path` on this Glance, marked encoded so it reaches the wire as built."""
        return URL(self.base_url + path, encoded=True)

    def listing_link(self, link: str, listing: ApiPath) -> ApiPath:
        """A server's `next` link as a path to request, if it stays on this Glance's listing.

        Glance writes `next` as a path (`/v2/images?marker=...`); an absolute link is taken only
        when it points at this Glance's own base URL. Anything else would carry our token to a
        place the server chose: a RunError (kind UNSAFE) naming the link's host.
        """
        base = urlsplit(self.base_url)
        parts = urlsplit(link)
        if parts.scheme or parts.netloc:
            if _origin(link) != self._origin:
                raise RunError(
                    f"{self.base_url}: the image listing's next link points to another host "
                    f"({parts.hostname or parts.netloc!s}); not followed, so the token stays with this Glance",
                    kind=ErrorKind.UNSAFE,
                    side=self.side,
                )
            path = parts.path
            if base.path and path.startswith(base.path + "/"):
                path = path[len(base.path) :]
        else:
            path = parts.path
        if path.rstrip("/") != listing.split("?", 1)[0] or parts.fragment:
            raise RunError(
                f"{self.base_url}: the image listing's next link {_shorten(link)!r} leaves the listing; not followed",
                kind=ErrorKind.UNSAFE,
                side=self.side,
            )
        return ApiPath(path.rstrip("/") + (f"?{parts.query}" if parts.query else ""))

    @asynccontextmanager
    async def request(
        self,
        method: str,
        path: ApiPath,
        *,
        expected: tuple[int, ...] = (200,),
        what: str,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send one request; yield the response if its status is expected, else raise ImageError.

        `what` names the operation for messages ("list images", "upload image X"). A 401 renews
        the token once (a static token cannot be: the token source raises RunError) and resends
        the request when its body can be sent again.
        """
        url = self.url(path)
        for renewed in (False, True):
            started = time.monotonic()
            token = await self._auth.token()
            if token and header_problem(token):
                raise RunError(
                    f"the token for {self.base_url} {header_problem(token)}: no header can carry it; "
                    "is it the token, copied whole and alone?",
                    kind=ErrorKind.INPUT,
                    side=self.side,
                )
            status: int | None = None
            try:
                async with self._session.request(
                    method, url, headers=_headers(headers, token), allow_redirects=False, **kwargs
                ) as response:
                    status = response.status
                    self._answered = True
                    if status == 401 and not renewed:
                        await self._renew(token)
                        if _replayable(kwargs):
                            _log_attempt(method, url, "401, token renewed", started)
                            continue
                        raise ImageError(
                            f"{what}: the token expired during the request and was renewed",
                            kind=ErrorKind.AUTH,
                            status=401,
                            side=self.side,
                            retryable=True,
                            retry_after=0,
                        )
                    if status not in expected:
                        raise await self._status_error(response, what)
                    yield response
                _log_attempt(method, url, str(status), started)
                return
            except ReplicatorError as exc:
                _log_attempt(method, url, _ending(status, exc), started)
                raise
            except asyncio.CancelledError:
                _log_attempt(method, url, _ending(status, "cancelled"), started)
                raise
            except Exception as exc:  # aiohttp's and the OS's: translated here, and only here
                error = self._client_error(exc, what)
                _log_attempt(method, url, _ending(status, error or exc), started)
                if error is None:
                    raise
                raise error from exc

    async def _renew(self, refused: str | None) -> None:
        """A new token after a 401; a token source that can give none says so for this side
        and this Glance (which of two Glances refused is what the operator must know)."""
        try:
            await self._auth.renew(refused)
        except RunError as exc:
            if exc.side is not None:
                raise
            raise exc.again(f"{self.where()}: {exc}", side=self.side) from exc

    def where(self) -> str:
        """This Glance in messages: its side, when it has one, and its URL ("the target http://...")."""
        return f"the {self.side} {self.base_url}" if self.side else self.base_url

    async def send(
        self, method: str, path: ApiPath, *, what: str, expected: tuple[int, ...] = (200,), **kwargs: Any
    ) -> None:
        """A request whose answer carries nothing the caller needs: only its status is checked."""
        async with self.request(method, path, what=what, expected=expected, **kwargs):
            pass

    async def json(
        self, method: str, path: ApiPath, *, what: str, expected: tuple[int, ...] = (200,), **kwargs: Any
    ) -> Any:
        """A request whose answer must be JSON, read with a size cap and parsed with a depth cap,
        whole within the answer deadline."""
        try:
            async with asyncio.timeout(self._answer_deadline):
                async with self.request(method, path, what=what, expected=expected, **kwargs) as response:
                    body = await self._read_capped(response, what)
        except TimeoutError:
            raise ImageError(
                f"{what}: {self.base_url} did not send its whole answer within {self._answer_deadline:g} s",
                kind=ErrorKind.TRANSPORT,
                side=self.side,
                retryable=True,
            ) from None
        try:
            return load_json(body)
        except UntrustedJsonError as exc:
            raise ImageError(
                f"{what}: {self.base_url} answered with something that is not a Glance answer "
                f"({exc}: {_snippet(body)}); is it a Glance API endpoint?",
                kind=ErrorKind.PROTOCOL,
                side=self.side,
            ) from exc

    async def send_body(
        self,
        method: str,
        path: ApiPath,
        chunks: AsyncIterator[bytes],
        *,
        headers: Mapping[str, str],
        expected: tuple[int, ...],
        what: str,
    ) -> None:
        """Stream `chunks` as the request body; a failure of the source side is the reason given.

        When the source fails (a download cut for good, a hash mismatch, a refused token) the
        request is cut, and the server's view of that ("connection lost", a 400) says nothing
        useful: the source's error is raised instead.
        """
        source_failure: list[BaseException] = []

        async def body() -> AsyncIterator[bytes]:
            # An empty first chunk makes aiohttp send the request line and headers now, instead
            # of holding them until the source's first bytes arrive: the target starts on the
            # upload (auth, image lookup) while the download is still waiting for its answer.
            yield b""
            try:
                async for chunk in chunks:
                    yield chunk
            except BaseException as exc:
                source_failure.append(exc)
                raise

        try:
            await self.send(method, path, data=body(), headers=headers, expected=expected, what=what)
        except ImageError:
            # aiohttp reports the body's own failure as a connection failure: raise the real one
            # (an ImageError fails this image; a RunError, such as a refused token, stops the run).
            # (Not a CancelledError: aiohttp cancels the body's writer itself when the server
            # answers before reading all of it, and the server's answer is then the reason.)
            first = source_failure[0] if source_failure else None
            if isinstance(first, Exception):
                raise first from first.__cause__  # as itself: its own cause chain, not aiohttp's report
            raise
        if source_failure:
            failure = source_failure[0]
            if isinstance(failure, Exception):
                raise failure
            # The body was cancelled under an answer that said success: never count it as sent.
            raise ImageError(
                f"could not {what}: the server answered before the whole image was sent",
                kind=ErrorKind.PROTOCOL,
                side=self.side,
            )

    async def close(self) -> None:
        await self._session.close()

    async def _read_capped(self, response: aiohttp.ClientResponse, what: str, cap: int = MAX_JSON_BYTES) -> bytes:
        declared = response.content_length
        if declared is not None and declared > cap:
            raise self._too_large(what, cap)
        body = bytearray()
        try:
            async for chunk in response.content.iter_chunked(2**16):
                body += chunk
                if len(body) > cap:
                    raise self._too_large(what, cap)
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = self._client_error(exc, what)
            if error is None:
                raise
            raise error from exc
        return bytes(body)

    def _too_large(self, what: str, cap: int) -> ImageError:
        return ImageError(
            f"{what}: {self.base_url} answered with more than {cap // 2**20} MiB; no Glance answer is that large",
            kind=ErrorKind.PROTOCOL,
            side=self.side,
        )

    async def _status_error(self, response: aiohttp.ClientResponse, what: str) -> ImageError:
        try:
            body = await response.content.read(_MAX_ERROR_BODY)
        except (TimeoutError, aiohttp.ClientError):
            body = b""
        reason = server_reason(body) or response.reason or ""
        status = response.status
        kind = None
        if status == 401:
            message = f"{what}: 401 Unauthorized: the token is missing, wrong or expired"
        elif status == 300:
            # Glance's answer to a path of an API version it does not serve: its version list.
            message = f"{what}: {self.base_url} does not serve this API version{_offered(body)}"
            kind = ErrorKind.UNSUPPORTED
        else:
            message = f"{what}: {status} {response.reason or ''}".rstrip()
            if reason and reason != response.reason:
                message += f": {reason}"
        return ImageError(
            message,
            kind=kind,
            status=status,
            side=self.side,
            retryable=status in RETRYABLE_STATUSES,
            retry_after=_retry_after(response.headers.get("Retry-After")),
            from_api=api_error_document(response.content_type, body, status),
        )

    def _client_error(self, exc: Exception, what: str) -> ImageError | None:
        """Our error for a failure of the client library or the network; None for anything else
        (a bug, which must surface as itself)."""
        where = self.base_url
        transport = partial(ImageError, kind=ErrorKind.TRANSPORT, side=self.side, retryable=True)
        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            return ImageError(
                f"{what}: the certificate of {where} is not trusted ({_certificate_reason(exc)})",
                kind=ErrorKind.CERTIFICATE,
                side=self.side,
            )
        scheme, netloc, rest = _split_base(where)
        if isinstance(exc, aiohttp.ClientConnectorSSLError) and _tls_reason(exc) == "WRONG_VERSION_NUMBER":
            # The answer to our TLS hello was no TLS at all: a plain-http server.
            return ImageError(
                f"{what}: {where} does not speak https (it answered in plain http): "
                f"wrong scheme? try http://{netloc}{rest}",
                kind=ErrorKind.INPUT,
                side=self.side,
            )
        if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, ConnectionRefusedError):
            return ImageError(
                f"{what}: connection refused by {netloc}: is the server running?",
                kind=ErrorKind.REFUSED,
                side=self.side,
                retryable=True,
            )
        if isinstance(exc, aiohttp.ClientConnectorError):
            return transport(f"{what}: cannot connect to {where}: {_os_reason(exc)}")
        if isinstance(exc, aiohttp.ServerDisconnectedError) and scheme == "http" and not self._answered:
            # An https server closes a connection that speaks plain http to it without a word.
            return transport(
                f"{what}: {where} closed the connection without answering: wrong scheme? try https://{netloc}{rest}"
            )
        if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
            return transport(f"{what}: {where} did not answer in time")
        if isinstance(exc, aiohttp.ClientResponseError):
            return transport(f"{what}: bad response from {where}: {exc.message}")
        if isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
            return transport(f"{what}: connection to {where} lost: {_exc_reason(exc)}")
        if isinstance(exc, aiohttp.InvalidURL):
            return ImageError(f"{what}: invalid URL {exc}", kind=ErrorKind.INPUT, side=self.side)
        if isinstance(exc, aiohttp.ClientError):
            return transport(f"{what}: connection to {where} failed: {_exc_reason(exc)}")
        return None


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in: what a token is bound to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1  # unparsable: equal to no real origin
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def _split_base(url: str) -> tuple[str, str, str]:
    """(scheme, host[:port], path) of a base URL, for advice on another scheme."""
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc, parts.path


def _tls_reason(exc: aiohttp.ClientConnectorSSLError) -> str | None:
    """OpenSSL's code for why the handshake failed (`ssl.SSLError.reason`), a field, not wording."""
    reason = getattr(exc.os_error, "reason", None)
    return reason if isinstance(reason, str) else None


def _headers(extra: Mapping[str, str] | None, token: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if token:
        headers["X-Auth-Token"] = token
    if extra:
        headers.update(extra)
    return headers


def _log_attempt(method: str, url: URL, outcome: str, started: float) -> None:
    """--debug: one line per attempt, however it ended; never a header (the token travels in one)."""
    LOG.debug("%s %s -> %s in %.0f ms", method, url, outcome, 1000 * (time.monotonic() - started))


def _ending(status: int | None, failure: BaseException | str) -> str:
    reason = failure if isinstance(failure, str) else _exc_reason(failure)
    return f"{status}, then {reason}" if status is not None else f"failed: {reason}"


def _replayable(kwargs: Mapping[str, Any]) -> bool:
    """Whether the same request can be sent again: not when its body was a stream, now spent."""
    body = kwargs.get("data")
    return body is None or isinstance(body, (bytes, str))


def api_error_document(content_type: str, body: bytes, status: int) -> bool:
    """Whether an error answer is Glance's own (webob's JSON document, `code` naming the status:
    `{"message": ..., "code": "404 Not Found", "title": "Not Found"}`), decided on its fields:
    an HTML page from an ingress or a proxy, or JSON of another shape, is not."""
    if content_type != "application/json":
        return False
    try:
        data = load_json(body)
    except UntrustedJsonError:
        return False
    if not isinstance(data, dict):
        return False
    code, title = data.get("code"), data.get("title")
    return isinstance(code, str) and isinstance(title, str) and code == f"{status} {title}"


def server_reason(body: bytes) -> str:
    """The server's own explanation from an error body (Glance sends webob HTML or JSON)."""
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return ""
    try:
        data = load_json(text)
    except UntrustedJsonError:
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
        text = text[len(title.group(0)) :]
    return _shorten(text)


def _offered(body: bytes) -> str:
    """ " (300 Multiple Choices; it offers v1.1, v1.0)": the versions a 300 answer lists, at most a few, each short."""
    try:
        data = load_json(body)
    except UntrustedJsonError:
        return ""
    listed = data.get("versions") if isinstance(data, dict) else None
    ids = [v.get("id") for v in listed[:8] if isinstance(v, dict)] if isinstance(listed, list) else []
    names = [_shorten(i)[:16] for i in ids if isinstance(i, str) and i]
    return f" (300 Multiple Choices; it offers {', '.join(names)})" if names else " (300 Multiple Choices)"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(0.0, seconds) if seconds == seconds else None  # NaN is no delay at all


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


def _exc_reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
