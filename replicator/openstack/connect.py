"""From what the user said about one side of a run to an open image store.

The CLI gathers the options that name and reach one Glance (its SERVER argument, token,
certificates, API version, cloud) into a `Side`; `open_glance` turns a side
into a store. Everything about choosing an API version or obtaining credentials lives behind
this one call, so the commands never change when a new way to reach a Glance is added.

Whether a v2 target fetches images from the source's region itself (`server_side_copy`) is
decided here, before its store is made, and given to it as its `PullSource`: nothing switches a
store on from outside afterwards. What that asks of the two sides' token sources is a
capability (`auth.CatalogTokens`: a cloud's tokens know their Keystone, region and endpoints).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from replicator.model.errors import ErrorKind, ImageError, ReplicatorError, RunError
from replicator.model.settings import Settings
from replicator.model.vocabulary import ApiVersion, Role, UploadMethod
from replicator.openstack.auth import CatalogTokens, KeystoneAuth, same_keystone
from replicator.openstack.cloud import CloudChoice, ConnectionSettings, resolve_choice
from replicator.openstack.endpoints import parse_server, same_base
from replicator.stores.base import ImageStore

# The Glance stores (and aiohttp with them: a quarter of a second of CPU, most of it the two SSL
# contexts aiohttp.connector builds at import) load when a store is opened, not with the
# command line: `--help`, `--version` and a run refused for its options never pay for them.
if TYPE_CHECKING:
    import ssl

    from replicator.model.token_source import TokenSource
    from replicator.stores.glance.transport import Transport
    from replicator.stores.glance.v2 import PullSource

LOG = logging.getLogger("replicator.connect")

T = TypeVar("T")

#: A SERVER argument that means "the image endpoint in the cloud's service catalog".
FROM_CATALOG = "-"


@dataclass(frozen=True)
class Side:
    """How to reach the Glance on one side of a run (the source or the target)."""

    #: The SERVER argument as typed: host:port, http(s)://host[:port][/prefix], or "-" (or
    #: None) for the image endpoint in the service catalog of the side's cloud.
    server: str | None
    token: str | None = None
    insecure: bool = False
    cacert: str | None = None
    #: 1, 2, or auto: ask the server (`GET /versions`) and prefer v2.
    api_version: ApiVersion = ApiVersion.AUTO
    #: A cloud of clouds.yaml (else OS_CLOUD, else the OS_* variables), its region and interface.
    cloud: str | None = None
    region: str | None = None
    interface: str | None = None
    #: An image endpoint that overrides the catalog's, as an explicit SERVER does.
    endpoint: str | None = None
    #: The option that names this side's cloud, for messages ("--source-cloud").
    cloud_option: str = "--os-cloud"
    #: Source or target in a run between two Glances: the `side` of this side's errors.
    role: Role | None = None
    #: The command-line argument that names this side's server ("TARGET"), for messages.
    argument: str = "SERVER"

    def check(self) -> str | None:
        """The parsed base URL if one was given (None: from the catalog); RunError for an address
        that cannot be a Glance's, or for a side that names neither a server nor a cloud."""
        if self.api_version not in API_VERSIONS:
            raise RunError(
                f"API version must be one of {', '.join(API_VERSIONS)}, not {str(self.api_version)!r}",
                kind=ErrorKind.INPUT,
                side=self.role,
            )
        explicit = self.endpoint or (self.server if self.server not in (None, FROM_CATALOG) else None)
        if explicit is not None:
            try:
                return parse_server(explicit)
            except RunError as exc:
                raise exc.again(side=self.role) from exc
        if self.token is not None or self.cloud_choice() is None:
            raise RunError(
                f"the {self.argument} argument is missing: name {self._whose()} Glance (host:port or a URL), "
                f"or a cloud ({self.cloud_option}, OS_CLOUD) whose catalog lists it",
                kind=ErrorKind.INPUT,
                side=self.role,
            )
        return None

    def same_glance(self, other: Side) -> bool:
        """Whether both sides name one Glance, as far as can be told without asking anything:
        the same address in any spelling (`host:9292`, `http://HOST:9292/v2`), or the same
        cloud, region and interface. Call `check()` on both first."""
        mine, theirs = self.check(), other.check()
        if mine is not None and theirs is not None:
            return same_base(mine, theirs)
        if mine is not None or theirs is not None:
            return False
        first, second = self.cloud_choice(), other.cloud_choice()
        if first is None or second is None:
            return False
        return (first.cloud, first.region, first.interface) == (second.cloud, second.region, second.interface)

    def _whose(self) -> str:
        return f"the {self.role}" if self.role else "the"

    def cloud_choice(self) -> CloudChoice | None:
        return resolve_choice(self.cloud, self.region, self.interface, self.cloud_option)


API_VERSIONS = tuple(ApiVersion)


