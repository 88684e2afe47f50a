"""What the two sequential baselines share: their command line and the fields they compare.

Each runs as `python baselines/NAME.py SOURCE TARGET [--metaonly|--compare]`; the script's own
folder is on `sys.path`, so they import this module by name.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

#: The fields a sequential compare checks, the settable ones a copy by hand would carry.
FIELDS = ("name", "disk_format", "container_format", "visibility", "min_ram", "min_disk", "tags")


def run(main: Callable[[str, str, str], int]) -> None:
    """Call `main(source, target, mode)`, mode "copy", "metaonly" or "compare"; exit with its code."""
    args = sys.argv[1:]
    flag = args[2] if len(args) > 2 else ""
    sys.exit(main(args[0], args[1], flag.lstrip("-") or "copy"))


def finish(mode: str, differences: int) -> int:
    if mode == "compare":
        print(f"{differences} images differ or are missing")
    return 0
