"""The clouds.yaml and secure.yaml files, checked before openstacksdk reads them.

openstacksdk skips a file it cannot parse with a log line and goes on as if it did not exist
(the run then fails later with "cloud not found"), and crashes on a file of the wrong shape (a
list where a mapping belongs). Here the same file it would pick is found, parsed and checked
first, so a malformed file is one error naming it; that file, and no other, is then handed to
openstacksdk. A file that holds a secret and is readable by other users is worth one line of
warning, as ssh gives for a private key.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from replicator.model.errors import ErrorKind, RunError

#: Settings whose value is a secret, wherever they sit in a cloud's entry.
SECRET_WORDS = ("password", "secret", "token", "passcode")
#: Permission bits that let users other than the owner read a file.
READABLE_BY_OTHERS = stat.S_IRGRP | stat.S_IROTH

Warn = Callable[[str], None]

_warned: set[tuple[str, int]] = set()


@dataclass(frozen=True)
class CloudFiles:
    """The clouds file and the secure file openstacksdk will use (None: none found), both checked."""

    clouds: str | None
    secure: str | None
    #: The names of the clouds both files define, in order of appearance.
    names: tuple[str, ...]

    def describe(self) -> str:
        """Where the clouds were looked for, for messages."""
        if self.clouds is None:
            return (
                "no clouds.yaml was found (in the current folder, ~/.config/openstack or "
                "/etc/openstack, or the file OS_CLIENT_CONFIG_FILE names)"
            )
        return self.clouds


def find_cloud_files(warn: Warn) -> CloudFiles:
    """The files openstacksdk would read, each checked; RunError naming a file that cannot be used."""
    from openstack.config import loader

    clouds_path, clouds = _first_readable(_candidates("OS_CLIENT_CONFIG_FILE", loader.CONFIG_FILES))
    secure_path, secure = _first_readable(_candidates("OS_CLIENT_SECURE_FILE", loader.SECURE_FILES))
    names: list[str] = []
    for path, document in ((clouds_path, clouds), (secure_path, secure)):
        if path is None:
            continue
        for name in _check_shape(path, document):
            if name not in names:
                names.append(name)
        _warn_if_exposed(path, document, warn)
    return CloudFiles(clouds_path, secure_path, tuple(names))


def _candidates(variable: str, defaults: list[str]) -> list[str]:
    """openstacksdk's search order: the file the variable names first, then the usual places."""
    override = os.environ.get(variable)
    return ([override] if override else []) + list(defaults)


def _first_readable(paths: list[str]) -> tuple[str | None, Any]:
    """The first file that exists and may be read (openstacksdk passes over one it may not read)."""
    for path in paths:
        if not os.path.exists(path):
            continue
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except PermissionError:
            continue
        except OSError as exc:
            raise RunError(f"cannot read {path}: {exc.strerror}", kind=ErrorKind.INPUT) from exc
        return path, parse_document(path, raw)
    return None, None


def parse_document(path: str, raw: bytes, what: str = "a clouds file") -> Any:
    """A YAML file (JSON where its name ends in .json) the user wrote, parsed; RunError naming
    the file and the place of the problem, never quoting its text (it may hold a secret)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RunError(f"{path} is not UTF-8 text", kind=ErrorKind.INPUT) from exc
    if path.endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise RunError(f"{path} is not valid JSON: {exc.msg} (line {exc.lineno})", kind=ErrorKind.INPUT) from exc
    import yaml  # here, not at the top: a run that reads no YAML file (and --help) never loads it

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # The problem and its place only: the library's full text quotes the line, which may be a password.
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise RunError(f"{path} is not valid YAML: {problem}{where}", kind=ErrorKind.INPUT) from exc
    except RecursionError as exc:
        raise RunError(f"{path} is nested too deeply to be {what}", kind=ErrorKind.INPUT) from exc


def _check_shape(path: str, document: Any) -> list[str]:
    """The cloud names of a parsed file, after checking each place where openstacksdk expects a
    mapping or a list (a wrong type there crashes it)."""
    if document is None:
        return []  # an empty file: openstacksdk ignores it too
    if not isinstance(document, dict):
        raise _shape_error(path, "the file must be a mapping with a 'clouds' key")
    clouds = document.get("clouds", {})
    if clouds is None:
        return []
    if not isinstance(clouds, dict):
        raise _shape_error(path, "'clouds' must map cloud names to their settings")
    for name, cloud in clouds.items():
        label = f"cloud {str(name)!r}"
        if not isinstance(cloud, dict):
            raise _shape_error(path, f"{label} must be a mapping of settings")
        if not isinstance(cloud.get("auth", {}), dict):
            raise _shape_error(path, f"{label}: 'auth' must be a mapping")
        regions = cloud.get("regions", [])
        if not isinstance(regions, list) or not all(_is_region(region) for region in regions):
            raise _shape_error(path, f"{label}: 'regions' must be a list of region names")
        if not isinstance(cloud.get("region_name", ""), (str, list)):
            raise _shape_error(path, f"{label}: 'region_name' must be a region name")
    return [str(name) for name in clouds]


def _is_region(region: Any) -> bool:
    return isinstance(region, str) or (
        isinstance(region, dict) and isinstance(region.get("name"), str) and isinstance(region.get("values", {}), dict)
    )


def _shape_error(path: str, problem: str) -> RunError:
    return RunError(f"{path}: {problem}", kind=ErrorKind.INPUT)


def _warn_if_exposed(path: str, document: Any, warn: Warn) -> None:
    if not _holds_secret(document):
        return
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if mode & READABLE_BY_OTHERS and (path, mode) not in _warned:
        _warned.add((path, mode))  # once per run, though both sides read the file
        warn(
            f"{path} holds a secret and is readable by other users (mode {stat.S_IMODE(mode):04o}): "
            f"make it private with chmod 600"
        )


def _holds_secret(value: Any) -> bool:
    if isinstance(value, dict):
        return any(
            (isinstance(key, str) and any(word in key.lower() for word in SECRET_WORDS) and inner not in (None, ""))
            or _holds_secret(inner)
            for key, inner in value.items()
        )
    if isinstance(value, list):
        return any(_holds_secret(inner) for inner in value)
    return False
