"""Tokens and endpoints, from a static token or from Keystone through the OpenStack libraries.

A cloud (named, or `OS_CLOUD`, or the `OS_*` variables) is read from `clouds.yaml`/`secure.yaml`
by openstacksdk's config loader, after `cloudfiles` has checked those files, and authenticated by
keystoneauth, so every auth type they support works (password, application credential, token,
federated plugins) and no parser of ours stands in between.

What we take over from the libraries, and why:

- The region. openstacksdk treats a cloud's `region_name`/`regions` as the only regions it has;
  for us they are the default, and the service catalog decides which regions exist, so the image
  endpoint is picked from the catalog here.
- The token's life. keystoneauth authenticates again whenever a token has less than two minutes
  left (every call, with short-lived tokens or a clock that is ahead of Keystone's). Here one
  authentication per side is kept and reused until shortly before its end, measured by its own
  lifetime (`expires_at - issued_at`, both Keystone's clock) from when it arrived, or until Glance
  refuses it (401); one renewal at a time, shared by every request that saw the same stale token.
- The transport. TLS and timeout values given for the run reach Keystone as they reach Glance,
  and each Keystone failure is one line: no library log line, no connection-pool text, never
  Keystone's answer body (a 400 may quote the password it was sent).

keystoneauth is synchronous: it runs in a worker thread, never on the event loop, and only to
obtain tokens and endpoints; image data never goes through it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import functools
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from replicator.model.errors import ErrorKind, RunError
from replicator.model.untrusted import without_userinfo
from replicator.openstack.cloudfiles import CloudFiles, Warn, find_cloud_files

LOG = logging.getLogger(__name__)

#: Renew a Keystone token this long before its end, so no request carries a dying one
#: (at most half its lifetime, for short-lived tokens).
RENEW_AHEAD = datetime.timedelta(seconds=30)

#: The environment's cloud, in messages (openstacksdk calls it "envvars"; users never do).
ENVIRONMENT_CLOUD = "the cloud in the OS_* variables"


@dataclass(frozen=True)
class CloudChoice:
    """Which cloud, region and interface one side uses; None where the user said nothing."""

    cloud: str | None
    region: str | None = None
    interface: str | None = None
    #: Where the cloud was named (a command-line option, passed in as data, or an
    #: environment variable), for messages.
    option: str = "--os-cloud"


def resolve_choice(cloud: str | None, region: str | None, interface: str | None, option: str) -> CloudChoice | None:
    """The caller's values win over the environment (`OS_CLOUD`, `OS_REGION_NAME`,
    `OS_INTERFACE`), which wins over the cloud's own `region_name`/`regions` and `interface`
    (applied by `KeystoneAuth`).

    No cloud named and no `OS_CLOUD`/`OS_AUTH_URL` in the environment: no Keystone at all.
    """
    environ = os.environ
    name = cloud or environ.get("OS_CLOUD") or None
    if name is None and not environ.get("OS_AUTH_URL"):
        return None
    return CloudChoice(
        cloud=name,
        region=region or environ.get("OS_REGION_NAME") or None,
        interface=interface or environ.get("OS_INTERFACE") or None,
        option=option if cloud else "OS_CLOUD" if name else "the OS_* variables",
    )


@dataclass(frozen=True)
class ConnectionSettings:
    """How to reach every server of a run, as the user gave it: each value given wins over the
    cloud's own setting (`verify`/`insecure`, `cacert`, `api_timeout`); None where not given."""

    insecure: bool = False
    cacert: str | None = None
    #: Seconds to connect, and to wait for each answer.
    timeout: float | None = None


@dataclass(frozen=True)
class Project:
    """A project as one Keystone knows it."""

    id: str
    name: str
    domain_id: str | None
    #: The domain's name: two clouds' domains correspond by name (their ids differ).
    domain_name: str | None = None


@dataclass
class _Login:
    """One authentication: the token, its catalog, and when to renew it (time.monotonic)."""

    token: str
    catalog: Any  # keystoneauth1.access.service_catalog.ServiceCatalog
    renew_at: float | None


