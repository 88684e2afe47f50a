"""Reading a `--report` file the way a script does: the header record first, then one line
per image."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def header(path: Path) -> dict[str, Any]:
    first = json.loads(path.read_text().splitlines()[0])
    assert first["record"] == "header", first
    return first


def image_lines(path: Path) -> list[dict[str, Any]]:
    """Every image's line, in the order they finished (after the header)."""
    header(path)
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]
