"""Parse the SERVER argument: `host:port` (the old tool's form, meaning http) or a URL."""

from __future__ import annotations

from urllib.parse import urlsplit

from replicator.model.errors import RunError

_API_SUFFIXES = ("/v2", "/v1", "/v2.0", "/v1.0")


def parse_server(text: str) -> str:
    """Return the base URL (`scheme://host:port[/prefix]`, no trailing slash) of a Glance.

    A trailing `/v1` or `/v2` is dropped so an endpoint copied from a service catalog works.
    """
    value = text.strip()
    if not value:
        raise RunError("empty server address: expected host:port or http(s)://host[:port][/path]")
    if "://" not in value:
        value = "http://" + value
        if not _has_port(value):
            raise RunError(f"invalid server {text!r}: expected host:port or http(s)://host[:port][/path]")
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise RunError(f"invalid server {text!r}: {exc}") from exc
    try:
        port = parts.port
    except ValueError as exc:
        raise RunError(f"invalid server {text!r}: the port must be a number from 1 to 65535") from exc
    if parts.scheme not in ("http", "https"):
        raise RunError(f"invalid server {text!r}: scheme must be http or https")
    if not parts.hostname:
        raise RunError(f"invalid server {text!r}: no host name")
    if parts.query or parts.fragment:
        raise RunError(f"invalid server {text!r}: a server address takes no query or fragment")
    if port == 0:
        raise RunError(f"invalid server {text!r}: port must be between 1 and 65535")
    path = parts.path.rstrip("/")
    for suffix in _API_SUFFIXES:
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host if port is None else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}{path}"


def _has_port(url: str) -> bool:
    try:
        return urlsplit(url).port is not None
    except ValueError:
        return True  # let the full parse report what is wrong with it


def same_base(first: str, second: str) -> bool:
    """Whether two base URLs (as `parse_server` gives them) name one Glance: the same scheme,
    host (in any case), port (the scheme's default written or not) and prefix."""
    return _identity(first) == _identity(second)


def _identity(url: str) -> tuple[str, str, int | None, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme), parts.path
