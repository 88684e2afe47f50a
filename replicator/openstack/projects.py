"""Projects between two clouds: a source image's owner and members, as the target's projects.

Between two Keystones, the project ids on a source image (its `owner`, its members) mean
nothing on the target: copied as they are, the target refuses the owner (403) or shares the
image with ids no project has. Told how projects correspond (a table of source project to
target project, by id or by name; or "the target project of the same name"), a run gives each
source record the target's ids before it is planned (`engine.run.planned`), so the plan, the
copy and `compare` all see target ids, and a finished migration compares identical.

A project without a counterpart is never copied as a foreign id. The record says which ones
(`ImageRecord.unmapped_owner`, `unmapped_members`) and the plan decides what follows
(`engine.plan`): an owner fails the image, or with the owner fallback leaves it to the target's
project; members are left out; each with a note in the image's reason.

Each source project is looked up once per run, whatever the number of its images: its name in
the source's Keystone, then the target's project of that name (`identity.IdentityClient.projects`,
which keeps Keystone's answers too). What a source image names as a project is untrusted: only
what can be a Keystone project id is ever sent to a Keystone.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from replicator.model.errors import ErrorKind, RunError
from replicator.model.records import MEMBERS, ImageRecord
from replicator.model.settings import Settings
from replicator.model.tasks import all_of
from replicator.openstack.auth import ProjectDirectory
from replicator.openstack.cloudfiles import parse_document
from replicator.openstack.identity import Project

if TYPE_CHECKING:  # aiohttp loads with the transport, when a store is opened (start-up)
    from replicator.model.token_source import TokenSource

#: The projects of one Keystone that have an id, or else a name (`identity.IdentityClient.projects`;
#: `by_name=True`: a name, never asked for as an id).
Lookup = Callable[..., Awaitable[list[Project]]]

#: What a Keystone project id can be (a column of 64 characters; Keystone makes them of hex
#: digits). Anything else on a source image is no project of any Keystone, and not asked about.
_PROJECT_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")

#: Keystone lookups at once while the table's target projects are checked.
CHECKS = 8

#: Table entries named in one error, at most.
NAMED = 5


@dataclass(frozen=True)
class ProjectMapping:
    """How the user said projects correspond: a table (source project id or name to target
    project id or name), the target's project of the same name, or both (the table first)."""

    table: Mapping[str, str] = field(default_factory=dict)
    by_name: bool = False
    #: The file the table was read from, for messages.
    origin: str = ""


