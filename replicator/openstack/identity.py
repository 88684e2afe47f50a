"""Project lookups in one side's Keystone (the identity API), for mapping projects between clouds.

Asked with the side's own token (never keystoneauth's, which it would renew on its own
schedule), at the catalog's identity endpoint; each answer is kept, so each name is asked for
once per run. What Keystone answers is another server's JSON: a project without an id is a
protocol error, not a crash.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from replicator.model.errors import ErrorKind, RunError
from replicator.openstack.catalog import endpoints
from replicator.openstack.cloud import LoadedCloud, in_thread
from replicator.openstack.keystone_errors import KeystoneErrors
from replicator.openstack.tokens import Login, TokenCache


@dataclass(frozen=True)
class Project:
    """A project as one Keystone knows it."""

    id: str
    name: str
    domain_id: str | None
    #: The domain's name: two clouds' domains correspond by name (their ids differ).
    domain_name: str | None = None


def identity_url(catalog: object, interface: str, keystone_url: str) -> str:
    """The v3 identity API: the catalog's, else the Keystone this side authenticated at."""
    found = [e for e in endpoints(catalog, "identity") if e.interface == interface]
    url = (found[0].url if found else keystone_url).rstrip("/")
    return url if url.endswith("/v3") else url + "/v3"


class IdentityClient:
    """The projects of one side's Keystone, with the side's tokens (`tokens`) and session
    (`cloud`: the side's cloud, loaded once)."""

    def __init__(self, tokens: TokenCache, cloud: Callable[[], Awaitable[LoadedCloud]], errors: KeystoneErrors) -> None:
        self._tokens = tokens
        self._cloud = cloud
        self._errors = errors
        self._projects: dict[tuple[str, bool], list[Project]] = {}
        self._domains: dict[str, str | None] = {}

    async def projects(self, name_or_id: str, *, by_name: bool = False) -> list[Project]:
        """The projects that have this id, or else this name (one per domain that has it), each
        with its domain's name; an empty list when none. `by_name`: a name, never asked for as an
        id. Needs the right to list projects (admin)."""
        key = (name_or_id, by_name)
        if key not in self._projects:
            login = await self._tokens.current()
            try:
                found = await self._look_up(login, name_or_id, by_name)
            except RunError as exc:
                if exc.status != 401:
                    raise
                await self._tokens.renew(login.token)  # revoked early: once more with a new token
                found = await self._look_up(await self._tokens.current(), name_or_id, by_name)
            self._projects[key] = found
        return self._projects[key]

    async def _look_up(self, login: Login, name_or_id: str, by_name: bool) -> list[Project]:
        cloud = await self._cloud()
        base = identity_url(login.catalog, cloud.interface, cloud.keystone_url)
        return await in_thread(lambda: self._lookup_projects(cloud, login.token, base, name_or_id, by_name))

    # What follows runs in a worker thread.

    def _lookup_projects(
        self, cloud: LoadedCloud, token: str, base: str, name_or_id: str, by_name: bool
    ) -> list[Project]:
        if not by_name:
            by_id = self._get(cloud, token, f"{base}/projects/{quote(name_or_id, safe='')}")
            if by_id.status_code == 200:
                return [self._with_domain(cloud, token, base, _project(_json(by_id).get("project")))]
            if by_id.status_code not in (403, 404):  # 403: may list by name, not read by id
                raise self._errors.from_status(by_id.status_code, "look a project up")
        named = self._get(cloud, token, f"{base}/projects", {"name": name_or_id})
        if named.status_code != 200:
            raise self._errors.from_status(named.status_code, "list projects")
        listed = _json(named).get("projects")
        if not isinstance(listed, list):
            raise self._errors.error("Keystone's list of projects is not a list", ErrorKind.PROTOCOL)
        return [self._with_domain(cloud, token, base, _project(entry)) for entry in listed]

    def _with_domain(self, cloud: LoadedCloud, token: str, base: str, project: Project) -> Project:
        """`project` with its domain's name (None where Keystone does not say), asked once a domain."""
        domain = project.domain_id
        if domain is None:
            return project
        if domain not in self._domains:
            answer = self._get(cloud, token, f"{base}/domains/{quote(domain, safe='')}")
            entry = _json(answer).get("domain") if answer.status_code == 200 else None
            name = entry.get("name") if isinstance(entry, dict) else None
            self._domains[domain] = name if isinstance(name, str) else None
        return dataclasses.replace(project, domain_name=self._domains[domain])

    def _get(self, cloud: LoadedCloud, token: str, url: str, params: dict[str, str] | None = None) -> Any:
        from keystoneauth1 import exceptions as ksa

        try:
            return cloud.session.get(
                url,
                params=params,
                authenticated=False,
                raise_exc=False,
                headers={"X-Auth-Token": token, "Accept": "application/json"},
            )
        except ksa.ClientException as exc:
            raise self._errors.from_library(exc, cloud.timeout) from exc


def _json(response: Any) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise RunError("Keystone answered something that is not a JSON object", kind=ErrorKind.PROTOCOL)
    return answer


def _project(entry: object) -> Project:
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
        raise RunError("Keystone answered a project without an id", kind=ErrorKind.PROTOCOL)
    domain_id = entry.get("domain_id")
    return Project(
        id=entry["id"], name=str(entry.get("name", "")), domain_id=domain_id if isinstance(domain_id, str) else None
    )
