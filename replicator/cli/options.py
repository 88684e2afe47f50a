"""Every option of the command line, declared once, in groups that each build one value.

A group is a frozen dataclass whose fields are options; a command names the groups it takes
as parameters (`def livecopy(..., selection: SelectionOptions, ...)`) and `grouped` shows
Typer each group's options as flat parameters, then hands the body the group objects. So
an option shared by five commands is written once, and a command's body only says what to
build and run (pdm's `ArgumentGroup` and hatch's shared decorators work the same way).

Each option also names the `--help` panel it is listed in.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, get_type_hints

import typer

from replicator.cli import config as config_file
from replicator.cli import parsing
from replicator.model import vocabulary
from replicator.model.selection import Selection
from replicator.model.settings import Settings
from replicator.openstack.connect import API_VERSIONS, Side
from replicator.openstack.projects import ProjectMapping

CONNECTION, SELECTION, TRANSFER, OUTPUT, SAFETY = "Connection", "Selection", "Transfer", "Output", "Safety"
#: The `--help` panels, in the order they are listed.
PANELS = (CONNECTION, SELECTION, TRANSFER, OUTPUT, SAFETY)

#: The defaults of every option that sets a value: written once, in the values themselves
#: (`Settings`, `Side`); the groups below take their defaults from these, Typer shows them in
#: `--help`, and `tests/test_project_files.py` holds `replicator.toml.example` to them.
DEFAULT_SETTINGS = Settings()
DEFAULT_SIDE = Side(None)


def _option(*names: str, panel: str, help: str, **settings: Any) -> Any:
    return typer.Option(*names, rich_help_panel=panel, help=help, **settings)


def _completing(words: tuple[str, ...]) -> Callable[[str], list[str]]:
    """Shell completion for an option with a fixed vocabulary."""

    def complete(incomplete: str) -> list[str]:
        return [word for word in words if word.startswith(incomplete)]

    return complete


# Connection: how each side is reached.
Token = Annotated[
    str | None,
    _option(
        "--token",
        "-t",
        panel=CONNECTION,
        envvar="REPLICATOR_TOKEN",
        help="Token for every server the command reaches (sent as X-Auth-Token); without one, OS_TOKEN where no cloud is named.",
    ),
]
SourceToken = Annotated[
    str | None,
    _option(
        "--sourcetoken",
        panel=CONNECTION,
        envvar="REPLICATOR_SOURCE_TOKEN",
        help="Token for the source server (wins over --token).",
    ),
]
TargetToken = Annotated[
    list[str] | None,
    _option(
        "--targettoken",
        panel=CONNECTION,
        envvar="REPLICATOR_TARGET_TOKEN",
        help="Token for the target server (wins over --token); repeated, one per target, in their order.",
    ),
]
OsCloud = Annotated[
    str | None, _option("--os-cloud", panel=CONNECTION, help="Cloud of clouds.yaml (default: OS_CLOUD).")
]
SourceCloud = Annotated[
    str | None,
    _option("--source-cloud", panel=CONNECTION, help="Cloud of clouds.yaml for the source (wins over --os-cloud)."),
]
TargetCloud = Annotated[
    list[str] | None,
    _option(
        "--target-cloud",
        panel=CONNECTION,
        help="Cloud of clouds.yaml for the target (wins over --os-cloud); repeated: several targets.",
    ),
]
OsRegion = Annotated[
    str | None,
    _option("--os-region-name", panel=CONNECTION, help="Region of the image endpoint (default: OS_REGION_NAME)."),
]
SourceRegion = Annotated[
    str | None, _option("--source-region", panel=CONNECTION, help="Region of the source's image endpoint.")
]
TargetRegion = Annotated[
    list[str] | None,
    _option(
        "--target-region", panel=CONNECTION, help="Region of the target's image endpoint; repeated: several targets."
    ),
]
OsInterface = Annotated[
    str | None,
    _option(
        "--os-interface",
        panel=CONNECTION,
        help="public, internal or admin endpoint (default: OS_INTERFACE, else the cloud's).",
    ),
]
SourceEndpoint = Annotated[
    str | None, _option("--source-endpoint", panel=CONNECTION, help="Source image endpoint, overriding the catalog's.")
]
TargetEndpoint = Annotated[
    list[str] | None,
    _option(
        "--target-endpoint",
        panel=CONNECTION,
        help="Target image endpoint, overriding the catalog's; repeated, one per target.",
    ),
]
ApiVersion = Annotated[
    str,
    _option(
        "--api-version",
        panel=CONNECTION,
        autocompletion=_completing(API_VERSIONS),
        help="Glance API: 1, 2, or auto (ask the server, prefer 2).",
    ),
]
SourceApiVersion = Annotated[
    str | None,
    _option(
        "--source-api-version",
        panel=CONNECTION,
        autocompletion=_completing(API_VERSIONS),
        help="Glance API of the source: 1, 2 or auto.",
    ),
]
TargetApiVersion = Annotated[
    str | None,
    _option(
        "--target-api-version",
        panel=CONNECTION,
        autocompletion=_completing(API_VERSIONS),
        help="Glance API of the target: 1, 2 or auto.",
    ),
]
MapProjects = Annotated[
    Path | None,
    _option(
        "--map-projects",
        panel=CONNECTION,
        help="YAML or JSON file of source project: target project (ids or names): owners and members become the target's.",
    ),
]
MapProjectsByName = Annotated[
    bool,
    _option(
        "--map-projects-by-name",
        panel=CONNECTION,
        help="Owners and members become the target's project of the same name (admin on both Keystones).",
    ),
]
CaCert = Annotated[
    str | None, _option("--cacert", panel=CONNECTION, help="CA bundle to verify https certificates with.")
]
Retries = Annotated[
    int, _option("--retries", panel=CONNECTION, min=0, help="Retries of a failed step (connection lost, 5xx).")
]
Timeout = Annotated[
    float, _option("--timeout", panel=CONNECTION, min=0.1, help="Seconds to connect, and of silence while reading.")
]
# Selection: applied to the source listing before planning.
Include = Annotated[
    list[str] | None,
    _option("--include", panel=SELECTION, help="Only images whose name matches this glob (repeatable)."),
]
Exclude = Annotated[
    list[str] | None,
    _option("--exclude", panel=SELECTION, help="Leave out images whose name matches this glob (repeatable)."),
]
Ids = Annotated[list[str] | None, _option("--id", panel=SELECTION, help="Only this image id (repeatable).")]
IdsFrom = Annotated[
    Path | None,
    _option("--ids-from", panel=SELECTION, help="Only the image ids in this file (one per line, # comments)."),
]
Visibility = Annotated[
    list[str] | None,
    _option(
        "--visibility",
        panel=SELECTION,
        autocompletion=_completing(parsing.VISIBILITIES),
        help=f"Only images of this visibility (repeatable): {', '.join(parsing.VISIBILITIES)}.",
    ),
]
Status = Annotated[
    list[str] | None,
    _option(
        "--status",
        panel=SELECTION,
        autocompletion=_completing(parsing.STATUSES),
        help=f"Only images in this status (repeatable): {', '.join(parsing.STATUSES)}.",
    ),
]
Tags = Annotated[
    list[str] | None, _option("--tag", panel=SELECTION, help="Only images carrying this tag (repeatable: all of them).")
]
Owner = Annotated[str | None, _option("--owner", panel=SELECTION, help="Only images owned by this project id.")]
MinSize = Annotated[
    str | None, _option("--min-size", panel=SELECTION, help="Only images at least this large, e.g. 1G.")
]
MaxSize = Annotated[str | None, _option("--max-size", panel=SELECTION, help="Only images at most this large.")]
OrderBy = Annotated[
    str | None,
    _option(
        "--order-by",
        panel=SELECTION,
        help="size|name|created_at[,desc]; size,desc keeps every connection busy to the end.",
    ),
]
Shard = Annotated[
    str | None,
    _option("--shard", panel=SELECTION, help="K/N: only the images whose id hashes to shard K (0-based) of N."),
]
# Transfer: what is copied, and how fast.
ChunkSize = Annotated[
    str, _option("--chunksize", "-c", panel=TRANSFER, help="Bytes per read and write, 4K to 64M, e.g. 65536, 4M.")
]
Concurrency = Annotated[
    int,
    _option("--concurrency", "-j", panel=TRANSFER, min=1, max=256, help="Images transferred at once: the speed knob."),
]
BwLimit = Annotated[
    str | None, _option("--bwlimit", panel=TRANSFER, help="Bytes per second for all transfers together, e.g. 50M.")
]
MaxTransfer = Annotated[
    str | None,
    _option("--max-transfer", panel=TRANSFER, help="Start no new transfer once this many bytes are copied, e.g. 500G."),
]
MetaOnly = Annotated[
    bool, _option("--metaonly", "-m", panel=TRANSFER, help="Metadata only: no image data is copied or compared.")
]
DontReplicate = Annotated[
    str,
    _option(
        "--dontreplicate", "-D", panel=TRANSFER, help='Space-separated fields not to replicate, e.g. "owner min_ram".'
    ),
]
TargetInjects = Annotated[
    str,
    _option(
        "--target-injects",
        panel=TRANSFER,
        help='Properties the target adds on import (comma- or space-separated, e.g. "site,owner_team"): kept where the source lacks them.',
    ),
]
UploadMethod = Annotated[
    str,
    _option(
        "--upload-method",
        panel=TRANSFER,
        autocompletion=_completing(parsing.UPLOAD_METHODS),
        help="auto | direct (PUT file) | glance-direct (stage + import) | glance-download (the target fetches from the source region; auto uses it where both are regions of one Keystone).",
    ),
]
Store = Annotated[
    list[str] | None,
    _option(
        "--store",
        panel=TRANSFER,
        help="Target store on a multi-store Glance (one of its /v2/info/stores; checked before anything is created).",
    ),
]
# Output: what the operator sees.
Verbose = Annotated[bool, _option("--verbose", "-v", panel=OUTPUT, help="Also log skipped images.")]
Quiet = Annotated[
    bool,
    _option(
        "--quiet",
        "-q",
        panel=OUTPUT,
        help="No bars and no line per image: a progress line every 10 s, failures, the summary.",
    ),
]
Debug = Annotated[
    bool,
    _option("--debug", panel=OUTPUT, help="Log every request (method, URL, status, time; never a token) to stderr."),
]
LogFile = Annotated[
    str | None,
    _option(
        "--log-file",
        panel=OUTPUT,
        help="Also append the log lines (a line per image, retries; with --debug every request) to this file, made 0600.",
    ),
]
LogLevel = Annotated[
    str,
    _option(
        "--log-level",
        panel=OUTPUT,
        autocompletion=_completing(parsing.LOG_LEVELS),
        help="The least level --log-file keeps: DEBUG (every request), INFO (a line per image), WARNING, ERROR, CRITICAL.",
    ),
]
Report = Annotated[
    str | None,
    _option(
        "--report",
        panel=OUTPUT,
        help="Write one JSON line per image (id, name, action, bytes, seconds, result, error) to this file.",
    ),
]
Json = Annotated[bool, _option("--json", panel=OUTPUT, help="Print machine-readable JSON.")]
Stats = Annotated[
    float,
    _option(
        "--stats",
        panel=OUTPUT,
        min=0,
        max=86400,
        help="Seconds between progress lines (logs, --quiet, no terminal); 0: none.",
    ),
]
PlanJson = Annotated[bool, _option("--json", panel=OUTPUT, help="With --dry-run: print the plan as JSON.")]
MetricsPort = Annotated[
    int | None,
    _option(
        "--metrics-port",
        panel=OUTPUT,
        min=0,
        max=65535,
        help="Serve Prometheus metrics on this port while the run lasts.",
    ),
]
MetricsAddress = Annotated[
    str,
    _option(
        "--metrics-address",
        panel=OUTPUT,
        help="The address --metrics-port listens on (127.0.0.1: this machine only).",
    ),
]
MetricsFile = Annotated[
    Path | None,
    _option(
        "--metrics-file",
        panel=OUTPUT,
        help="Write the run's start, end and last success to this node-exporter textfile (*.prom).",
    ),
]
# Safety: what keeps a run from doing harm, and the switches that loosen it.
DryRun = Annotated[
    bool,
    _option(
        "--dry-run",
        panel=SAFETY,
        help="Print the plan (what would be created, uploaded, patched, skipped, and why); change nothing.",
    ),
]
NoVerify = Annotated[
    bool, _option("--no-verify", panel=SAFETY, help="Do not hash the data in flight (size is still checked).")
]
Insecure = Annotated[bool, _option("--insecure", panel=SAFETY, help="Do not verify https certificates.")]
FallbackVisibility = Annotated[
    str | None,
    _option(
        "--fallback-visibility",
        panel=SAFETY,
        autocompletion=_completing(parsing.FALLBACK_VISIBILITIES),
        help="Create images as private or shared where the target refuses public/community (403).",
    ),
]
FallbackOwner = Annotated[
    bool,
    _option(
        "--fallback-owner",
        panel=SAFETY,
        help="Let the target's project own images whose owner the target refuses (403) or has no counterpart of.",
    ),
]
RequireVerified = Annotated[
    bool,
    _option(
        "--require-verified",
        panel=SAFETY,
        help="Fail every image whose copy cannot be checked against a hash the source publishes.",
    ),
]
MaxImages = Annotated[
    int | None,
    _option(
        "--max-images",
        panel=SAFETY,
        min=1,
        help="End with an error a listing that goes past this many images (a listing that never ends).",
    ),
]
Prune = Annotated[
    str | None,
    _option(
        "--prune",
        panel=SAFETY,
        autocompletion=_completing(parsing.PRUNE_MODES),
        help="deactivate | delete: target images of the selection that the source no longer has.",
    ),
]
MaxPrune = Annotated[
    int,
    _option(
        "--max-prune",
        panel=SAFETY,
        min=0,
        help="Prune nothing, and exit 2, when more target images than this would be pruned.",
    ),
]
PruneExisting = Annotated[
    bool,
    _option(
        "--prune-existing",
        panel=SAFETY,
        help="Also prune images this replicator did not create (they carry no --mark-property).",
    ),
]
MarkProperty = Annotated[
    str | None,
    _option(
        "--mark-property",
        panel=SAFETY,
        help="Set this property on every image created, so later runs know which images they may prune.",
    ),
]


class OptionGroup:
    """Base of the option groups: frozen dataclasses whose fields are options."""


@dataclass(frozen=True)
class OneSide(OptionGroup):
    """How to reach the one Glance of `size`, `dump` and `load`."""

    token: Token = DEFAULT_SIDE.token
    os_cloud: OsCloud = DEFAULT_SIDE.cloud
    os_region_name: OsRegion = DEFAULT_SIDE.region
    os_interface: OsInterface = DEFAULT_SIDE.interface
    api_version: ApiVersion = DEFAULT_SIDE.api_version.value
    cacert: CaCert = DEFAULT_SIDE.cacert
    insecure: Insecure = DEFAULT_SIDE.insecure

    def side(self, server: str | None, role: vocabulary.Role | None = None) -> Side:
        return self._side(
            server, self.token, self.api_version, self.os_cloud, self.os_region_name, None, "--os-cloud", role=role
        )

    def _side(
        self,
        server: str | None,
        token: str | None,
        api_version: str,
        cloud: str | None,
        region: str | None,
        endpoint: str | None,
        cloud_option: str,
        version_option: str = "--api-version",
        *,
        role: vocabulary.Role | None,
        argument: str = "SERVER",
    ) -> Side:
        side = Side(
            server,
            token,
            self.insecure,
            _cacert(self.cacert),
            parsing.api_version(version_option, api_version),
            cloud,
            region,
            self.os_interface,
            endpoint,
            cloud_option,
            role=role,
            argument=argument,
        )
        if side.token is None and os.environ.get("OS_TOKEN") and side.cloud_choice() is None:
            # Where no cloud is named, openstacksdk would take OS_TOKEN as the token: so do we.
            side = dataclasses.replace(side, token=os.environ["OS_TOKEN"])
        return side


@dataclass(frozen=True)
class TwoSides(OneSide):
    """How to reach the source and the target of `livecopy` and `compare`: each side's own
    option wins over the one for both."""

    sourcetoken: SourceToken = None
    targettoken: TargetToken = None
    source_cloud: SourceCloud = None
    target_cloud: TargetCloud = None
    source_region: SourceRegion = None
    target_region: TargetRegion = None
    source_endpoint: SourceEndpoint = None
    target_endpoint: TargetEndpoint = None
    source_api_version: SourceApiVersion = None
    target_api_version: TargetApiVersion = None

    def sides(self, source: str | None, target: str | None) -> tuple[Side, Side]:
        """The source and the one target (`livecopy` and `compare` with one target)."""
        source_side, targets = self.sides_many(source, [target] if target is not None else [])
        if len(targets) > 1:
            raise parsing.OptionError("this command takes one target; the target options name several")
        return source_side, targets[0].side

    def source_side(self, source: str | None) -> Side:
        return self._side(
            source,
            self.sourcetoken or self.token,
            self.source_api_version or self.api_version,
            self.source_cloud or self.os_cloud,
            self.source_region or self.os_region_name,
            self.source_endpoint,
            "--source-cloud" if self.source_cloud else "--os-cloud",
            "--source-api-version" if self.source_api_version else "--api-version",
            role=vocabulary.Role.SOURCE,
            argument="SOURCE",
        )

    def sides_many(self, source: str | None, targets: list[str]) -> tuple[Side, list[NamedSide]]:
        """The source, and every target in order: one per TARGET argument, per repeated
        `--target-cloud`, `--target-region` or `--target-endpoint`, whichever names most. Each
        repeated option is given once (for every target) or once per target (`--targettoken`
        too, in the targets' order)."""
        clouds, regions, endpoints = self.target_cloud or [], self.target_region or [], self.target_endpoint or []
        tokens = self.targettoken or []
        count = max(len(targets), len(clouds), len(regions), len(endpoints), 1)
        given = {
            "TARGET": targets,
            "--target-cloud": clouds,
            "--target-region": regions,
            "--target-endpoint": endpoints,
            "--targettoken": tokens,
        }
        for name, values in given.items():
            if len(values) not in (0, 1, count):
                raise parsing.OptionError(
                    f"{name} is given {len(values)} times for {count} targets: give it once, or once per target"
                )

        def nth(values: list[str], index: int) -> str | None:
            return values[index if len(values) == count else 0] if values else None

        named: list[NamedSide] = []
        for index in range(count):
            server = targets[index] if len(targets) == count else (targets[0] if targets else None)
            cloud = nth(clouds, index)
            side = self._side(
                server,
                nth(tokens, index) or self.token,
                self.target_api_version or self.api_version,
                cloud or self.os_cloud,
                nth(regions, index) or self.os_region_name,
                nth(endpoints, index),
                "--target-cloud" if cloud else "--os-cloud",
                "--target-api-version" if self.target_api_version else "--api-version",
                role=vocabulary.Role.TARGET,
                argument="TARGET",
            )
            named.append(NamedSide(target_name(server, side, index), side))
        names = [target.name for target in named]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise parsing.OptionError(f"the same target is named twice: {', '.join(twice)}")
        return self.source_side(source), named


@dataclass(frozen=True)
class NamedSide:
    """A target and its name: as the operator gave it, never a value a server wrote."""

    name: str
    side: Side


def target_name(server: str | None, side: Side, index: int) -> str:
    """A target's name in the summary, the report and the metrics: its TARGET argument, else its
    cloud and region, else its endpoint; `target N` when nothing names it apart."""
    if server and server != "-":
        return server
    parts = [part for part in (side.cloud, side.region) if part]
    if parts:
        return "/".join(parts)
    return side.endpoint or f"target {index + 1}"


def _cacert(path: str | None) -> str | None:
    """The CA file must be a file: said before any connection, in the option's name."""
    if path is None:
        return None
    file = Path(path)
    if not file.exists():
        raise parsing.OptionError(f"--cacert {path}: No such file or directory")
    if file.is_dir():
        raise parsing.OptionError(f"--cacert {path}: is a directory, not a file of certificates")
    return path


class SettingsPart(OptionGroup, ABC):
    """A group whose options are fields of the run's `Settings`."""

    @abstractmethod
    def settings(self, base: Settings) -> Settings:
        """`base` with the fields this group's options set (typed: `dataclasses.replace`)."""


def build_settings(*parts: SettingsPart) -> Settings:
    """The run's settings from the groups a command takes; what none of them sets keeps
    its default (compare has no chunk size)."""
    settings = DEFAULT_SETTINGS
    for part in parts:
        settings = part.settings(settings)
    return settings


@dataclass(frozen=True)
class Requests(SettingsPart):
    """How patient each request is."""

    retries: Retries = DEFAULT_SETTINGS.retries
    timeout: Timeout = DEFAULT_SETTINGS.timeout
    max_images: MaxImages = DEFAULT_SETTINGS.max_images

    def settings(self, base: Settings) -> Settings:
        return replace(
            base,
            retries=self.retries,
            timeout=parsing.seconds("--timeout", self.timeout),
            max_images=self.max_images,
        )


@dataclass(frozen=True)
class Fields(SettingsPart):
    """Which attributes are replicated and compared."""

    metaonly: MetaOnly = DEFAULT_SETTINGS.metaonly
    dontreplicate: DontReplicate = " ".join(sorted(DEFAULT_SETTINGS.dont_replicate))
    target_injects: TargetInjects = ",".join(sorted(DEFAULT_SETTINGS.target_injects))

    def settings(self, base: Settings) -> Settings:
        return replace(
            base,
            metaonly=self.metaonly,
            dont_replicate=frozenset(self.dontreplicate.split()),
            target_injects=frozenset(self.target_injects.replace(",", " ").split()),
        )


@dataclass(frozen=True)
class Transfer(SettingsPart):
    """How data moves."""

    chunksize: ChunkSize = parsing.size_text(DEFAULT_SETTINGS.chunk_size)
    concurrency: Concurrency = DEFAULT_SETTINGS.concurrency
    bwlimit: BwLimit = None  # DEFAULT_SETTINGS.bwlimit: no limit
    max_transfer: MaxTransfer = None  # DEFAULT_SETTINGS.max_transfer: no limit
    no_verify: NoVerify = not DEFAULT_SETTINGS.verify
    require_verified: RequireVerified = DEFAULT_SETTINGS.require_verified

    def settings(self, base: Settings) -> Settings:
        low, high = parsing.CHUNK_SIZES
        return replace(
            base,
            chunk_size=parsing.size("--chunksize", self.chunksize, at_least=low, at_most=high),
            concurrency=self.concurrency,
            bwlimit=parsing.size("--bwlimit", self.bwlimit, at_least=1) if self.bwlimit else None,
            max_transfer=parsing.size("--max-transfer", self.max_transfer) if self.max_transfer else None,
            verify=not self.no_verify,
            require_verified=self.require_verified,
        )


@dataclass(frozen=True)
class Upload(SettingsPart):
    """How images are written into a Glance target, and what to do where it refuses."""

    upload_method: UploadMethod = DEFAULT_SETTINGS.upload_method.value
    store: Store = None  # DEFAULT_SETTINGS.store: the target's default store
    fallback_visibility: FallbackVisibility = DEFAULT_SETTINGS.fallback_visibility

    def settings(self, base: Settings) -> Settings:
        fallback = self.fallback_visibility
        return replace(
            base,
            upload_method=parsing.choice(
                "--upload-method", self.upload_method, vocabulary.UploadMethod, "upload method"
            ),
            store=parsing.at_most_one("--store", self.store, "a run writes each image into one target store"),
            fallback_visibility=None
            if fallback is None
            else parsing.one_of(
                "--fallback-visibility", fallback, parsing.FALLBACK_VISIBILITIES, "fallback visibility"
            ),
        )


@dataclass(frozen=True)
class Owners(SettingsPart):
    """Whose images the copies are: the source's projects as the target's (`--map-projects`),
    and what becomes of an owner the target refuses or has no counterpart of. `load` maps by a
    table only: a dump has no Keystone to find names in."""

    map_projects: MapProjects = None
    fallback_owner: FallbackOwner = DEFAULT_SETTINGS.fallback_owner

    def settings(self, base: Settings) -> Settings:
        return replace(base, fallback_owner=self.fallback_owner)

    def mapping(self) -> ProjectMapping | None:
        """How projects correspond between the two clouds; None: they are copied as they are."""
        return self._mapping(by_name=False)

    def _mapping(self, by_name: bool) -> ProjectMapping | None:
        if self.map_projects is None and not by_name:
            return None
        table = parsing.project_table("--map-projects", self.map_projects) if self.map_projects else {}
        origin = f"--map-projects {self.map_projects}" if self.map_projects else ""
        return ProjectMapping(table, by_name, origin)


@dataclass(frozen=True)
class TwoCloudOwners(Owners):
    """`livecopy` and `compare`: projects also found by name, in both sides' Keystones."""

    map_projects_by_name: MapProjectsByName = False

    def mapping(self) -> ProjectMapping | None:
        return self._mapping(by_name=self.map_projects_by_name)


@dataclass(frozen=True)
class Pruning(SettingsPart):
    """What becomes of target images the source no longer has, and the guards on it."""

    prune: Prune = None  # DEFAULT_SETTINGS.prune: nothing is pruned
    max_prune: MaxPrune = DEFAULT_SETTINGS.max_prune
    prune_existing: PruneExisting = DEFAULT_SETTINGS.prune_existing
    mark_property: MarkProperty = DEFAULT_SETTINGS.mark_property

    def settings(self, base: Settings) -> Settings:
        mode = None if self.prune is None else parsing.choice("--prune", self.prune, vocabulary.PruneMode, "prune mode")
        mark = parsing.mark_property("--mark-property", self.mark_property) if self.mark_property else None
        if self.prune_existing and not mode:
            raise parsing.OptionError("--prune-existing says which images --prune may prune: give --prune MODE too")
        if mode and not (mark or self.prune_existing):
            # Without a mark nothing is known to be the replicator's: such a run could never prune.
            raise parsing.OptionError(
                "--prune prunes only images a run marked with --mark-property NAME (give it on every "
                "run, from the first), or, with --prune-existing, any image"
            )
        return replace(
            base, prune=mode, max_prune=self.max_prune, prune_existing=self.prune_existing, mark_property=mark
        )


@dataclass(frozen=True)
class SelectionOptions(SettingsPart):
    """Which source images the run works on, and in what order."""

    include: Include = None
    exclude: Exclude = None
    ids: Ids = None
    ids_from: IdsFrom = None
    visibility: Visibility = None
    status: Status = None
    tags: Tags = None
    owner: Owner = None
    min_size: MinSize = None
    max_size: MaxSize = None
    order_by: OrderBy = None
    shard: Shard = None

    def selection(self) -> Selection:
        wanted = {parsing.image_id("--id", value) for value in self.ids or ()}
        if self.ids_from is not None:
            wanted |= parsing.read_ids(self.ids_from)
        return Selection(
            include=tuple(self.include or ()),
            exclude=tuple(self.exclude or ()),
            ids=frozenset(wanted),
            visibility=frozenset(
                parsing.one_of("--visibility", v, parsing.VISIBILITIES, "visibility") for v in self.visibility or ()
            ),
            status=frozenset(parsing.one_of("--status", s, parsing.STATUSES, "status") for s in self.status or ()),
            tags=frozenset(self.tags or ()),
            owner=self.owner,
            min_size=parsing.size("--min-size", self.min_size) if self.min_size else None,
            max_size=parsing.size("--max-size", self.max_size) if self.max_size else None,
            order_by=parsing.parse_order(self.order_by) if self.order_by else None,
            shard=parsing.parse_shard(self.shard) if self.shard else None,
        )

    def settings(self, base: Settings) -> Settings:
        return replace(base, selection=self.selection())


@dataclass(frozen=True)
class LogOptions(OptionGroup):
    """Where the log lines go: stderr with --debug, and a file of their own (oslo.log's
    `--log-file` / `--log-level` of the old glance-replicator)."""

    debug: Debug = False
    log_file: LogFile = None
    log_level: LogLevel = "INFO"

    def __post_init__(self) -> None:
        # A level is checked before anything runs: `--log-level warn` stops here, not after.
        object.__setattr__(
            self, "log_level", parsing.one_of("--log-level", self.log_level.upper(), parsing.LOG_LEVELS, "level")
        )


@dataclass(frozen=True)
class Watching(LogOptions):
    """How the operator watches a copy: options that change output, never the work."""

    verbose: Verbose = False
    quiet: Quiet = False
    report: Report = None
    dry_run: DryRun = False
    #: With --dry-run: the plan as JSON, as `compare --json` prints its differences.
    json: PlanJson = False
    #: Seconds between progress lines where no bars are drawn; 0: no progress lines.
    stats: Stats = 10.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.quiet and self.verbose:
            raise parsing.OptionError("-q/--quiet and -v/--verbose ask for opposite things: give one of them")
        if self.json and not self.dry_run:
            raise parsing.OptionError("--json prints a plan: give --dry-run too (a run's lines are in --report FILE)")


@dataclass(frozen=True)
class Metrics(OptionGroup):
    """Prometheus metrics of a copy: served while it lasts, and its times kept in a textfile."""

    metrics_port: MetricsPort = None
    metrics_address: MetricsAddress = "0.0.0.0"
    metrics_file: MetricsFile = None


@dataclass(frozen=True)
class Listing(LogOptions):
    """The output of the commands that only read: `size` and `compare`."""

    json: Json = False


DemoKeep = Annotated[
    bool,
    typer.Option(
        "--keep",
        help="Leave the two servers running after the compare (Ctrl-C stops them) and their images in place; "
        "print how to reach them.",
    ),
]

Config = Annotated[
    Path | None,
    typer.Option(
        "--config",
        is_eager=True,
        callback=lambda ctx, value: _apply_config(ctx, value),
        help="Settings file (TOML; default ./replicator.toml, else $REPLICATOR_CONFIG, else ~/.config/replicator/config.toml). Flags win over it.",
    ),
]


def _apply_config(ctx: typer.Context, path: Path | None) -> Path | None:
    """`--config` is eager: the file's settings become this command's defaults before any
    other option is read, so a flag on the command line still wins."""
    root = ctx.find_root().command
    commands = {
        name: config_keys(command)
        for name, command in getattr(root, "commands", {}).items()
        if any(param.name == "config" for param in command.params)
    }
    # A RunError here names the file and the line, and is shown as it is: the file may be
    # ./replicator.toml or a user file, read without any --config.
    defaults = config_file.defaults_for(path, commands)
    # A repeatable option given once in the file (`store = "fast"`) is a list of one.
    repeatable = {param.name for param in ctx.command.params if getattr(param, "multiple", False)}
    own = {
        name: [value] if name in repeatable and isinstance(value, str) else value
        for name, value in defaults.get(ctx.info_name or "", {}).items()
    }
    _check_config_values(ctx, path, own)
    ctx.default_map = {**(ctx.default_map or {}), **own}
    return path


def _check_config_values(ctx: typer.Context, path: Path | None, values: dict[str, Any]) -> None:
    """Each value from the file through its option's type now, so that a bad one is blamed on
    the file and its key, not on a flag the operator never typed."""
    for param in ctx.command.params:
        if param.name in values and param.name != "config":
            try:
                param.type_cast_value(ctx, values[param.name])
            except typer.BadParameter as exc:
                raise config_file.bad_value(path, ctx.info_name or "", param.name or "", exc.message) from exc


#: Options that replace a positional argument: given on the command line, the argument wins over
#: the option from a config file (a file left in the working directory never redirects a run).
_REPLACES_ARGUMENT = {"source_endpoint": ("source", "SOURCE"), "target_endpoint": ("targets", "TARGET")}


def _file_settings(ctx: typer.Context, values: dict[str, Any], connection: list[str]) -> None:
    """Say which config file the command read (`-v`; always when it sets how a side is reached),
    and drop a file's endpoint where the command line names that side's server itself."""
    path = config_file.which(values.get("config"))
    if path is None:
        return
    from_file = [name for name in values if getattr(ctx.get_parameter_source(name), "name", None) == "DEFAULT_MAP"]
    for option, (argument, shown) in _REPLACES_ARGUMENT.items():
        if option in from_file and values.get(argument) not in (None, "-", []):
            values[option] = None
            from_file.remove(option)
            print(
                f"replicator: config file {path}: {option.replace('_', '-')} not used, "
                f"{shown} is given on the command line",
                file=sys.stderr,
            )
    sets = [name.replace("_", "-") for name in from_file if name in connection]
    if sets:
        print(f"replicator: config file {path} sets {', '.join(sets)}", file=sys.stderr)
    elif values.get("verbose"):
        print(f"replicator: read config file {path}", file=sys.stderr)


def _panel_rank(param: inspect.Parameter) -> int:
    """Arguments first, then the options panel by panel: Typer lists panels as it meets them."""
    info = next(
        (
            extra
            for extra in getattr(param.annotation, "__metadata__", ())
            if isinstance(extra, typer.models.OptionInfo)
        ),
        None,
    )
    if info is None:
        return -1
    panel = info.rich_help_panel
    return PANELS.index(panel) if panel in PANELS else len(PANELS)


def config_keys(command: Any) -> dict[str, str]:
    """The keys a config file may use for a command's options, each to its parameter: the long
    option name, with `-` or `_` (`upload-method`, `upload_method`), and the parameter's own
    name where it differs (`id` and `ids`)."""
    keys: dict[str, str] = {}
    for param in command.params:
        if param.param_type_name != "option" or param.name == "config":
            continue
        for name in param.opts:
            if name.startswith("--"):
                keys[config_file.key(name[2:])] = param.name
        keys.setdefault(param.name, param.name)
    return keys


def grouped(body: Callable[..., Any]) -> Callable[..., Any]:
    """Let a command take option groups as parameters.

    Typer sees the groups' options as flat keyword parameters (plus `--config`, which every
    command built this way takes); the body receives one object per group. Option names must
    be unique across a command's groups, which the flattening checks.
    """
    hints = get_type_hints(body, include_extras=True)
    flat: list[inspect.Parameter] = []
    groups: dict[str, tuple[type[OptionGroup], list[str]]] = {}
    for param in inspect.signature(body).parameters.values():
        annotation = hints[param.name]
        if isinstance(annotation, type) and issubclass(annotation, OptionGroup):
            group_hints = get_type_hints(annotation, include_extras=True)
            fields = dataclasses.fields(annotation)  # type: ignore[arg-type]
            flat.extend(
                inspect.Parameter(
                    f.name, inspect.Parameter.KEYWORD_ONLY, annotation=group_hints[f.name], default=f.default
                )
                for f in fields
            )
            groups[param.name] = (annotation, [f.name for f in fields])
        else:
            flat.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=annotation))
    flat.sort(key=_panel_rank)  # stable: each panel keeps its groups' order
    flat.append(inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, annotation=Config, default=None))
    flat.append(inspect.Parameter("context_", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context))
    names = [param.name for param in flat]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise TypeError(f"{body.__name__}: options declared by two groups: {', '.join(sorted(duplicates))}")

    connection = [f for group, fields in groups.values() if issubclass(group, OneSide) for f in fields]

    @functools.wraps(body)
    def command(**values: Any) -> Any:
        _file_settings(values.pop("context_"), values, connection)
        values.pop("config")
        for name, (group, fields) in groups.items():
            values[name] = group(**{field: values.pop(field) for field in fields})
        return body(**values)

    del command.__wrapped__  # Typer must read the flat signature, not the body's
    command.__signature__ = inspect.Signature(flat)  # type: ignore[attr-defined]
    command.__annotations__ = {param.name: param.annotation for param in flat}
    return command
