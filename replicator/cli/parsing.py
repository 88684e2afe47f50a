"""What was typed for an option, made into a value; or a message that names the option.

The layers below take values and never speak of options: every message about what the
operator typed (on the command line or in the config file, which feeds the same options)
is made here, so it can name the option and say what would have been accepted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from replicator.cli.config import closest
from replicator.model.errors import RunError
from replicator.model.records import MEMBERS, SETTABLE_BASE, is_image_id, is_replicable, property_name_problem
from replicator.model.selection import ORDER_KEYS
from replicator.model.units import parse_size
from replicator.model.vocabulary import ApiVersion, ImageStatus, PruneMode, UploadMethod
from replicator.openstack.projects import read_table

KiB, MiB = 1024, 1024 * 1024

Word = TypeVar("Word", bound=StrEnum)

#: Below this, per-chunk work dominates (a 100-byte chunk copied 206 MiB in 250 s, not 1.5 s);
#: above it, memory grows (concurrency x 2 chunks) for no speed (see README, "Tuning").
CHUNK_SIZES = (4 * KiB, 64 * MiB)
#: Every status a Glance image can be in (v2; v1 used the same words).
STATUSES = tuple(ImageStatus)
VISIBILITIES = ("public", "private", "shared", "community")
UPLOAD_METHODS = tuple(UploadMethod)
PRUNE_MODES = tuple(PruneMode)
#: Visibilities any project may give its own images.
FALLBACK_VISIBILITIES = ("private", "shared")


class OptionError(RunError, ValueError):
    """A value given for an option cannot be used: the run does not start (exit 2)."""


#: `--log-level`: the names of Python's logging levels, least first.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def one_of(option: str, value: str, choices: Iterable[str], noun: str) -> str:
    """`value` if it is one of `choices`; else an error that lists them and names the closest,
    so that `--status actve` stops the run instead of quietly selecting nothing."""
    valid = tuple(str(choice) for choice in choices)  # a word's repr is no word a user types
    if value in valid:
        return value
    meant = closest(value, valid)
    hint = f"; did you mean {meant!r}?" if meant else ""
    raise OptionError(f"{option} {value!r}: {noun} must be one of {', '.join(valid)}{hint}")


def at_most_one(option: str, values: Iterable[str] | None, why: str) -> str | None:
    """The one value of an option that may be given once only; given again with another value
    it is refused (`why`: what one value means), not quietly the last one."""
    distinct = list(dict.fromkeys(values or ()))
    if len(distinct) > 1:
        raise OptionError(f"{option} given {len(distinct)} times ({', '.join(distinct)}): {why}; give it once")
    return distinct[0] if distinct else None


def size(option: str, text: str, *, at_least: int = 0, at_most: int | None = None) -> int:
    """A size as people write it (`64K`, `4M`, `1.5G`), within bounds."""
    try:
        value = parse_size(text)
    except RunError as exc:
        raise OptionError(f"{option}: {exc}") from exc
    if value < at_least or (at_most is not None and value > at_most):
        bounds = f"between {size_text(at_least)} and {size_text(at_most)}" if at_most else f"at least {at_least}"
        raise OptionError(f"{option} {text}: must be {bounds}")
    return value


def size_text(count: int | None) -> str:
    """A size as `size` reads it, in the largest unit that divides it (`1M`)."""
    for unit, factor in (("M", MiB), ("K", KiB)):
        if count and count % factor == 0:
            return f"{count // factor}{unit}"
    return str(count)


def seconds(option: str, value: float) -> float:
    """A finite number of seconds: `nan` and `inf` pass a range check, and break every timer."""
    if not math.isfinite(value):
        raise OptionError(f"{option} {value}: must be a finite number of seconds")
    return value


def parse_shard(text: str) -> tuple[int, int]:
    """`K/N` with 0 <= K < N (Kubernetes' JOB_COMPLETION_INDEX counts from 0, too)."""
    try:
        k_text, n_text = text.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError as exc:
        raise OptionError(f"--shard takes K/N, e.g. 0/4, not {text!r}") from exc
    if not 0 <= k < n:
        raise OptionError(f"--shard {text}: K must be at least 0 and below N")
    return k, n


def parse_order(text: str) -> tuple[str, bool]:
    """`size`, `name` or `created_at`, with `,desc` for largest, last or newest first."""
    key, _, direction = text.partition(",")
    if key not in ORDER_KEYS or direction not in ("", "asc", "desc"):
        raise OptionError(f"--order-by takes one of {', '.join(ORDER_KEYS)} with an optional ,desc; not {text!r}")
    return key, direction == "desc"


def read_ids(path: Path) -> set[str]:
    """One id per line; blank lines and `#` comments are ignored (a `--report` of failures,
    cut down to its ids, is a typical source)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise OptionError(f"cannot read --ids-from {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise OptionError(f"--ids-from {path} is not a text file") from exc
    ids = set()
    for number, line in enumerate(lines, start=1):
        value = line.split("#", 1)[0].strip()
        if value:
            ids.add(image_id(f"--ids-from {path}, line {number}:", value))
    if not ids:
        raise OptionError(f"--ids-from {path}: the file names no image id")
    return ids


def image_id(where: str, value: str) -> str:
    """An id asked for must be one: a UUID (as every Glance id is), else a run would look for
    an image no Glance can have and say nothing of the typo."""
    if not is_image_id(value):
        raise OptionError(f"{where} {value!r} is not an image id (a UUID)")
    return value


def project_table(option: str, path: Path) -> dict[str, str]:
    """A table of source project to target project (`projects.read_table`), checked before
    anything is contacted."""
    try:
        return read_table(path)
    except RunError as exc:
        raise OptionError(f"{option}: {exc}") from exc


def mark_property(option: str, name: str) -> str:
    """A custom property name for the mark: a base attribute (`name`, `visibility`, …) or one
    Glance keeps for itself would be overwritten on every image created, or refused."""
    problem = property_name_problem(name)
    if problem:
        raise OptionError(f"{option}: {problem}")
    if not name or name in SETTABLE_BASE or name == MEMBERS or not is_replicable(name):
        raise OptionError(f"{option} {name!r}: must name a custom property, not one Glance gives a meaning to")
    return name


def choice(option: str, value: str, words: type[Word], noun: str) -> Word:
    """`value` as a word of the vocabulary `words` (`one_of` its values)."""
    return words(one_of(option, value, tuple(words), noun))


def api_version(option: str, value: str) -> ApiVersion:
    return choice(option, value, ApiVersion, "API version")
