"""Reading a `--report` file the way a script does: the header record first, then one line
per image, then the closing record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def header(path: Path) -> dict[str, Any]:
    first = json.loads(path.read_text().splitlines()[0])
    assert first["record"] == "header", first
    return first


def image_lines(path: Path) -> list[dict[str, Any]]:
    """Every image's line, in the order they finished (after the header); the records that are
    no image (`"record": "end"`) are skipped, as a script's `select(.id)` does."""
    header(path)
    lines = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    return [line for line in lines if "record" not in line]


def end(path: Path) -> dict[str, Any]:
    """The closing record of a report: how the run ended (absent from a report cut short)."""
    last = json.loads(path.read_text().splitlines()[-1])
    assert last.get("record") == "end", last
    return last
