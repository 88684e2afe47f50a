"""Reading what somebody else wrote: JSON from a server or a dump, with bounds on size and depth.

A Glance answer or a dump record is written by whoever controls that server or directory. The
parsers here accept what a Glance writes and refuse, with a plain reason, what would cost us
memory or a traceback: a body past `MAX_JSON_BYTES`, nesting past `MAX_JSON_DEPTH`, text that is
not JSON. Glance's records are three levels deep (page, image, tag list); anything deeper than
`MAX_JSON_DEPTH` is not an image record.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

#: The largest JSON answer or record read: a page of 1,000 images with large property sets is
#: a few MiB; 64 MiB leaves room while keeping a hostile answer from taking the machine's memory.
MAX_JSON_BYTES = 64 * 2**20

#: The deepest nesting accepted (a page of records holding lists is 4 levels).
MAX_JSON_DEPTH = 32


class UntrustedJsonError(ValueError):
    """The text cannot be taken as the JSON it claims to be; the message says why, in a few words."""


def load_json(data: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse `data`, refusing what is too large, too deep or not JSON."""
    if len(data) > MAX_JSON_BYTES:
        raise UntrustedJsonError(f"larger than {MAX_JSON_BYTES // 2**20} MiB")
    try:
        value = json.loads(data)
    except RecursionError as exc:
        raise UntrustedJsonError(f"nested deeper than {max_depth} levels") from exc
    except ValueError as exc:
        raise UntrustedJsonError(f"not JSON ({exc.__class__.__name__}: {str(exc)[:80]})") from exc
    if _depth_exceeds(value, max_depth):
        raise UntrustedJsonError(f"nested deeper than {max_depth} levels")
    return value


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether `value` nests containers deeper than `limit`, walked level by level without
    recursion.

    It visits every value of an answer once, so it is written for speed (a listing page of
    1,000 records is about 30,000 values): only the containers of one level are kept, and
    `type(...) is` suffices because `json.loads` makes plain dicts and lists."""
    if type(value) is not dict and type(value) is not list:
        return False
    level: list[Any] = [value]
    depth = 1
    while level:
        below: list[Any] = []
        for item in level:
            for child in item.values() if type(item) is dict else item:
                if type(child) is dict or type(child) is list:
                    below.append(child)
        if below and depth >= limit:
            return True
        level = below
        depth += 1
    return False


def without_userinfo(url: str) -> str:
    """`url` without the `user:password@` a configuration may carry in it (an `auth_url` of
    `http://admin:secret@keystone:5000/v3`), for anything shown or logged (`--debug` too)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


#: Characters no HTTP header value may carry (aiohttp refuses them all; CR and LF would end it).
_NOT_IN_HEADERS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def header_problem(text: str) -> str | None:
    """Why `text` cannot be sent as a header value (a token, a v1 property), or None."""
    if "\r" in text or "\n" in text:
        return "holds a line break"
    if _NOT_IN_HEADERS.search(text):
        return "holds a control character"
    return None
