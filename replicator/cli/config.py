"""Settings kept in a file: `--config FILE`, else `replicator.toml` in the working directory,
else the file `$REPLICATOR_CONFIG` names, else the user's `$XDG_CONFIG_HOME/replicator/config.toml`
(`~/.config/replicator/config.toml`). One file is read, the first found, never a merge: what a
run does is in the one file it names on stderr, the nearest to the run winning (the command
line, then the directory, then the environment, then the user's own defaults).

A file that another user could have written (writable by others, or owned by someone else
than the user running the command or root) is refused, as ssh refuses its files: it would
choose where the tokens and the data go. The file read is said on stderr by `-v`, and always
when it sets a connection setting; an argument given on the command line wins over the file
(`cli.options.grouped`).

Keys are the long option names (`concurrency`, `bwlimit`, `upload-method` or
`upload_method`). Top-level keys apply to every command that takes them; a `[livecopy]`
(`[dump]`, …) table applies to that command only and wins over the top level. Flags given on
the command line win over both: the file only supplies defaults. `replicator.toml.example`
lists every key.

```toml
concurrency = 8
retries = 5
[livecopy]
bwlimit = "200M"
order-by = "size,desc"
```
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn

from replicator.model.errors import RunError

DEFAULT_FILE = Path("replicator.toml")

_TABLE = re.compile(r"""^\s*\[\s*["']?([^\]"']+?)["']?\s*\]""")
_KEY = re.compile(r"""^\s*["']?([A-Za-z0-9_-]+)["']?\s*=""")


def key(name: str) -> str:
    """A key as the file may spell it, in the one spelling used to look it up."""
    return name.replace("-", "_")


def defaults_for(path: Path | None, commands: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, Any]]:
    """Per-command option defaults from the file (none when there is no file), keyed by
    parameter name.

    `commands` maps each command to the keys it takes (in `key()` spelling), each to its
    parameter. A key no command takes is an error naming the file, the line and the closest
    key, so a typo in the file is not silently ignored.
    """
    path = which(path)
    if path is None:
        return {}
    text = _read(path)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RunError(f"config file {path} is not valid TOML: {exc}") from exc
    problems = _Problems(path, text)
    shared = {key(k): v for k, v in document.items() if not isinstance(v, dict)}
    known = {k: p for keys in commands.values() for k, p in keys.items()}
    for name in shared:
        if name not in known:
            problems.unknown(None, name, known)
    for table in (k for k, v in document.items() if isinstance(v, dict)):
        if table not in commands:
            problems.fail(None, table, f"no command is named [{table}]", closest(table, commands))
        for name in document[table]:
            if key(name) not in commands[table]:
                problems.unknown(table, key(name), commands[table])
    defaults: dict[str, dict[str, Any]] = {}
    for command, keys in commands.items():
        own = {keys[key(k)]: v for k, v in document.get(command, {}).items()}
        defaults[command] = {keys[k]: v for k, v in shared.items() if k in keys} | own
    return defaults


def bad_value(path: Path | None, command: str, name: str, problem: str) -> RunError:
    """The error for a value the file gives that its option refuses: the file, the line and the
    key, never the flag (which the operator did not type)."""
    path = which(path) or DEFAULT_FILE
    problems = _Problems(path, _read(path))
    line = problems.line_of(command, name) or problems.line_of(None, name)
    at = f", line {line}" if line else ""
    return RunError(f"config file {path}{at}: {name.replace('_', '-')}: {problem}")


#: The environment variable that names a config file, read where no nearer file is found.
ENVIRONMENT = "REPLICATOR_CONFIG"


def which(path: Path | None) -> Path | None:
    """The file a command reads: `path` (`--config`), else ./replicator.toml, else
    `$REPLICATOR_CONFIG` (named, so it must be there: a missing one is an error, as a missing
    `--config` is), else the user file when there is one; None when there is no file at all."""
    if path is not None:
        return path
    if DEFAULT_FILE.is_file():
        return DEFAULT_FILE
    named = os.environ.get(ENVIRONMENT)
    if named:
        return Path(named)
    user = user_file()
    return user if user.is_file() else None


def user_file() -> Path:
    """The user's own defaults: `$XDG_CONFIG_HOME/replicator/config.toml`, `~/.config` when
    XDG_CONFIG_HOME is unset or not absolute (as the XDG base directory rules say)."""
    base = os.environ.get("XDG_CONFIG_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".config"
    return root / "replicator" / "config.toml"


def _read(path: Path) -> str:
    try:
        info = path.stat()
    except OSError as exc:
        raise RunError(f"cannot read the config file {path}: {exc.strerror}") from None
    if info.st_mode & stat.S_IWOTH:
        raise RunError(
            f"config file {path} is writable by others (mode {stat.S_IMODE(info.st_mode):o}): refused "
            f"(chmod o-w {path})"
        )
    if info.st_uid not in (os.getuid(), 0):
        raise RunError(f"config file {path} belongs to another user (uid {info.st_uid}): refused")
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RunError(f"cannot read the config file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise RunError(f"config file {path} is not UTF-8 text (byte {exc.start} cannot be read)") from exc


class _Problems:
    """Messages about a file's keys: the file, the line, and what was probably meant."""

    def __init__(self, path: Path, text: str) -> None:
        self._path = path
        self._lines = text.splitlines()

    def unknown(self, table: str | None, name: str, known: Mapping[str, str]) -> None:
        where = f"[{table}] " if table else ""
        self.fail(table, name, f"{where}unknown setting {name.replace('_', '-')}", closest(key(name), known))

    def fail(self, table: str | None, name: str, message: str, suggestion: str | None) -> NoReturn:
        line = self.line_of(table, name)
        at = f", line {line}" if line else ""
        hint = f" (did you mean {suggestion.replace('_', '-')}?)" if suggestion else ""
        raise RunError(f"config file {self._path}{at}: {message}{hint}")

    def line_of(self, table: str | None, name: str) -> int | None:
        """Where `name` is written (a key in `table`, or the table itself when it is the one
        asked about); tomllib keeps no positions, so the text is searched."""
        current: str | None = None
        for number, line in enumerate(self._lines, start=1):
            header = _TABLE.match(line)
            if header:
                current = header.group(1).strip()
                if table is None and current == name:
                    return number
                continue
            found = _KEY.match(line)
            if found and current == table and key(found.group(1)) == key(name):
                return number
        return None


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate `word` is most likely a typo of, if one is close enough: the "did you
    mean" of every message about a key or a value that was not understood."""
    found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None