def read_table(path: Path) -> dict[str, str]:
    """The table of a mapping file: a YAML (or JSON) mapping of project to project, each a
    non-empty name or id; RunError naming the file otherwise."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RunError(f"cannot read {path}: {exc.strerror}", kind=ErrorKind.INPUT) from exc
    document = parse_document(str(path), raw, "a table of projects")
    if not isinstance(document, dict):
        raise RunError(
            f"{path} must map source projects to target projects (`source: target`, one a line)",
            kind=ErrorKind.INPUT,
        )
    table: dict[str, str] = {}
    for key, value in document.items():
        for entry in (key, value):
            if not isinstance(entry, str) or not entry.strip() or not entry.isprintable():
                shown = repr(entry) if isinstance(entry, str) else f"{entry!r} ({type(entry).__name__})"
                raise RunError(
                    f"{path}: {shown[:80]} is not a project id or name (write each as text, quoted if "
                    "it is all digits)",
                    kind=ErrorKind.INPUT,
                )
        table[key] = value
    return table


def projects_of(image: ImageRecord, *, owner: bool = True, members: bool = True) -> list[str]:
    """The source projects `image` names: its owner and its members, as far as they are mapped."""
    named = []
    value = image.attributes.get("owner")
    if owner and value not in (None, ""):
        named.append(str(value))
    if members and image.members is not None:
        named.extend(member for member, _ in image.members)
    return named


def map_record(
    image: ImageRecord, counterparts: Mapping[str, str | None], *, owner: bool = True, members: bool = True
) -> ImageRecord:
    """`image` with the target's projects for its owner and members (`counterparts`: source
    project to target project, None or absent where there is none).

    An owner without a counterpart leaves the record without an owner, and is named in
    `unmapped_owner`; members without one are left out, and named in `unmapped_members`.
    """
    attributes = dict(image.attributes)
    unmapped_owner = None
    value = attributes.get("owner")
    if owner and value not in (None, ""):
        found = counterparts.get(str(value))
        if found:
            attributes["owner"] = found
        else:
            del attributes["owner"]
            unmapped_owner = str(value)
    shares = image.members
    left_out: list[str] = []
    if members and image.members is not None:
        kept: dict[str, str] = {}
        for member, status in image.members:
            target = counterparts.get(member)
            if target:
                kept.setdefault(target, status)
            else:
                left_out.append(member)
        shares = tuple(sorted(kept.items()))
    return replace(
        image, attributes=attributes, members=shares, unmapped_owner=unmapped_owner, unmapped_members=tuple(left_out)
    )


def counterpart(
    found: Sequence[Project], wanted: str, domain_id: str | None = None, *, domain_of: Project | None = None
) -> Project | None:
    """The project `wanted` (an id, or else a name) means among those a Keystone `found` for it.

    A name several domains hold is ambiguous: the project in the domain of the same id as the
    source project's (`domain_id`: `default` is everywhere) is taken, else none. Mapped by name
    from the source project `domain_of`, `wanted` is a name only, and only the project in the
    domain of the same name counts (of the same id where Keystone gave no name): acme's `prod`
    never becomes globex's.
    """
    if domain_of is not None:
        named = [project for project in found if project.name == wanted]
        if domain_of.domain_name is not None:
            named = [project for project in named if project.domain_name == domain_of.domain_name]
        else:
            named = [project for project in named if project.domain_id == domain_of.domain_id]
        return named[0] if len(named) == 1 else None
    by_id = [project for project in found if project.id == wanted]
    if by_id:
        return by_id[0]
    named = [project for project in found if project.name == wanted]
    if len(named) > 1 and domain_id is not None:
        named = [project for project in named if project.domain_id == domain_id]
    return named[0] if len(named) == 1 else None


class ProjectMapper:
    """Source project ids to the target's, for one run; each source project resolved once.

    `source` and `target` look projects up in each side's Keystone (None: the side has no
    Keystone, only a token). Without a target Keystone the table's values are taken as the
    target's ids as written; without a source Keystone its keys can only be ids.
    """

    def __init__(
        self,
        mapping: ProjectMapping,
        *,
        source: Lookup | None,
        target: Lookup | None,
        owner: bool = True,
        members: bool = True,
    ) -> None:
        self._table = dict(mapping.table)
        self._by_name = mapping.by_name
        self._source = source
        self._target = target
        self._owner = owner
        self._members = members
        self._found: dict[str, str | None] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def known(self, image: ImageRecord) -> ImageRecord | None:
        """`image` mapped, when every project it names has been resolved already; else None
        (`mapped` must ask)."""
        if any(project not in self._found for project in self._named(image)):
            return None
        return self._apply(image)

    async def mapped(self, image: ImageRecord) -> ImageRecord:
        """`image` mapped, looking up the projects not resolved yet."""
        await all_of(*(self._resolve(project) for project in set(self._named(image))))
        return self._apply(image)

    def _named(self, image: ImageRecord) -> list[str]:
        return projects_of(image, owner=self._owner, members=self._members)

    def _apply(self, image: ImageRecord) -> ImageRecord:
        return map_record(image, self._found, owner=self._owner, members=self._members)

    async def _resolve(self, project: str) -> None:
        """Look `project` up once, however many images ask for it at the same time."""
        if project in self._found:
            return
        async with self._locks.setdefault(project, asyncio.Lock()):
            if project not in self._found:
                self._found[project] = await self._look_up(project)
        self._locks.pop(project, None)

    async def _look_up(self, project: str) -> str | None:
        """The target's id for the source `project`: the table by id, else by the project's
        name in the source's Keystone, else (by name) the target's project of that name."""
        wanted = self._table.get(project)
        domain_id = None
        same_name: Project | None = None  # mapped by its name: the source project
        if wanted is None and self._source is not None and _PROJECT_ID.fullmatch(project):
            mine = next((found for found in await _asking(self._source, project) if found.id == project), None)
            if mine is not None:
                domain_id = mine.domain_id
                wanted = self._table.get(mine.name)
                if wanted is None and self._by_name:
                    wanted, same_name = mine.name, mine
        if wanted is None:
            return None
        if self._target is None:
            return wanted
        if same_name is not None:  # a name, looked up as a name only (`.` and `..` are names too)
            chosen = counterpart(await _asking(self._target, wanted, by_name=True), wanted, domain_of=same_name)
        else:
            chosen = counterpart(await _asking(self._target, wanted), wanted, domain_id)
        return chosen.id if chosen is not None else None


async def open_mapper(
    mapping: ProjectMapping, source: TokenSource | None, target: TokenSource, settings: Settings
) -> ProjectMapper:
    """The mapper of a run between the sides whose token sources are given (`source` None: a
    dump). Every target project the table names is checked in the target's Keystone first, so
    a misspelt one stops the run before it starts instead of failing its images one by one."""
    source_lookup = source.projects if isinstance(source, ProjectDirectory) else None
    target_lookup = target.projects if isinstance(target, ProjectDirectory) else None
    if mapping.by_name and (source_lookup is None or target_lookup is None):
        raise RunError(
            "mapping projects by name needs both sides' Keystones: name a cloud for the source and "
            "for the target (a token alone cannot look projects up)",
            kind=ErrorKind.INPUT,
        )
    if target_lookup is not None:
        await _check_targets(mapping, target_lookup)
    return ProjectMapper(
        mapping,
        source=source_lookup,
        target=target_lookup,
        owner="owner" not in settings.not_compared,
        members=MEMBERS not in settings.dont_replicate,
    )


async def _check_targets(mapping: ProjectMapping, target: Lookup) -> None:
    """RunError naming the table's target projects the target's Keystone does not know, or
    knows as several (a name in several domains)."""
    gate = asyncio.Semaphore(CHECKS)

    async def check(value: str) -> str | None:
        async with gate:
            found = await _asking(target, value)
        if counterpart(found, value) is not None:
            return None
        if not found:
            return f"{value!r} is no project of the target"
        domains = ", ".join(sorted({str(project.domain_id) for project in found}))
        return f"{value!r} names {len(found)} projects of the target (domains {domains}): write the id of one"

    values = sorted(set(mapping.table.values()))
    problems = [problem for problem in await all_of(*map(check, values)) if problem]
    if problems:
        more = f"; and {len(problems) - NAMED} more" if len(problems) > NAMED else ""
        raise RunError(f"{mapping.origin}: {'; '.join(problems[:NAMED])}{more}", kind=ErrorKind.INPUT)


async def _asking(lookup: Lookup, name_or_id: str, *, by_name: bool = False) -> list[Project]:
    """A Keystone lookup; a refusal says what mapping projects needs."""
    try:
        return await (lookup(name_or_id, by_name=True) if by_name else lookup(name_or_id))
    except RunError as exc:
        if exc.kind is not ErrorKind.FORBIDDEN:
            raise
        raise exc.again(f"{exc} (mapping projects needs the right to list projects: an admin)") from exc
