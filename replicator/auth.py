"""Tokens and endpoints, from a static `--token` or from Keystone through the OpenStack libraries.

A cloud named with `--source-cloud`/`--target-cloud` (or `OS_CLOUD`) is read from
`clouds.yaml`/`secure.yaml` and the `OS_*` variables by openstacksdk's config loader, and
authenticated by keystoneauth, so every auth type they support works (password, application
credential, token, federated plugins) and no parser of ours stands in between.

keystoneauth is synchronous: it runs in a worker thread, never on the event loop, and only to
obtain tokens and endpoints; image data never goes through it. A token is reused until it is
about to expire, renewed ahead of time, and renewed at once when Glance answers 401 (a token
can be revoked early), with one renewal shared by every request that saw the same stale token.
"""

from __future__ import annotations

import asyncio
import datetime
import os
from dataclasses import dataclass
from typing import Any, Protocol

from replicator.errors import RunError

#: Renew a Keystone token this long before it expires, so no request carries a dying one.
RENEW_AHEAD = datetime.timedelta(seconds=30)


class TokenSource(Protocol):
    """What GlanceHttp asks for a token, and asks again when Glance refuses one (401)."""

    async def token(self) -> str | None:
        """The token to send now."""

    async def renew(self, refused: str | None) -> str | None:
        """A new token after `refused` got a 401; raises RunError if there can be none."""


class StaticToken:
    """A token given on the command line: used as is, and never renewable."""

    def __init__(self, token: str | None, option: str) -> None:
        self._token = token or None
        self._option = option

    async def token(self) -> str | None:
        return self._token

    async def renew(self, refused: str | None) -> str | None:
        if self._token is None:
            raise RunError(f"the server requires a token (401 Unauthorized): give {self._option}, or a cloud")
        raise RunError(
            f"the token given with {self._option} was refused (401 Unauthorized): it has expired or is wrong, "
            "and a static token cannot be renewed; run the same command again with a new token (it goes on "
            "where it stopped), or name a cloud so that tokens are renewed"
        )


@dataclass(frozen=True)
class CloudChoice:
    """Which cloud, region and interface one side uses; None where the user said nothing."""

    cloud: str | None
    region: str | None = None
    interface: str | None = None
    #: Which command-line option named the cloud, for messages.
    option: str = "--os-cloud"


