"""One side's cloud as a token source: tokens, the image endpoint, TLS and projects from Keystone.

Separate objects, each with one job, as keystoneauth keeps them (a session, an auth plugin, a
catalog): `cloud` loads the cloud and its keystoneauth session, `tokens` keeps the token and
renews it ahead of its end, `catalog` chooses an endpoint (a pure function), `identity` looks
projects up, `keystone_errors` says each failure in one line. `KeystoneAuth` only composes them
for one side.

What a token source can do beyond tokens is a capability it declares by the protocols below
(`CatalogTokens`, `ProjectDirectory`): `connect` and `projects` ask for the capability, never for
a class (rclone asks a backend for an optional interface the same way). A token the user gave
has neither.

keystoneauth is synchronous: it runs in a worker thread, never on the event loop, and only to
obtain tokens, the catalog and projects; image data never goes through it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from replicator.model.errors import ErrorKind, RunError
from replicator.model.token_source import TokenSource
from replicator.openstack.catalog import by_region, choose_endpoint
from replicator.openstack.cloud import CloudChoice, ConnectionSettings, LoadedCloud, Tls, in_thread, load_cloud
from replicator.openstack.cloudfiles import Warn
from replicator.openstack.identity import IdentityClient, Project
from replicator.openstack.keystone_errors import KeystoneErrors
from replicator.openstack.tokens import Grant, TokenCache

LOG = logging.getLogger(__name__)


@runtime_checkable
class CatalogTokens(TokenSource, Protocol):
    """Tokens that come with a service catalog and the cloud's TLS settings: a side reached
    through them can find its Glance in the catalog, and regions of one Keystone can copy
    between each other server-side."""

    #: The region and interface the image endpoint was taken from, once `endpoint()` has run.
    region: str | None
    interface: str | None

    async def endpoint(self) -> str:
        """The image endpoint of this side's region and interface."""
        ...

    async def tls(self) -> Tls:
        """TLS for this side's Glance, the same as for its Keystone."""
        ...

    async def image_endpoints(self, interface: str | None = None) -> dict[str, str]:
        """The image endpoints this side's token sees, by region."""
        ...

    def keystone_url(self) -> str:
        """Where this side authenticates, without a version ("" before it is known)."""
        ...


@runtime_checkable
class ProjectDirectory(Protocol):
    """A token source whose Keystone can look projects up."""

    async def projects(self, name_or_id: str, *, by_name: bool = False) -> list[Project]:
        """The projects that have this id, or else this name (`by_name`: a name only)."""
        ...


def same_keystone(one: CatalogTokens, other: CatalogTokens) -> bool:
    """Whether both sides authenticate at the same Keystone (then one token's catalog knows the
    other side's region). Call after `endpoint()` or `token()` of both."""
    mine = one.keystone_url()
    return bool(mine) and mine == other.keystone_url()


