"""Which cloud a side uses, and that cloud as the OpenStack libraries read it.

A cloud (named, or `OS_CLOUD`, or the `OS_*` variables) is read from `clouds.yaml`/`secure.yaml`
by openstacksdk's config loader, after `cloudfiles` has checked those files, and authenticated by
keystoneauth, so every auth type they support works (password, application credential, token,
federated plugins) and no parser of ours stands in between. TLS and timeout values given for the
run reach Keystone as they reach Glance.

keystoneauth and openstacksdk are synchronous: `load_cloud` runs in a worker thread, never on
the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from replicator.model.errors import ErrorKind, RunError
from replicator.model.untrusted import without_userinfo
from replicator.openstack.cloudfiles import CloudFiles, Warn, find_cloud_files
from replicator.openstack.keystone_errors import KeystoneErrors, first_line

T = TypeVar("T")

#: The environment's cloud, in messages (openstacksdk calls it "envvars"; users never do).
ENVIRONMENT_CLOUD = "the cloud in the OS_* variables"

#: TLS as the requests library takes it: verify (a bool or a CA file), the client certificate.
Tls = tuple[bool | str, str | tuple[str, str] | None]


@dataclass(frozen=True)
class CloudChoice:
    """Which cloud, region and interface one side uses; None where the user said nothing."""

    cloud: str | None
    region: str | None = None
    interface: str | None = None
    #: Where the cloud was named (a command-line option, passed in as data, or an
    #: environment variable), for messages.
    option: str = "--os-cloud"

    def where(self) -> str:
        """This cloud, as messages about it begin."""
        if self.cloud is None:
            return ENVIRONMENT_CLOUD
        return f"cloud {self.cloud!r} ({self.option})"

    def credentials(self) -> str:
        """Where the user keeps this cloud's credentials, for advice."""
        return "the OS_* variables" if self.cloud is None else "clouds.yaml / secure.yaml"


def resolve_choice(cloud: str | None, region: str | None, interface: str | None, option: str) -> CloudChoice | None:
    """The caller's values win over the environment (`OS_CLOUD`, `OS_REGION_NAME`,
    `OS_INTERFACE`), which wins over the cloud's own `region_name`/`regions` and `interface`
    (applied by `load_cloud`).

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
class LoadedCloud:
    """One side's cloud, read: a keystoneauth session and the defaults the side's choice leaves
    to the cloud."""

    session: Any  # keystoneauth1.session.Session
    #: The region to take the image endpoint from (the user's, else the cloud's region_name).
    region: str | None
    #: The interface of the image endpoint (the user's, else the cloud's, else public).
    interface: str
    tls: Tls
    #: Seconds to connect and to wait for each answer (None: the libraries' own).
    timeout: float | None

    @property
    def auth_url(self) -> str:
        """The URL this side authenticates at, as its settings give it, without any
        `user:password@` in it: it is shown in messages and `--debug` lines."""
        return without_userinfo(str(getattr(self.session.auth, "auth_url", "") or ""))

    @property
    def keystone_url(self) -> str:
        """Where this side authenticates, without a trailing slash or version: two sides with
        the same one are regions (or projects) of one Keystone."""
        return keystone_url(self.auth_url)


def keystone_url(auth_url: str) -> str:
    """`auth_url` without a trailing slash or identity API version."""
    url = auth_url.rstrip("/")
    for suffix in ("/v3", "/v2.0"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    return url


def load_cloud(choice: CloudChoice, given: ConnectionSettings, errors: KeystoneErrors, warn: Warn) -> LoadedCloud:
    """openstacksdk's view of the cloud, and a keystoneauth session for it (in a worker thread)."""
    from keystoneauth1 import exceptions as ksa
    from keystoneauth1 import session as ksa_session
    from openstack.config import OpenStackConfig
    from openstack.config.exceptions import OpenStackConfigException

    _quiet_libraries()
    try:
        files = find_cloud_files(warn)
    except RunError as exc:
        raise exc.again(side=errors.side) from exc
    try:
        config = OpenStackConfig(
            app_name="replicator",
            config_files=[files.clouds] if files.clouds else [],
            secure_files=[files.secure] if files.secure else [],
            vendor_files=[],
        )
        if choice.cloud is not None and choice.cloud not in config.get_cloud_names():
            raise _unknown_cloud(choice, files, errors)
        region = _cloud_region(config, choice)
        verify, cert = region.get_requests_verify_args()
        timeout = given.timeout if given.timeout is not None else region.config.get("api_timeout")
        timeout = float(timeout) if timeout else None
        auth = region.get_auth()
        interface = choice.interface or region.get_interface("image") or "public"
    except OpenStackConfigException as exc:
        raise errors.error(first_line(exc), ErrorKind.INPUT) from exc
    except ksa.ClientException as exc:
        raise errors.from_library(exc) from exc
    except (TypeError, AttributeError, ValueError, KeyError) as exc:
        # A shape cloudfiles does not check that the loader cannot take.
        where = " and ".join(path for path in (files.clouds, files.secure) if path) or "the OS_* variables"
        raise errors.error(f"the settings in {where} cannot be used ({type(exc).__name__})", ErrorKind.INPUT) from exc
    if given.insecure:
        verify = False
    elif given.cacert:
        verify = given.cacert
    tls: Tls = (True if verify is None else verify), cert
    session = ksa_session.Session(auth=auth, verify=tls[0], cert=cert, timeout=timeout, app_name="replicator")
    return LoadedCloud(
        session=session,
        region=choice.region or region.region_name or None,
        interface=interface,
        tls=tls,
        timeout=timeout,
    )


async def in_thread(work: Callable[[], T]) -> T:
    """`work` (keystoneauth and openstacksdk block) in a thread of its own, which the run does
    not wait for when it is cancelled: a stop signal during a slow Keystone answer ends the
    run now, not when Keystone answers (43 s measured; Kubernetes grants 30)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

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


def _cloud_region(config: Any, choice: CloudChoice) -> Any:
    """The cloud's settings (openstack.config.cloud_region.CloudRegion) at its own default region.

    The region the user chose is asked for first, so settings the cloud gives for that region
    (`regions: [{name, values}]`) apply; a region the cloud does not list is no error here
    (openstacksdk would refuse it): the catalog decides whether it exists.
    """
    from openstack.config.exceptions import OpenStackConfigException

    if choice.region:
        try:
            return config.get_one(cloud=choice.cloud, region_name=choice.region)
        except OpenStackConfigException:
            pass  # not a region this cloud lists: load it at its default, as below
    return config.get_one(cloud=choice.cloud)


def _unknown_cloud(choice: CloudChoice, files: CloudFiles, errors: KeystoneErrors) -> RunError:
    if files.clouds is None:
        return errors.error(f"Cloud {choice.cloud} was not found: {files.describe()}", ErrorKind.INPUT)
    known = f"it has: {', '.join(files.names)}" if files.names else "it names no cloud"
    return errors.error(f"Cloud {choice.cloud} was not found in {files.clouds}; {known}", ErrorKind.INPUT)


@functools.cache
def _quiet_libraries() -> None:
    """The libraries' log lines and warnings stay out of the terminal: each failure reaches the
    user once, as our own one-line error. Their log records would otherwise reach Python's
    last-resort handler on stderr (they have no handler of their own); their warnings repeat
    what the user chose (an unverified request under --insecure, a cacert unused with verify off)."""
    for name in ("keystoneauth", "keystoneauth1", "openstack", "stevedore"):
        logging.getLogger(name).addHandler(logging.NullHandler())
    warnings.filterwarnings("ignore", module=r"(openstack|keystoneauth1|urllib3)(\.|$)")