def print_warning(message: str) -> None:
    """A warning is one line on stderr, shown while the run goes on."""
    printable = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
    print(f"replicator: warning: {printable}", file=sys.stderr)


async def open_glance(
    side: Side,
    settings: Settings,
    warn: Callable[[str], None] = print_warning,
    auth: TokenSource | None = None,
    pull_from: TokenSource | None = None,
) -> ImageStore:
    """A store for the Glance `side` names; call `check()` on every side first, so that a
    typo in the second argument is reported before any connection is made.

    A token given by the user is used as is; otherwise a cloud (named, or from the
    environment) supplies renewable tokens and, when no server is given, the endpoint.
    `--insecure`, `--cacert` and the timeout reach that cloud's Keystone as they reach Glance.
    `auth` is the side's token source when the caller needs it too (`side_auth`: to ask a
    cloud's Keystone more than a token); else one is made here.
    Every error raised says which side it belongs to (`side`), when the side has a role.

    `pull_from` is the source's token source, for a target that may fetch the source's images
    itself (`server_side_copy`): a v2 store is made knowing whether it does.
    """
    from replicator.stores.glance.v1 import GlanceV1Store
    from replicator.stores.glance.v2 import GlanceV2Store

    auth = auth or side_auth(side, settings, warn)
    try:
        http, version = await _open(side, settings, auth)
    except ReplicatorError as exc:
        if exc.side is None and side.role is not None:
            raise exc.again(side=side.role) from exc
        raise
    try:
        source = None
        if pull_from is not None:
            source = await server_side_copy(http if version == ApiVersion.V2 else None, pull_from, auth, settings)
    except BaseException:
        await http.close()
        raise
    return (
        GlanceV1Store(http, settings) if version == ApiVersion.V1 else GlanceV2Store(http, settings, pull_from=source)
    )


async def _open(side: Side, settings: Settings, auth: TokenSource) -> tuple[Transport, ApiVersion]:
    from replicator.model.retry import with_retries  # asyncio with it: not for --help

    url = side.check()
    if url is None:  # check() let it through: a cloud is named, whose catalog has the endpoint
        if not isinstance(auth, CatalogTokens):
            raise RunError("no server given, and no cloud to find one in", kind=ErrorKind.INPUT, side=side.role)
        url = parse_server(await auth.endpoint())
    http = transport_for(url, settings, await _ssl_context(side, auth), auth, side.role)
    version = side.api_version
    if version == ApiVersion.AUTO:
        try:
            version = await with_retries(lambda: _first_contact(discover_version(http)), settings.retries)
        except ImageError as exc:
            await http.close()
            raise exc.as_run_error() from exc
        except BaseException:
            await http.close()
            raise
    return http, version


async def _first_contact(asked: Awaitable[T]) -> T:
    """The first request to a side: a refused connection there is an address where no server
    runs, not worth the back-off that a server refusing mid-run (restarting) is worth."""
    try:
        return await asked
    except ImageError as exc:
        if exc.kind == ErrorKind.REFUSED:
            raise exc.again(retryable=False) from exc
        raise


async def read_settings(*auths: TokenSource) -> None:
    """Each cloud's settings read (clouds.yaml, secure.yaml, OS_*), which contacts nothing: an
    unknown cloud name or an unusable file on either side is said before any Keystone or Glance
    is asked anything."""
    for auth in auths:
        if isinstance(auth, CatalogTokens):
            await auth.tls()


def transport_for(
    url: str, settings: Settings, ssl_context: ssl.SSLContext | bool, auth: TokenSource | None, role: str | None
) -> Transport:
    """The transport to one Glance, sized for this run: room for the walk's member lookups
    (`engine.run.LOOKUPS`) as well as the transfers, reads of about a chunk at a time."""
    from replicator.stores.glance.transport import Transport

    return Transport(
        url,
        timeout=settings.timeout,
        connections=max(36, settings.concurrency * 2 + 4),
        read_bufsize=max(2**16, min(settings.chunk_size, 4 * 2**20)),
        ssl_context=ssl_context,
        auth=auth,
        side=role,
    )


def side_auth(side: Side, settings: Settings, warn: Callable[[str], None] = print_warning) -> TokenSource:
    """Where one side's tokens come from: the token the user gave, else the side's cloud."""
    choice = None if side.token is not None else side.cloud_choice()
    if choice is None:
        from replicator.model.token_source import StaticToken

        return StaticToken(side.token)
    connection = ConnectionSettings(insecure=side.insecure, cacert=side.cacert, timeout=settings.timeout)
    return KeystoneAuth(choice, connection, side=side.role, warn=warn)


