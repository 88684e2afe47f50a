"""What each fault switch accepts, read the same way from the command line and from `POST /_faults`.

One reader per switch takes either a command-line string or a JSON value and returns the value
the injector uses, or raises `ValueError` saying what was wrong. A switch set at run time is
checked before anything changes, so a bad value is a 400 for that request and never reaches
the requests that follow. `--error-paths /file,/stage` and `{"error_paths": "/file,/stage"}`
(or `["/file", "/stage"]`) mean the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from replicator.model.errors import RunError
from replicator.model.units import parse_size

Reader = Callable[[Any], Any]


def whole(value: Any) -> int:
    """A count: a whole number of at least 0."""
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError as exc:
            raise ValueError(f"not a whole number: {value!r}") from exc
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"not a whole number of at least 0: {value!r}")
    return value


def byte_count(value: Any) -> int:
    """Bytes: a whole number, or a size such as 100K or 10M (binary units)."""
    if isinstance(value, str):
        try:
            return parse_size(value)
        except RunError as exc:
            raise ValueError(str(exc)) from exc
    return whole(value)


def rate(value: Any) -> int:
    """Bytes per second: as `byte_count`, but at least 1."""
    count = byte_count(value)
    if count < 1:
        raise ValueError(f"a rate must be at least 1 byte per second, not {value!r}")
    return count


def number(value: Any) -> float:
    """A finite number (a JSON number, or its text)."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError as exc:
            raise ValueError(f"not a number: {value!r}") from exc
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    return float(value)


def seconds(value: Any) -> float:
    """A duration: a number of seconds, at least 0."""
    duration = number(value)
    if duration < 0:
        raise ValueError(f"not a number of seconds of at least 0: {value!r}")
    return duration


def share(value: Any) -> float:
    """A share of requests: a number from 0 to 1."""
    fraction = number(value)
    if not 0 <= fraction <= 1:
        raise ValueError(f"not a share from 0 to 1: {value!r}")
    return fraction


def error_status(value: Any) -> int:
    """An HTTP error status, 400 to 599."""
    status = whole(value)
    if status not in {s.value for s in HTTPStatus} or not 400 <= status <= 599:
        raise ValueError(f"not an HTTP error status (400-599): {value!r}")
    return status


def seed(value: Any) -> int:
    """Any whole number, negative ones too."""
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError as exc:
            raise ValueError(f"not a whole number: {value!r}") from exc
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"not a whole number: {value!r}")
    return value


def paths(value: Any) -> list[str]:
    """Path substrings: one comma-separated string, or a list of strings."""
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list) and all(isinstance(part, str) for part in value):
        parts = value
    else:
        raise ValueError(f"not a comma-separated string or a list of strings: {value!r}")
    return [part.strip() for part in parts if part.strip()]


def optional(reader: Reader) -> Reader:
    """`reader`, or None (JSON null) to switch the fault off."""

    def read(value: Any) -> Any:
        return None if value is None else reader(value)

    read.__doc__ = f"{reader.__doc__} Or null: off."
    return read


@dataclass(frozen=True)
class Switch:
    """One fault switch: how its value is read, and what it does (the `serve --help` line)."""

    read: Reader
    help: str
    metavar: str


SWITCHES: dict[str, Switch] = {
    "drop_after_bytes": Switch(optional(byte_count), "Cut downloads after this many bytes (e.g. 100K).", "SIZE"),
    "drop_upload_after_bytes": Switch(optional(byte_count), "Cut uploads after this many bytes.", "SIZE"),
    "drop_count": Switch(optional(whole), "How many bodies to cut (default: all).", "N"),
    "corrupt_after_bytes": Switch(optional(byte_count), "Flip the byte at this offset of downloads.", "SIZE"),
    "corrupt_count": Switch(optional(whole), "How many downloads to corrupt (default: all).", "N"),
    "stall_seconds": Switch(seconds, "Stall bodies after their first chunk.", "SECONDS"),
    "stall_count": Switch(optional(whole), "How many bodies to stall (default: all).", "N"),
    "error_rate": Switch(share, "Share of requests answered with an error (0 to 1).", "SHARE"),
    "error_status": Switch(error_status, "Status of injected errors (default 503).", "STATUS"),
    "retry_after": Switch(optional(seconds), "Retry-After seconds sent with injected errors.", "SECONDS"),
    "error_paths": Switch(paths, "Comma-separated path substrings errors apply to (default: every path).", "PATHS"),
    "seed": Switch(optional(seed), "Seed for the error dice.", "N"),
    "latency": Switch(seconds, "Seconds added before every response.", "SECONDS"),
    "bandwidth": Switch(optional(rate), "Bytes per second per body, e.g. 10M.", "RATE"),
    "token_ttl": Switch(optional(seconds), "Seconds a token stays valid (POST /_token for a new one).", "SECONDS"),
}


def read_switches(changes: dict[str, Any]) -> dict[str, Any]:
    """Every switch in `changes` read, or `ValueError` naming the first that is unknown or wrong."""
    unknown = sorted(set(changes) - set(SWITCHES))
    if unknown:
        raise ValueError(f"unknown fault switches: {', '.join(unknown)}")
    values = {}
    for name, value in changes.items():
        try:
            values[name] = SWITCHES[name].read(value)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from exc
    return values
