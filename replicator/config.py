"""Settings kept in a file: `replicator.toml` in the working directory, or `--config FILE`.

Keys are the long option names (`concurrency`, `bwlimit`, `upload-method` or
`upload_method`). Top-level keys apply to every command that takes them; a `[livecopy]`
(`[dump]`, …) table applies to that command only and wins over the top level. Flags given on
the command line win over both: the file only supplies defaults.

```toml
concurrency = 8
retries = 5
[livecopy]
bwlimit = "200M"
order-by = "size,desc"
```
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Mapping

from replicator.errors import RunError

DEFAULT_FILE = Path("replicator.toml")


def defaults_for(path: Path | None, commands: Mapping[str, set[str]]) -> dict[str, dict[str, Any]]:
    """Per-command option defaults from the file (none when there is no file).

    `commands` maps each command to its option names; a key no command takes is an error,
    so a typo in the file is not silently ignored.
    """
    if path is None:
        if not DEFAULT_FILE.is_file():
            return {}
        path = DEFAULT_FILE
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RunError(f"cannot read the config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RunError(f"config file {path} is not valid TOML: {exc}") from None
    shared = {_name(k): v for k, v in document.items() if not isinstance(v, dict)}
    known = set().union(*commands.values()) if commands else set()
    _check(shared, known, path, "")
    defaults: dict[str, dict[str, Any]] = {}
    for command, options in commands.items():
        own = {_name(k): v for k, v in document.get(command, {}).items()}
        _check(own, options, path, f"[{command}] ")
        defaults[command] = {k: v for k, v in shared.items() if k in options} | own
    unknown_tables = {k for k, v in document.items() if isinstance(v, dict)} - set(commands)
    if unknown_tables:
        raise RunError(f"config file {path}: no command is named {', '.join(sorted(unknown_tables))}")
    return defaults


def _name(key: str) -> str:
    return key.replace("-", "_")


def _check(values: Mapping[str, Any], known: set[str], path: Path, where: str) -> None:
    unknown = set(values) - known
    if unknown:
        raise RunError(f"config file {path}: {where}unknown setting {', '.join(sorted(unknown))}")
