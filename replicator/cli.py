"""The `replicator` command: parse options, build stores and settings, call the engine.

No HTTP and no business rules here. Exit codes are decided in one place (`_run`):
0 done or identical, 1 some images failed or compare found differences, 2 the run could not
happen (bad usage, unreachable server, unusable input), always with a one-line message.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Awaitable, Callable, Optional

import typer

from replicator import config as config_file
from replicator import console, progress
from replicator.connect import Side, open_glance
from replicator.engine import run as engine
from replicator.engine.events import RunTally, fan_out
from replicator.errors import RunError
from replicator.selection import Selection, parse_order, parse_shard
from replicator.settings import Settings
from replicator.stores.base import ImageStore
from replicator.stores.dumpdir import DumpDirStore
from replicator.units import parse_size

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Replicate images between OpenStack Glance services, fast: size, dump, load, livecopy, compare.",
)

# Options shared by the commands, declared once.
ChunkSize = Annotated[str, typer.Option("--chunksize", "-c", help="Bytes per read and write, e.g. 65536, 4M.")]
DontReplicate = Annotated[str, typer.Option("--dontreplicate", "-D", help='Space-separated fields not to replicate, e.g. "owner min_ram".')]
MetaOnly = Annotated[bool, typer.Option("--metaonly", "-m", help="Replicate metadata only, not image data.")]
Token = Annotated[Optional[str], typer.Option("--token", "-t", help="Token for both servers (sent as X-Auth-Token).")]
SourceToken = Annotated[Optional[str], typer.Option("--sourcetoken", help="Token for the source server.")]
TargetToken = Annotated[Optional[str], typer.Option("--targettoken", help="Token for the target server.")]
Concurrency = Annotated[int, typer.Option("--concurrency", "-j", min=1, max=256, help="Images transferred at once.")]
Retries = Annotated[int, typer.Option("--retries", min=0, help="Retries of a failed step (connection lost, 5xx).")]
Timeout = Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to connect, and of silence while reading.")]
NoVerify = Annotated[bool, typer.Option("--no-verify", help="Do not hash the data in flight (size is still checked).")]
Insecure = Annotated[bool, typer.Option("--insecure", help="Do not verify https certificates.")]
CaCert = Annotated[Optional[str], typer.Option("--cacert", help="CA bundle to verify https certificates with.")]
UploadMethod = Annotated[str, typer.Option("--upload-method", help="auto | direct (PUT file) | glance-direct (stage + import).")]
Store = Annotated[Optional[str], typer.Option("--store", help="Target store on a multi-store Glance (see /v2/info/stores).")]
FallbackVisibility = Annotated[Optional[str], typer.Option("--fallback-visibility", help="Create images as private or shared where the target refuses public/community (403).")]
FallbackOwner = Annotated[bool, typer.Option("--fallback-owner", help="Let the target's project own images whose owner the target refuses (403).")]
Report = Annotated[Optional[str], typer.Option("--report", help="Write one JSON line per image (id, name, action, bytes, seconds, result, error) to this file.")]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Also log skipped images.")]
ApiVersion = Annotated[str, typer.Option("--api-version", help="Glance API: 1, 2, or auto (ask the server, prefer 2).")]
SourceApiVersion = Annotated[Optional[str], typer.Option("--source-api-version", help="Glance API of the source: 1, 2 or auto.")]
TargetApiVersion = Annotated[Optional[str], typer.Option("--target-api-version", help="Glance API of the target: 1, 2 or auto.")]
OsCloud = Annotated[Optional[str], typer.Option("--os-cloud", help="Cloud of clouds.yaml for both sides (default: OS_CLOUD).")]
SourceCloud = Annotated[Optional[str], typer.Option("--source-cloud", help="Cloud of clouds.yaml for the source.")]
TargetCloud = Annotated[Optional[str], typer.Option("--target-cloud", help="Cloud of clouds.yaml for the target.")]
OsRegion = Annotated[Optional[str], typer.Option("--os-region-name", help="Region of the image endpoint, both sides (default: OS_REGION_NAME).")]
SourceRegion = Annotated[Optional[str], typer.Option("--source-region", help="Region of the source's image endpoint.")]
TargetRegion = Annotated[Optional[str], typer.Option("--target-region", help="Region of the target's image endpoint.")]
OsInterface = Annotated[Optional[str], typer.Option("--os-interface", help="public, internal or admin endpoint (default: OS_INTERFACE, else the cloud's).")]
SourceEndpoint = Annotated[Optional[str], typer.Option("--source-endpoint", help="Source image endpoint, overriding the catalog's.")]
TargetEndpoint = Annotated[Optional[str], typer.Option("--target-endpoint", help="Target image endpoint, overriding the catalog's.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No bars and no line per image: a progress line every 10 s, failures, the summary.")]
Debug = Annotated[bool, typer.Option("--debug", help="Log every request (method, URL, status, time; never a token) to stderr.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the plan (what would be created, uploaded, patched, skipped, and why); change nothing.")]
BwLimit = Annotated[Optional[str], typer.Option("--bwlimit", help="Bytes per second for all transfers together, e.g. 50M.")]
MaxTransfer = Annotated[Optional[str], typer.Option("--max-transfer", help="Start no new transfer once this many bytes are copied, e.g. 500G.")]
Config = Annotated[
    Optional[Path],
    typer.Option("--config", is_eager=True, callback=lambda ctx, value: _load_config(ctx, value),
                 help="Settings file (TOML; default ./replicator.toml if present). Flags win over it."),
]
# Selection: applied to the source listing before planning.
Include = Annotated[Optional[list[str]], typer.Option("--include", help="Only images whose name matches this glob (repeatable).")]
Exclude = Annotated[Optional[list[str]], typer.Option("--exclude", help="Leave out images whose name matches this glob (repeatable).")]
Ids = Annotated[Optional[list[str]], typer.Option("--id", help="Only this image id (repeatable).")]
IdsFrom = Annotated[Optional[Path], typer.Option("--ids-from", help="Only the image ids in this file (one per line, # comments).")]
Visibility = Annotated[Optional[list[str]], typer.Option("--visibility", help="Only images of this visibility (repeatable).")]
Status = Annotated[Optional[list[str]], typer.Option("--status", help="Only images in this status (repeatable).")]
Tags = Annotated[Optional[list[str]], typer.Option("--tag", help="Only images carrying this tag (repeatable: all of them).")]
Owner = Annotated[Optional[str], typer.Option("--owner", help="Only images owned by this project id.")]
MinSize = Annotated[Optional[str], typer.Option("--min-size", help="Only images at least this large, e.g. 1G.")]
MaxSize = Annotated[Optional[str], typer.Option("--max-size", help="Only images at most this large.")]
OrderBy = Annotated[Optional[str], typer.Option("--order-by", help="size|name|created_at[,desc]; size,desc keeps every connection busy to the end.")]
Shard = Annotated[Optional[str], typer.Option("--shard", help="K/N: only the images whose id hashes to shard K (0-based) of N.")]


UPLOAD_METHODS = ("auto", "direct", "glance-direct")
#: Visibilities any project may give its own images.
FALLBACK_VISIBILITIES = ("private", "shared")


def main() -> None:
    """Console-script entry point: usage errors are one line too, like every other error."""
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # usage errors: a bad option, a missing argument
        context = getattr(exc, "ctx", None)
        command = context.command_path if context else "replicator"
        if exc.format_message():  # empty when the help was shown instead
            print(f"replicator: error: {exc.format_message()} (see '{command} --help')", file=sys.stderr)
        code = exc.exit_code
    except typer.Abort:
        print("replicator: interrupted", file=sys.stderr)
        code = 130
    except Exception as exc:  # a bug of ours: still one line, and a code scripts can tell apart
        print(f"replicator: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 70
    sys.exit(code if isinstance(code, int) else 0)


def _load_config(ctx: typer.Context, path: Path | None) -> Path | None:
    """`--config` is eager: the file's settings become this command's defaults before any
    other option is read, so a flag on the command line still wins."""
    root = ctx.find_root().command
    commands = {
        name: {param.name for param in command.params if param.name}
        for name, command in getattr(root, "commands", {}).items()
        if any(param.name == "config" for param in command.params)
    }
    try:
        defaults = config_file.defaults_for(path, commands)
    except RunError as exc:
        raise typer.BadParameter(str(exc), ctx=ctx) from None
    ctx.default_map = {**(ctx.default_map or {}), **defaults.get(ctx.info_name or "", {})}
    return path


def _selection(
    include: list[str] | None = None, exclude: list[str] | None = None, ids: list[str] | None = None,
    ids_from: Path | None = None, visibility: list[str] | None = None, status: list[str] | None = None,
    tags: list[str] | None = None, owner: str | None = None, min_size: str | None = None,
    max_size: str | None = None, order_by: str | None = None, shard: str | None = None,
) -> Selection:
    wanted = set(ids or ())
    if ids_from is not None:
        wanted |= _read_ids(ids_from)
        if not wanted:
            raise RunError(f"--ids-from {ids_from}: the file names no image id")
    try:
        order = parse_order(order_by) if order_by else None
        shard_of_n = parse_shard(shard) if shard else None
    except ValueError as exc:
        raise RunError(str(exc)) from None
    return Selection(
        include=tuple(include or ()), exclude=tuple(exclude or ()), ids=frozenset(wanted),
        visibility=frozenset(visibility or ()), status=frozenset(status or ()), tags=frozenset(tags or ()),
        owner=owner, min_size=parse_size(min_size) if min_size else None,
        max_size=parse_size(max_size) if max_size else None, order_by=order, shard=shard_of_n,
    )


def _read_ids(path: Path) -> set[str]:
    """One id per line; blank lines and `#` comments are ignored (a `--report` of failures,
    cut down to its ids, is a typical source)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise RunError(f"cannot read --ids-from {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise RunError(f"--ids-from {path} is not a text file") from None
    return {line.split("#", 1)[0].strip() for line in lines} - {""}


def _settings(
    chunksize: str = "1M", dontreplicate: str = "", metaonly: bool = False, concurrency: int = 4,
    retries: int = 3, timeout: float = 60.0, no_verify: bool = False, upload_method: str = "auto",
    store: str | None = None, fallback_visibility: str | None = None, fallback_owner: bool = False,
    *, selection: Selection | None = None, bwlimit: str | None = None, max_transfer: str | None = None,
) -> Settings:
    chunk = parse_size(chunksize)
    if chunk < 1:
        raise RunError("--chunksize must be at least 1 byte")
    rate = parse_size(bwlimit) if bwlimit else None
    if rate is not None and rate < 1:
        raise RunError("--bwlimit must be at least 1 byte per second")
    if fallback_visibility not in (None, *FALLBACK_VISIBILITIES):
        raise RunError(f"--fallback-visibility must be one of {', '.join(FALLBACK_VISIBILITIES)}, not {fallback_visibility!r}")
    if upload_method not in UPLOAD_METHODS:
        raise RunError(f"--upload-method must be one of {', '.join(UPLOAD_METHODS)}, not {upload_method!r}")
    return Settings(
        concurrency=concurrency, chunk_size=chunk, dont_replicate=frozenset(dontreplicate.split()),
        metaonly=metaonly, verify=not no_verify, retries=retries, timeout=timeout,
        upload_method=upload_method, store=store, fallback_visibility=fallback_visibility,
        fallback_owner=fallback_owner, selection=selection or Selection(), bwlimit=rate,
        max_transfer=parse_size(max_transfer) if max_transfer else None,
    )


def _run(work: Callable[[], Awaitable[int]]) -> None:
    """Run one command's coroutine and turn its outcome into an exit code and messages."""
    try:
        code = _run_async(work())
    except RunError as exc:
        print(f"replicator: error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        print("replicator: interrupted", file=sys.stderr)
        raise typer.Exit(130) from None
    raise typer.Exit(code)


def _run_async(coroutine: Awaitable[int]) -> int:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)  # type: ignore[arg-type]
    return uvloop.run(coroutine)  # type: ignore[arg-type]


Pair = tuple[Optional[str], Optional[str]]
#: (source's own, target's own, both sides'): the side's own value wins.
Shared = tuple[Optional[str], Optional[str], Optional[str]]


def _sides(
    servers: Pair, tokens: Shared, insecure: bool, cacert: str | None, api_versions: Shared,
    clouds: Shared, regions: Shared, interface: str | None, endpoints: Pair,
) -> tuple[Side, Side]:
    """The source and target sides of livecopy and compare, from the options of both."""
    sides = []
    for n, role in enumerate(("source", "target")):
        cloud = clouds[n] or clouds[2]
        sides.append(Side(
            servers[n], tokens[n] or tokens[2], insecure, cacert, api_versions[n] or api_versions[2] or "auto",
            cloud, regions[n] or regions[2], interface, endpoints[n],
            f"--{role}-cloud" if clouds[n] else "--os-cloud",
        ))
    return sides[0], sides[1]


async def _open_pair(source: Side, target: Side, settings: Settings) -> tuple[ImageStore, ImageStore]:
    """Both Glances, once both addresses have been checked."""
    source.check()
    target.check()
    opened = await open_glance(replace(source, role="source"), settings)
    try:
        return opened, await open_glance(replace(target, role="target"), settings)
    except BaseException:
        await opened.close()
        raise


async def _closing(work: Awaitable[int], *stores: ImageStore) -> int:
    try:
        return await work
    finally:
        for store in stores:
            await store.close()


@dataclass(frozen=True)
class Watch:
    """How the user watches a copy: the options that change output, never the work."""

    verbose: bool = False
    quiet: bool = False
    debug: bool = False
    report: str | None = None
    dry_run: bool = False

    def start(self) -> None:
        if self.debug:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
            logger = logging.getLogger("replicator")
            logger.handlers[:] = [handler]
            logger.setLevel(logging.DEBUG)
            logger.propagate = False


async def _copy(source: ImageStore, target: ImageStore, settings: Settings, watch: Watch) -> int:
    """Run a copy (or with --dry-run, print its plan); on Ctrl-C the in-flight transfers are
    cancelled (their uploads cut, so Glance returns those images to `queued`) and the summary
    still says what was done."""
    if watch.dry_run:
        print(console.plan_text(await engine.compare(source, target, settings, every=watch.verbose), watch.verbose))
        return 0
    started = time.monotonic()
    collected = RunTally()
    report_file = console.JsonLinesReport(watch.report) if watch.report else None
    bars = progress.ProgressBars() if sys.stderr.isatty() and not watch.quiet else None
    view = bars if bars else progress.ProgressLines()
    sinks = [view, console.LineLog(verbose=watch.verbose, quiet=watch.quiet), collected]
    try:
        with bars or nullcontext():
            await engine.replicate(source, target, settings, fan_out(*sinks, *([report_file] if report_file else [])))
    except asyncio.CancelledError:
        print(console.summary(collected, time.monotonic() - started), file=sys.stderr)
        print("interrupted: in-flight transfers were stopped; run the same command again to finish", file=sys.stderr)
        raise
    except RunError:
        # The run cannot go on (a token that cannot be renewed): say what was done, then why not more.
        if collected.planned:
            print(console.summary(collected, time.monotonic() - started), file=sys.stderr)
        raise
    finally:
        if report_file:
            report_file.close()
    print(console.summary(collected, time.monotonic() - started), file=sys.stderr)
    return 1 if collected.failed else 0


@app.command()
def size(
    server: Annotated[Optional[str], typer.Argument(help="host:port, http(s)://host[:port]\\[/prefix], or - (or nothing) for the cloud's catalog")] = None,
    token: Token = None, json: Json = False, retries: Retries = 3, timeout: Timeout = 60.0,
    insecure: Insecure = False, cacert: CaCert = None, api_version: ApiVersion = "auto", debug: Debug = False,
    os_cloud: OsCloud = None, os_region_name: OsRegion = None, os_interface: OsInterface = None,
    config: Config = None,
) -> None:
    """How many active images SERVER holds and how many bytes a dump would take."""
    Watch(debug=debug).start()

    async def work() -> int:
        settings = _settings(retries=retries, timeout=timeout)
        side = Side(server, token, insecure, cacert, api_version, os_cloud, os_region_name, os_interface)
        side.check()
        store = await open_glance(side, settings)

        async def show() -> int:
            inventory = await engine.measure(store, settings)
            print(console.size_json(inventory) if json else console.size_line(inventory))
            return 0

        return await _closing(show(), store)

    _run(work)


@app.command()
def dump(
    server: Annotated[str, typer.Argument(help="The Glance to dump (- for the cloud's catalog).")],
    path: Annotated[Path, typer.Argument(help="Directory to write <id> and <id>.img files into.")],
    chunksize: ChunkSize = "1M", dontreplicate: DontReplicate = "", metaonly: MetaOnly = False,
    token: Token = None, concurrency: Concurrency = 4, retries: Retries = 3, timeout: Timeout = 60.0,
    no_verify: NoVerify = False, insecure: Insecure = False, cacert: CaCert = None, verbose: Verbose = False,
    report: Report = None, api_version: ApiVersion = "auto",
    os_cloud: OsCloud = None, os_region_name: OsRegion = None, os_interface: OsInterface = None,
    include: Include = None, exclude: Exclude = None, ids: Ids = None, ids_from: IdsFrom = None,
    visibility: Visibility = None, status: Status = None, tags: Tags = None, owner: Owner = None,
    min_size: MinSize = None, max_size: MaxSize = None, order_by: OrderBy = None, shard: Shard = None,
    dry_run: DryRun = False, bwlimit: BwLimit = None, max_transfer: MaxTransfer = None,
    quiet: Quiet = False, debug: Debug = False, config: Config = None,
) -> None:
    """Write every image's metadata (DIR/<id>) and data (DIR/<id>.img) to disk; reruns resume."""
    watch = Watch(verbose, quiet, debug, report, dry_run)
    watch.start()

    async def work() -> int:
        settings = _settings(chunksize, dontreplicate, metaonly, concurrency, retries, timeout, no_verify,
                             selection=_selection(include, exclude, ids, ids_from, visibility, status, tags, owner, min_size, max_size, order_by, shard),
                             bwlimit=bwlimit, max_transfer=max_transfer)
        side = Side(server, token, insecure, cacert, api_version, os_cloud, os_region_name, os_interface)
        side.check()
        target = DumpDirStore(path, settings, create=True, dry_run=dry_run)
        source = await open_glance(replace(side, role="source"), settings)
        return await _closing(_copy(source, target, settings, watch), source, target)

    _run(work)


@app.command()
def load(
    server: Annotated[str, typer.Argument(help="The Glance to load into (- for the cloud's catalog).")],
    path: Annotated[Path, typer.Argument(help="A dump directory (ours or the old glance-replicator's).")],
    chunksize: ChunkSize = "1M", dontreplicate: DontReplicate = "", metaonly: MetaOnly = False,
    token: Token = None, concurrency: Concurrency = 4, retries: Retries = 3, timeout: Timeout = 60.0,
    no_verify: NoVerify = False, insecure: Insecure = False, cacert: CaCert = None, verbose: Verbose = False,
    upload_method: UploadMethod = "auto", store: Store = None, report: Report = None,
    fallback_visibility: FallbackVisibility = None, fallback_owner: FallbackOwner = False,
    api_version: ApiVersion = "auto",
    os_cloud: OsCloud = None, os_region_name: OsRegion = None, os_interface: OsInterface = None,
    include: Include = None, exclude: Exclude = None, ids: Ids = None, ids_from: IdsFrom = None,
    visibility: Visibility = None, status: Status = None, tags: Tags = None, owner: Owner = None,
    min_size: MinSize = None, max_size: MaxSize = None, order_by: OrderBy = None, shard: Shard = None,
    dry_run: DryRun = False, bwlimit: BwLimit = None, max_transfer: MaxTransfer = None,
    quiet: Quiet = False, debug: Debug = False, config: Config = None,
) -> None:
    """Put a dump into SERVER, keeping ids; update the metadata of images already there."""
    watch = Watch(verbose, quiet, debug, report, dry_run)
    watch.start()

    async def work() -> int:
        settings = _settings(chunksize, dontreplicate, metaonly, concurrency, retries, timeout, no_verify,
                             upload_method, store, fallback_visibility, fallback_owner,
                             selection=_selection(include, exclude, ids, ids_from, visibility, status, tags, owner, min_size, max_size, order_by, shard),
                             bwlimit=bwlimit, max_transfer=max_transfer)
        side = Side(server, token, insecure, cacert, api_version, os_cloud, os_region_name, os_interface)
        side.check()
        source = DumpDirStore(path, settings, create=False)
        if not source.holds_dump():
            raise RunError(f"{path} holds no dump: no image record files (named by image id) in it")
        target = await open_glance(replace(side, role="target"), settings)
        return await _closing(_copy(source, target, settings, watch), source, target)

    _run(work)


@app.command()
def livecopy(
    source_server: Annotated[Optional[str], typer.Argument(metavar="SOURCE", help="The Glance to copy from (- or nothing: the source cloud's catalog).")] = None,
    target_server: Annotated[Optional[str], typer.Argument(metavar="TARGET", help="The Glance to copy to (- or nothing: the target cloud's catalog).")] = None,
    chunksize: ChunkSize = "1M", dontreplicate: DontReplicate = "", metaonly: MetaOnly = False,
    token: Token = None, sourcetoken: SourceToken = None, targettoken: TargetToken = None,
    concurrency: Concurrency = 4, retries: Retries = 3, timeout: Timeout = 60.0, no_verify: NoVerify = False,
    insecure: Insecure = False, cacert: CaCert = None, verbose: Verbose = False,
    upload_method: UploadMethod = "auto", store: Store = None, report: Report = None,
    fallback_visibility: FallbackVisibility = None, fallback_owner: FallbackOwner = False,
    api_version: ApiVersion = "auto", source_api_version: SourceApiVersion = None,
    target_api_version: TargetApiVersion = None,
    os_cloud: OsCloud = None, source_cloud: SourceCloud = None, target_cloud: TargetCloud = None,
    os_region_name: OsRegion = None, source_region: SourceRegion = None, target_region: TargetRegion = None,
    os_interface: OsInterface = None, source_endpoint: SourceEndpoint = None, target_endpoint: TargetEndpoint = None,
    include: Include = None, exclude: Exclude = None, ids: Ids = None, ids_from: IdsFrom = None,
    visibility: Visibility = None, status: Status = None, tags: Tags = None, owner: Owner = None,
    min_size: MinSize = None, max_size: MaxSize = None, order_by: OrderBy = None, shard: Shard = None,
    dry_run: DryRun = False, bwlimit: BwLimit = None, max_transfer: MaxTransfer = None,
    quiet: Quiet = False, debug: Debug = False, config: Config = None,
) -> None:
    """Copy images straight from SOURCE to TARGET, data streamed through, never staged on disk."""
    watch = Watch(verbose, quiet, debug, report, dry_run)
    watch.start()

    async def work() -> int:
        settings = _settings(chunksize, dontreplicate, metaonly, concurrency, retries, timeout, no_verify,
                             upload_method, store, fallback_visibility, fallback_owner,
                             selection=_selection(include, exclude, ids, ids_from, visibility, status, tags, owner, min_size, max_size, order_by, shard),
                             bwlimit=bwlimit, max_transfer=max_transfer)
        source, target = await _open_pair(*_sides(
            (source_server, target_server), (sourcetoken, targettoken, token), insecure, cacert,
            (source_api_version, target_api_version, api_version), (source_cloud, target_cloud, os_cloud),
            (source_region, target_region, os_region_name), os_interface, (source_endpoint, target_endpoint),
        ), settings)
        return await _closing(_copy(source, target, settings, watch), source, target)

    _run(work)


@app.command()
def compare(
    source_server: Annotated[Optional[str], typer.Argument(metavar="SOURCE", help="The reference Glance (- or nothing: the source cloud's catalog).")] = None,
    target_server: Annotated[Optional[str], typer.Argument(metavar="TARGET", help="The Glance to check (- or nothing: the target cloud's catalog).")] = None,
    dontreplicate: DontReplicate = "", metaonly: MetaOnly = False,
    token: Token = None, sourcetoken: SourceToken = None, targettoken: TargetToken = None,
    json: Json = False, retries: Retries = 3, timeout: Timeout = 60.0, insecure: Insecure = False,
    cacert: CaCert = None, api_version: ApiVersion = "auto", source_api_version: SourceApiVersion = None,
    target_api_version: TargetApiVersion = None,
    os_cloud: OsCloud = None, source_cloud: SourceCloud = None, target_cloud: TargetCloud = None,
    os_region_name: OsRegion = None, source_region: SourceRegion = None, target_region: TargetRegion = None,
    os_interface: OsInterface = None, source_endpoint: SourceEndpoint = None, target_endpoint: TargetEndpoint = None,
    include: Include = None, exclude: Exclude = None, ids: Ids = None, ids_from: IdsFrom = None,
    visibility: Visibility = None, status: Status = None, tags: Tags = None, owner: Owner = None,
    min_size: MinSize = None, max_size: MaxSize = None, order_by: OrderBy = None, shard: Shard = None,
    debug: Debug = False, config: Config = None,
) -> None:
    """Report images missing from TARGET or whose metadata differs, field by field."""
    Watch(debug=debug).start()

    async def work() -> int:
        settings = _settings(dontreplicate=dontreplicate, metaonly=metaonly, retries=retries, timeout=timeout,
                             selection=_selection(include, exclude, ids, ids_from, visibility, status, tags, owner, min_size, max_size, order_by, shard))
        source, target = await _open_pair(*_sides(
            (source_server, target_server), (sourcetoken, targettoken, token), insecure, cacert,
            (source_api_version, target_api_version, api_version), (source_cloud, target_cloud, os_cloud),
            (source_region, target_region, os_region_name), os_interface, (source_endpoint, target_endpoint),
        ), settings)

        async def show() -> int:
            comparison = await engine.compare(source, target, settings)
            print(console.compare_json(comparison) if json else console.compare_text(comparison))
            return 1 if comparison.differences else 0

        return await _closing(show(), source, target)

    _run(work)


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False
)
def serve(ctx: typer.Context) -> None:
    """Run the built-in Glance-compatible server (for demos, tests, benchmarks). --help for its options."""
    from replicator.server.__main__ import main as serve_main

    serve_main(list(ctx.args))


@app.command()
def demo() -> None:
    """Start two local servers, fill one with a dozen images, livecopy them, and compare."""
    from replicator.demo import run_demo

    _run(run_demo)