async def _ssl_context(side: Side, auth: TokenSource) -> ssl.SSLContext | bool:
    """`--insecure`/`--cacert` where given (else `OS_CACERT`); for a cloud, each setting not given on the command
    line comes from its clouds.yaml, so a private CA or client certificate written there once
    serves Keystone and Glance alike."""
    from replicator.stores.glance.transport import make_ssl_context

    if not isinstance(auth, CatalogTokens):
        # A URL and a token: OS_CACERT still names the CA, as it does for the OpenStack clients.
        return make_ssl_context(side.insecure, side.cacert or os.environ.get("OS_CACERT") or None)
    verify, client_cert = await auth.tls()
    return make_ssl_context(verify is False, verify if isinstance(verify, str) else None, client_cert)


#: Where an image endpoint usually lives, for the advice given when a URL is no Glance.
_USUAL_ENDPOINTS = "the image endpoint usually ends in :9292 or /image"


async def discover_version(http: Transport) -> ApiVersion:
    """ "2" when the server offers v2 (every Glance since 2018), else "1" if it offers v1."""
    from replicator.stores.glance.transport import api_path

    try:
        answer = await http.json(
            "GET", api_path("versions"), expected=(200, 300), what="ask which API versions it serves"
        )
    except ImageError as exc:
        if exc.status == 404:
            raise RunError(
                f"{http.base_url}/ answered 404 to GET /versions: not a Glance endpoint? {_USUAL_ENDPOINTS}",
                kind=ErrorKind.NOT_FOUND,
                status=404,
            ) from exc
        raise
    listed = answer.get("versions") if isinstance(answer, dict) else None
    ids = [str(v.get("id", "")) for v in listed if isinstance(v, dict)] if isinstance(listed, list) else []
    for major in (ApiVersion.V2, ApiVersion.V1):
        if any(i.startswith(f"v{major}") for i in ids):
            return major
    raise RunError(
        f"{http.base_url} lists no Glance API version this tool speaks (v1, v2) at /versions; "
        f"is it a Glance endpoint? ({_USUAL_ENDPOINTS}; naming the API version skips the question)",
        kind=ErrorKind.PROTOCOL,
    )


async def server_side_copy(
    target: Transport | None, source_auth: TokenSource, target_auth: TokenSource, settings: Settings
) -> PullSource | None:
    """Where a v2 target (reached through `target`; None: not a v2) may fetch images from the source's region
    itself (`glance-download`): the data then never crosses this machine. None: it streams.

    `--upload-method glance-download` asks for it and is refused (exit 2, saying why) where it
    cannot be; `auto` takes it where it can, and streams otherwise, as between any two Glances."""
    from replicator.stores.glance.v2 import PullSource

    if settings.upload_method not in (UploadMethod.AUTO, UploadMethod.GLANCE_DOWNLOAD):
        return None
    try:
        source = await _pull_source(target, source_auth, target_auth, settings)
    except ReplicatorError as exc:
        raise exc.as_run_error() from exc
    if isinstance(source, PullSource):
        return source
    if settings.upload_method == UploadMethod.GLANCE_DOWNLOAD:
        raise RunError(f"--upload-method glance-download cannot be used here: {source}", kind=ErrorKind.UNSUPPORTED)
    LOG.debug("images are streamed, not fetched by the target itself: %s", source)
    return None


async def _pull_source(
    target: Transport | None, source_auth: TokenSource, target_auth: TokenSource, settings: Settings
) -> PullSource | str:
    """Where the target can fetch the source's images from itself, or why it cannot.

    Glance's `glance-download` looks the source region's image endpoint up in the service catalog
    of the caller's token, and fetches with that token: both sides must be regions of one
    Keystone, and the Glance it finds there must be the one this run reads (a source given by
    its address may be another: verifying against its records would then deactivate good copies).
    """
    from replicator.stores.glance.v2 import PullSource, import_methods

    if target is None:
        return "the target is not a Glance v2"
    source_cloud, target_cloud = source_auth, target_auth
    if not (isinstance(source_cloud, CatalogTokens) and isinstance(target_cloud, CatalogTokens)):
        return "both sides need a cloud (clouds.yaml or OS_* variables), whose Keystone the target asks too"
    if not same_keystone(source_cloud, target_cloud):
        return "the source and the target are not regions of one Keystone"
    region, interface = source_cloud.region, source_cloud.interface
    if region is None or interface is None:
        return "the source must be its cloud's image endpoint from the catalog (no SOURCE server, no --source-endpoint)"
    if region == target_cloud.region:
        return f"the source and the target are both in region {region}"
    reads = (await source_cloud.image_endpoints(interface)).get(region)
    sees = (await target_cloud.image_endpoints(interface)).get(region)
    if sees is None or sees != reads:
        return f"the target's token does not list the source's {interface} image endpoint in region {region}"
    if UploadMethod.GLANCE_DOWNLOAD not in await import_methods(target, settings):
        return "the target does not offer the glance-download import (its enabled_import_methods)"
    return PullSource(region, interface)