def resolve_choice(cloud: str | None, region: str | None, interface: str | None, option: str) -> CloudChoice | None:
    """Flags win over the environment, which wins over clouds.yaml (applied by the loader).

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


class KeystoneAuth:
    """Tokens and the image endpoint of one cloud, from openstacksdk's config and keystoneauth."""

    def __init__(self, choice: CloudChoice) -> None:
        self.choice = choice
        self._region: Any = None  # openstack.config.cloud_region.CloudRegion
        self._session: Any = None  # keystoneauth1.session.Session
        self._token: str | None = None
        self._expires: datetime.datetime | None = None
        self._lock = asyncio.Lock()

    async def endpoint(self) -> str:
        """The image service's URL from the catalog (authenticating first)."""
        return await asyncio.to_thread(self._endpoint)

    async def tls(self) -> tuple[bool | str, str | tuple[str, str] | None]:
        """The cloud's own TLS settings (`verify`/`insecure`, `cacert`, `cert`/`key`), as the
        requests library takes them: the same CA and client certificate that reach Keystone
        reach its Glance."""

        def settings() -> tuple[bool | str, str | tuple[str, str] | None]:
            self._load()
            verify, cert = self._region.get_requests_verify_args()
            return (True if verify is None else verify), cert

        return await asyncio.to_thread(settings)

    async def token(self) -> str | None:
        if self._token is None or self._expiring():
            async with self._lock:
                if self._token is None or self._expiring():
                    self._token, self._expires = await asyncio.to_thread(self._authenticate, False)
        return self._token

    async def renew(self, refused: str | None) -> str | None:
        async with self._lock:
            if self._token == refused:  # nobody has renewed it since that request went out
                self._token, self._expires = await asyncio.to_thread(self._authenticate, True)
        return self._token

    def _expiring(self) -> bool:
        now = datetime.datetime.now(datetime.timezone.utc)
        return self._expires is not None and self._expires - RENEW_AHEAD <= now

    # What follows runs in a worker thread.

    def _load(self) -> Any:
        if self._session is None:
            from openstack.config import OpenStackConfig
            from openstack.config.exceptions import OpenStackConfigException
            from keystoneauth1 import exceptions as ksa

            options: dict[str, Any] = {}
            if self.choice.region:
                options["region_name"] = self.choice.region
            if self.choice.interface:
                options["interface"] = self.choice.interface
            try:
                self._region = OpenStackConfig(app_name="replicator").get_one(cloud=self.choice.cloud, **options)
                self._session = self._region.get_session()
            except OpenStackConfigException as exc:
                raise RunError(f"cloud {self.choice.cloud!r} ({self.choice.option}): {_first_line(exc)}") from None
            except ksa.ClientException as exc:
                raise self._keystone_error(exc) from None
        return self._session

    def _authenticate(self, fresh: bool) -> tuple[str, datetime.datetime | None]:
        from keystoneauth1 import exceptions as ksa

        session = self._load()
        try:
            if fresh:
                session.invalidate()
            token = session.get_token()
            access = session.auth.get_auth_ref(session)
        except ksa.ClientException as exc:
            raise self._keystone_error(exc) from None
        if not token:
            raise RunError(f"{self._where()}: Keystone gave no token")
        return token, getattr(access, "expires", None)

    def _endpoint(self) -> str:
        from keystoneauth1 import exceptions as ksa

        self._authenticate(False)
        session = self._session
        interface = self.choice.interface or self._region.get_interface("image") or "public"
        region = self._region.get_region_name("image") or None
        try:
            url = session.get_endpoint(service_type="image", interface=interface, region_name=region)
        except ksa.EndpointNotFound:
            url = None  # told apart below: no Glance at all, or not in that region or interface
        except ksa.ClientException as exc:
            raise self._keystone_error(exc) from None
        if url:
            return str(url)
        regions = self._image_regions()
        if region and regions:
            raise RunError(f"{self._where()}: region {region!r} not found for the image service "
                           f"(the catalog has it in: {', '.join(sorted(regions))})")
        if regions:
            raise RunError(f"{self._where()}: no {interface} image endpoint in the catalog (try --os-interface)")
        raise RunError(f"{self._where()}: no image endpoint in the catalog: this cloud lists no Glance")

    def _image_regions(self) -> set[str]:
        access = self._session.auth.get_auth_ref(self._session)
        endpoints = access.service_catalog.get_endpoints(service_type="image")
        return {e.get("region_id") or e.get("region") or "" for found in endpoints.values() for e in found} - {""}

    def _keystone_error(self, exc: Exception) -> RunError:
        from keystoneauth1 import exceptions as ksa

        where = self._where()
        if isinstance(exc, ksa.Unauthorized):
            return RunError(f"{where}: Keystone refused the credentials (401): check the user, password or "
                            "application credential in clouds.yaml / secure.yaml")
        if isinstance(exc, ksa.MissingRequiredOptions):
            names = ", ".join(option.dest for option in exc.options)
            return RunError(f"{where}: the auth settings lack {names}")
        if isinstance(exc, ksa.ConnectFailure):
            return RunError(f"{where}: cannot reach Keystone: {_first_line(exc)}")
        if isinstance(exc, ksa.EndpointNotFound):
            return RunError(f"{where}: {_first_line(exc)}")
        return RunError(f"{where}: Keystone: {type(exc).__name__}: {_first_line(exc)}")

    def _where(self) -> str:
        name = self.choice.cloud or "the cloud in the OS_* variables"
        return f"cloud {name!r} ({self.choice.option})" if self.choice.cloud else name


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