class KeystoneAuth:
    """Tokens and the image endpoint of one side's cloud."""

    def __init__(
        self,
        choice: CloudChoice,
        connection: ConnectionSettings = ConnectionSettings(),
        *,
        side: str | None = None,
        warn: Warn = lambda message: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.choice = choice
        self._connection = connection
        self._side = side
        self._warn = warn
        self._clock = clock
        self._region: Any = None  # openstack.config.cloud_region.CloudRegion
        self._session: Any = None  # keystoneauth1.session.Session
        self._tls: tuple[bool | str, str | tuple[str, str] | None] = (True, None)
        self._login: _Login | None = None
        self._warned_expired = False
        self._lock = asyncio.Lock()
        #: The region and interface this side's image endpoint was taken from, once `endpoint()`
        #: has run (None when the endpoint was given instead: it may be another Glance).
        self.region: str | None = None
        self.interface: str | None = None
        self._projects: dict[tuple[str, bool], list[Project]] = {}
        self._domains: dict[str, str | None] = {}

    # The interface the transport and connect use.

    async def token(self) -> str | None:
        login = self._login
        if login is None or self._due(login):
            async with self._lock:
                login = self._login
                if login is None or self._due(login):
                    login = await self._run(self._authenticate)
        return login.token

    async def renew(self, refused: str | None) -> str | None:
        async with self._lock:
            login = self._login
            if login is None or login.token == refused:  # nobody has renewed it since that request went out
                login = await self._run(self._authenticate)
        return login.token

    async def endpoint(self) -> str:
        """The image service's URL in this side's region and interface, from the catalog."""
        login = await self._current()
        url = await self._run(lambda: self._image_endpoint(login.catalog))
        auth_url = self.auth_url()
        if urlsplit(auth_url).scheme == "https" and urlsplit(url).scheme == "http":
            self._warn(
                f"{self._where()}: Keystone at {auth_url} is reached over https but lists the plain-http "
                f"image endpoint {url}: tokens and image data will travel to it unencrypted"
            )
        return url

    async def tls(self) -> tuple[bool | str, str | tuple[str, str] | None]:
        """TLS for this side's Glance as the requests library takes it (verify: a bool or a CA
        file; the client certificate), the same as for its Keystone: the user's values where
        given, else the cloud's own `verify`/`insecure`, `cacert`, `cert`/`key`."""
        await self._loaded()
        return self._tls

    # For the commands that need more of Keystone than a token (server-side copies between
    # regions, owners mapped between clouds).

    def auth_url(self) -> str:
        """The URL this side authenticates at, as its settings give it ("" before they are read),
        without any `user:password@` in it: it is shown in messages and `--debug` lines."""
        return without_userinfo(str(getattr(self._session.auth, "auth_url", "") or "")) if self._session else ""

    def keystone_url(self) -> str:
        """Where this side authenticates, without a trailing slash or version: two sides with
        the same one are regions (or projects) of one Keystone. Call after `endpoint()` or `token()`."""
        url = self.auth_url().rstrip("/")
        for suffix in ("/v3", "/v2.0"):
            if url.endswith(suffix):
                url = url[: -len(suffix)]
        return url

    def same_keystone(self, other: KeystoneAuth) -> bool:
        """Whether both sides authenticate at the same Keystone (then one token's catalog knows
        the other side's region)."""
        mine = self.keystone_url()
        return bool(mine) and mine == other.keystone_url()

    async def image_endpoints(self, interface: str | None = None) -> dict[str, str]:
        """The image endpoints this side's token sees, by region, for `interface` (else this
        side's own)."""
        login = await self._current()
        interface = interface or self._interface()
        found = login.catalog.get_endpoints_data(service_type="image", interface=interface).get("image", [])
        return {endpoint.region_name or "": endpoint.catalog_url for endpoint in found}

    async def projects(self, name_or_id: str, *, by_name: bool = False) -> list[Project]:
        """The projects of this side's Keystone that have this id, or else this name (one per
        domain that has it), each with its domain's name; an empty list when none. `by_name`: a
        name, never asked for as an id. Needs the right to list projects (admin). Answers are
        kept: each name is asked for once per run."""
        key = (name_or_id, by_name)
        if key not in self._projects:
            login = await self._current()
            try:
                found = await self._run(lambda: self._lookup_projects(login, name_or_id, by_name))
            except RunError as exc:
                if exc.status != 401:
                    raise
                await self.renew(login.token)  # revoked early: once more with a new token
                current = await self._current()
                found = await self._run(lambda: self._lookup_projects(current, name_or_id, by_name))
            self._projects[key] = found
        return self._projects[key]

    # Bookkeeping on the event loop.

    async def _current(self) -> _Login:
        await self.token()
        assert self._login is not None
        return self._login

    async def _loaded(self) -> None:
        if self._session is None:
            async with self._lock:
                if self._session is None:
                    await self._run(self._load)

    def _due(self, login: _Login) -> bool:
        return login.renew_at is not None and self._clock() >= login.renew_at

    async def _run(self, work: Callable[[], Any]) -> Any:
        """`work` (keystoneauth and openstacksdk block) in a thread of its own, which the run does
        not wait for when it is cancelled: a stop signal during a slow Keystone answer ends the
        run now, not when Keystone answers (43 s measured; Kubernetes grants 30)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def settle(outcome: Callable[[], None]) -> None:
            if not future.done():
                outcome()

        def thread() -> None:
            try:
                result = work()
            except BaseException as exc:  # handed to the awaiting task, raised there
                error = exc
                loop.call_soon_threadsafe(settle, lambda: future.set_exception(error))
            else:
                loop.call_soon_threadsafe(settle, lambda: future.set_result(result))

        # A daemon thread: neither asyncio.run's executor shutdown nor the interpreter's exit waits.
        threading.Thread(target=thread, name="keystone", daemon=True).start()
        return await future

    # What follows runs in a worker thread.

    def _load(self) -> Any:
        """openstacksdk's view of the cloud, and a keystoneauth session for it."""
        if self._session is not None:
            return self._session
        from keystoneauth1 import exceptions as ksa
        from keystoneauth1 import session as ksa_session
        from openstack.config import OpenStackConfig
        from openstack.config.exceptions import OpenStackConfigException

        _quiet_libraries()
        try:
            files = find_cloud_files(self._warn)
        except RunError as exc:
            raise exc.again(side=self._side) from exc
        try:
            config = OpenStackConfig(
                app_name="replicator",
                config_files=[files.clouds] if files.clouds else [],
                secure_files=[files.secure] if files.secure else [],
                vendor_files=[],
            )
            if self.choice.cloud is not None and self.choice.cloud not in config.get_cloud_names():
                raise self._unknown_cloud(files)
            self._region = self._cloud_region(config)
            verify, cert = self._region.get_requests_verify_args()
            given = self._connection
            timeout = given.timeout if given.timeout is not None else self._region.config.get("api_timeout")
            timeout = float(timeout) if timeout else None
        except OpenStackConfigException as exc:
            raise self._error(_first_line(exc), ErrorKind.INPUT) from exc
        except ksa.ClientException as exc:
            raise self._keystone_error(exc) from exc
        except (TypeError, AttributeError, ValueError, KeyError) as exc:
            # A shape cloudfiles does not check that the loader cannot take.
            where = " and ".join(path for path in (files.clouds, files.secure) if path) or "the OS_* variables"
            raise self._error(
                f"the settings in {where} cannot be used ({type(exc).__name__})", ErrorKind.INPUT
            ) from exc
        if given.insecure:
            verify = False
        elif given.cacert:
            verify = given.cacert
        self._tls = (True if verify is None else verify), cert
        self._session = ksa_session.Session(
            auth=self._region.get_auth(),
            verify=self._tls[0],
            cert=cert,
            timeout=timeout,
            app_name="replicator",
        )
        return self._session

    def _cloud_region(self, config: Any) -> Any:
        """The cloud's settings at its own default region.

        The region the user chose is asked for first, so settings the cloud gives for that region
        (`regions: [{name, values}]`) apply; a region the cloud does not list is no error here
        (openstacksdk would refuse it): the catalog decides whether it exists.
        """
        from openstack.config.exceptions import OpenStackConfigException

        if self.choice.region:
            try:
                return config.get_one(cloud=self.choice.cloud, region_name=self.choice.region)
            except OpenStackConfigException:
                pass  # not a region this cloud lists: load it at its default, as below
        return config.get_one(cloud=self.choice.cloud)

    def _authenticate(self) -> _Login:
        """One authentication; the only place a token is asked for."""
        from keystoneauth1 import exceptions as ksa

        session = self._load()
        received = self._clock()
        try:
            access = session.auth.get_auth_ref(session)
        except ksa.ClientException as exc:
            raise self._keystone_error(exc) from exc
        token = getattr(access, "auth_token", None)
        if not token:
            raise self._error("Keystone gave no token", ErrorKind.AUTH)
        login = _Login(token=token, catalog=access.service_catalog, renew_at=self._renew_at(access, received))
        self._login = login
        LOG.debug("%s: authenticated at %s", self._where(), self.auth_url())
        return login

    def _renew_at(self, access: Any, received: float) -> float | None:
        """When to renew, on our monotonic clock: shortly before the token's own lifetime has
        passed since it arrived. Keystone's clock and ours need not agree; a token that looks
        expired by ours is said once, and used until Glance refuses it."""
        expires = getattr(access, "expires", None)
        issued = getattr(access, "issued", None)
        if expires is None:
            return None
        now = datetime.datetime.now(datetime.UTC)
        if expires <= now and not self._warned_expired:
            self._warned_expired = True
            self._warn(
                f"{self._where()}: Keystone's token arrived already expired by this machine's clock "
                f"(it says {expires:%Y-%m-%d %H:%M:%S} UTC): the clocks disagree; it is used until "
                "Glance refuses it"
            )
        if issued is None or expires <= issued:
            return None
        lifetime = (expires - issued).total_seconds()
        return received + lifetime - min(RENEW_AHEAD.total_seconds(), lifetime / 2)

    def _interface(self) -> str:
        return self.choice.interface or self._region.get_interface("image") or "public"

    def _image_endpoint(self, catalog: Any) -> str:
        """This side's image endpoint: the region the user chose (else the cloud's default) and
        interface, from the catalog; an error naming what the catalog has instead."""
        interface = self._interface()
        region = self.choice.region or self._region.region_name or None
        everywhere = catalog.get_endpoints_data(service_type="image").get("image", [])
        if not everywhere:
            raise self._error("no image endpoint in the catalog: this cloud lists no Glance", ErrorKind.NOT_FOUND)
        usable = [e for e in everywhere if e.interface == interface]
        regions = sorted({e.region_name or "" for e in usable} - {""})
        if region is None and len({e.region_name for e in usable}) > 1:
            raise self._error(
                f"the catalog has {interface} image endpoints in several regions "
                f"({', '.join(regions)}): name the region",
                ErrorKind.INPUT,
            )
        chosen = [e for e in usable if region is None or e.region_name == region]
        if chosen:
            self.region, self.interface = chosen[0].region_name or region, interface
            return str(chosen[0].catalog_url)
        others = sorted({e.interface for e in everywhere if region is None or e.region_name == region})
        if others:
            place = f" in region {region!r}" if region else ""
            raise self._error(
                f"no {interface} image endpoint in the catalog{place} (it has: {', '.join(others)})",
                ErrorKind.NOT_FOUND,
            )
        every_region = sorted({e.region_name or "" for e in everywhere} - {""})
        raise self._error(
            f"region {region!r} not found for the image service (the catalog has it in: {', '.join(every_region)})",
            ErrorKind.NOT_FOUND,
        )

    def _lookup_projects(self, login: _Login, name_or_id: str, by_name: bool) -> list[Project]:
        base = self._identity_url(login.catalog)
        if not by_name:
            by_id = self._identity_get(login, f"{base}/projects/{quote(name_or_id, safe='')}")
            if by_id.status_code == 200:
                return [self._with_domain(login, base, _project(_json(by_id).get("project")))]
            if by_id.status_code not in (403, 404):  # 403: may list by name, not read by id
                raise self._status_error(by_id.status_code, "look a project up")
        by_name_answer = self._identity_get(login, f"{base}/projects", {"name": name_or_id})
        if by_name_answer.status_code != 200:
            raise self._status_error(by_name_answer.status_code, "list projects")
        listed = _json(by_name_answer).get("projects")
        if not isinstance(listed, list):
            raise self._error("Keystone's list of projects is not a list", ErrorKind.PROTOCOL)
        return [self._with_domain(login, base, _project(entry)) for entry in listed]

    def _with_domain(self, login: _Login, base: str, project: Project) -> Project:
        """`project` with its domain's name (None where Keystone does not say), asked once a domain."""
        domain = project.domain_id
        if domain is None:
            return project
        if domain not in self._domains:
            answer = self._identity_get(login, f"{base}/domains/{quote(domain, safe='')}")
            entry = _json(answer).get("domain") if answer.status_code == 200 else None
            name = entry.get("name") if isinstance(entry, dict) else None
            self._domains[domain] = name if isinstance(name, str) else None
        return dataclasses.replace(project, domain_name=self._domains[domain])

    def _identity_get(self, login: _Login, url: str, params: dict[str, str] | None = None) -> Any:
        """A GET to the identity API with this side's token (never keystoneauth's own, which it
        would renew on its own schedule)."""
        from keystoneauth1 import exceptions as ksa

        try:
            return self._session.get(
                url,
                params=params,
                authenticated=False,
                raise_exc=False,
                headers={"X-Auth-Token": login.token, "Accept": "application/json"},
            )
        except ksa.ClientException as exc:
            raise self._keystone_error(exc) from exc

    def _identity_url(self, catalog: Any) -> str:
        """The v3 identity API: the catalog's, else the URL this side authenticated at."""
        found = catalog.get_endpoints_data(service_type="identity", interface=self._interface()).get("identity", [])
        url = (found[0].catalog_url if found else self.keystone_url()).rstrip("/")
        return url if url.endswith("/v3") else url + "/v3"

    # Errors: one line each, with the kind and the side as fields.

    def _unknown_cloud(self, files: CloudFiles) -> RunError:
        if files.clouds is None:
            return self._error(f"Cloud {self.choice.cloud} was not found: {files.describe()}", ErrorKind.INPUT)
        known = f"it has: {', '.join(files.names)}" if files.names else "it names no cloud"
        return self._error(f"Cloud {self.choice.cloud} was not found in {files.clouds}; {known}", ErrorKind.INPUT)

    def _keystone_error(self, exc: Exception) -> RunError:
        from keystoneauth1 import exceptions as ksa

        url = self.auth_url() or "Keystone"
        if isinstance(exc, ksa.Unauthorized):
            places = "the OS_* variables" if self.choice.cloud is None else "clouds.yaml / secure.yaml"
            return self._error(
                f"Keystone refused the credentials (401): check the user, password or "
                f"application credential in {places}",
                ErrorKind.AUTH,
                status=401,
            )
        if isinstance(exc, ksa.HttpError):
            # Never exc's text: it carries Keystone's answer, which may quote what it was sent.
            return self._status_error(exc.http_status or 0, "authenticate")
        if isinstance(exc, ksa.MissingRequiredOptions):
            names = ", ".join(option.dest for option in exc.options)
            return self._error(f"the auth settings lack {names}", ErrorKind.INPUT)
        if isinstance(exc, ksa.SSLError):
            return self._error(
                f"the certificate of Keystone at {url} is not trusted ({_root_reason(exc)}); "
                "trust its CA (the cloud's cacert), or skip the check",
                ErrorKind.CERTIFICATE,
            )
        if isinstance(exc, ksa.ConnectTimeout):
            limit = self._session.timeout if self._session is not None else None
            within = f" within {limit:g} s" if limit else " in time"
            return self._error(f"Keystone at {url} did not answer{within}", ErrorKind.TRANSPORT)
        if isinstance(exc, ksa.ConnectionError):
            return self._error(f"cannot reach Keystone at {url}: {_root_reason(exc)}", ErrorKind.TRANSPORT)
        if isinstance(exc, ksa.DiscoveryFailure):
            return self._error(
                f"Keystone at {url} offers no identity API version this tool can use: is auth_url right?",
                ErrorKind.PROTOCOL,
            )
        if isinstance(exc, ksa.EndpointNotFound):
            return self._error(_first_line(exc), ErrorKind.NOT_FOUND)
        if isinstance(exc, ksa.NoMatchingPlugin):
            return self._error(f"unknown auth_type: {_first_line(exc)}", ErrorKind.INPUT)
        return self._error(f"Keystone: {type(exc).__name__}", ErrorKind.SERVER)

    def _status_error(self, status: int, what: str) -> RunError:
        url = self.auth_url() or "Keystone"
        reason = _REASONS.get(status, "")
        answered = f"Keystone at {url} answered {status} {reason}".rstrip() + f" when asked to {what}"
        if status == 400:
            return self._error(
                f"{answered}: a value in the auth settings is malformed (a password must be text)",
                ErrorKind.AUTH,
                status=status,
            )
        if status == 403:
            return self._error(f"{answered}: these credentials may not do this", ErrorKind.FORBIDDEN, status=status)
        if status == 404:
            return self._error(f"{answered}: is auth_url right?", ErrorKind.NOT_FOUND, status=status)
        return self._error(answered, status=status)

    def _error(self, message: str, kind: ErrorKind | None = None, *, status: int | None = None) -> RunError:
        return RunError(f"{self._where()}: {message}", kind=kind, status=status, side=self._side)

    def _where(self) -> str:
        if self.choice.cloud is None:
            return ENVIRONMENT_CLOUD
        return f"cloud {self.choice.cloud!r} ({self.choice.option})"


_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _json(response: Any) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise RunError("Keystone answered something that is not a JSON object", kind=ErrorKind.PROTOCOL)
    return answer


def _project(entry: Any) -> Project:
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
        raise RunError("Keystone answered a project without an id", kind=ErrorKind.PROTOCOL)
    return Project(id=entry["id"], name=str(entry.get("name", "")), domain_id=entry.get("domain_id"))


@functools.cache
def _quiet_libraries() -> None:
    """The libraries' log lines and warnings stay out of the terminal: each failure reaches the
    user once, as our own one-line error. Their log records would otherwise reach Python's
    last-resort handler on stderr (they have no handler of their own); their warnings repeat
    what the user chose (an unverified request under --insecure, a cacert unused with verify off)."""
    for name in ("keystoneauth", "keystoneauth1", "openstack", "stevedore"):
        logging.getLogger(name).addHandler(logging.NullHandler())
    warnings.filterwarnings("ignore", module=r"(openstack|keystoneauth1|urllib3)(\.|$)")


def _root_reason(exc: BaseException) -> str:
    """The innermost cause of a connection failure ("Connection refused", "self-signed
    certificate"), found down the chain of wrapped errors (keystoneauth wraps requests, which
    wraps urllib3's connection pool, which wraps the socket's), without their wrapping text."""
    import ssl

    reason: str | None = None
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return current.verify_message or "certificate verify failed"
        if isinstance(current, OSError) and current.strerror:
            reason = current.strerror
        pending += [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
    return reason or type(exc).__name__


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
