"""Sizes as people write them: 65536, 64K, 4M, 1.5G, 2GiB (binary units)."""

from __future__ import annotations

import re

from replicator.model.errors import RunError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$", re.IGNORECASE)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def parse_size(text: str) -> int:
    match = _SIZE.match(text)
    if not match:
        raise RunError(f"invalid size {text!r}: expected a number of bytes, optionally with K, M, G or T")
    number, unit = match.groups()
    return int(float(number) * 1024 ** _POWERS[unit.lower()])