class KeystoneAuth:
    """Tokens, the image endpoint, TLS and projects of one side's cloud (a `CatalogTokens` and a
    `ProjectDirectory`)."""

    def __init__(
        self,
        choice: CloudChoice,
        connection: ConnectionSettings | None = None,
        *,
        side: str | None = None,
        warn: Warn = lambda message: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.choice = choice
        self._connection = connection or ConnectionSettings()
        self._warn = warn
        self._errors = KeystoneErrors(
            choice.where(), side=side, credentials=choice.credentials(), auth_url=self.auth_url
        )
        self._cloud: LoadedCloud | None = None
        self._loading = asyncio.Lock()
        self._tokens = TokenCache(self._authenticate, warn=self._warn_here, clock=clock)
        self._identity = IdentityClient(self._tokens, self._loaded, self._errors)
        #: The region and interface this side's image endpoint was taken from, once `endpoint()`
        #: has run (None when the endpoint was given instead: it may be another Glance).
        self.region: str | None = None
        self.interface: str | None = None

    async def token(self) -> str | None:
        return await self._tokens.token()

    async def renew(self, refused: str | None) -> str | None:
        return await self._tokens.renew(refused)

    async def endpoint(self) -> str:
        """The image service's URL in this side's region and interface, from the catalog."""
        login = await self._tokens.current()
        cloud = await self._loaded()
        try:
            chosen = choose_endpoint(login.catalog, "image", cloud.region, cloud.interface)
        except RunError as exc:  # the chooser's, said of no side: this side's catalog
            raise self._errors.error(str(exc), exc.kind) from exc
        self.region, self.interface = chosen.region, chosen.interface
        if urlsplit(cloud.auth_url).scheme == "https" and urlsplit(chosen.url).scheme == "http":
            self._warn_here(
                f"Keystone at {cloud.auth_url} is reached over https but lists the plain-http "
                f"image endpoint {chosen.url}: tokens and image data will travel to it unencrypted"
            )
        return chosen.url

    async def tls(self) -> Tls:
        """TLS for this side's Glance as the requests library takes it (verify: a bool or a CA
        file; the client certificate), the same as for its Keystone: the user's values where
        given, else the cloud's own `verify`/`insecure`, `cacert`, `cert`/`key`."""
        return (await self._loaded()).tls

    def auth_url(self) -> str:
        """The URL this side authenticates at, as its settings give it ("" before they are read)."""
        return self._cloud.auth_url if self._cloud is not None else ""

    def keystone_url(self) -> str:
        """Where this side authenticates, without a trailing slash or version: two sides with
        the same one are regions (or projects) of one Keystone. Call after `endpoint()` or `token()`."""
        return self._cloud.keystone_url if self._cloud is not None else ""

    def same_keystone(self, other: CatalogTokens) -> bool:
        return same_keystone(self, other)

    async def image_endpoints(self, interface: str | None = None) -> dict[str, str]:
        """The image endpoints this side's token sees, by region, for `interface` (else this
        side's own)."""
        login = await self._tokens.current()
        return by_region(login.catalog, "image", interface or (await self._loaded()).interface)

    async def projects(self, name_or_id: str, *, by_name: bool = False) -> list[Project]:
        """The projects of this side's Keystone that have this id, or else this name (one per
        domain that has it), each with its domain's name; an empty list when none. `by_name`: a
        name, never asked for as an id. Needs the right to list projects (admin). Answers are
        kept: each name is asked for once per run."""
        return await self._identity.projects(name_or_id, by_name=by_name)

    def _warn_here(self, message: str) -> None:
        self._warn(f"{self._errors.where}: {message}")

    async def _loaded(self) -> LoadedCloud:
        if self._cloud is None:
            async with self._loading:
                if self._cloud is None:
                    choice, connection, errors, warn = self.choice, self._connection, self._errors, self._warn
                    self._cloud = await in_thread(lambda: load_cloud(choice, connection, errors, warn))
        return self._cloud

    async def _authenticate(self) -> Grant:
        """One authentication; the only place a token is asked for."""
        cloud = await self._loaded()
        errors = self._errors
        grant = await in_thread(lambda: _authenticate(cloud, errors))
        LOG.debug("%s: authenticated at %s", self._errors.where, cloud.auth_url)
        return grant


def _authenticate(cloud: LoadedCloud, errors: KeystoneErrors) -> Grant:
    """A token from the cloud's auth plugin (in a worker thread)."""
    from keystoneauth1 import exceptions as ksa

    session = cloud.session
    try:
        access = session.auth.get_auth_ref(session)
    except ksa.ClientException as exc:
        raise errors.from_library(exc, cloud.timeout) from exc
    token = getattr(access, "auth_token", None)
    if not token:
        raise errors.error("Keystone gave no token", ErrorKind.AUTH)
    catalog = getattr(getattr(access, "service_catalog", None), "catalog", None)
    return Grant(
        token=token,
        catalog=catalog,
        issued=getattr(access, "issued", None),
        expires=getattr(access, "expires", None),
    )
