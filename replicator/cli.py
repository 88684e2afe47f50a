"""The `replicator` command: parse options, build stores and settings, call the engine.

No HTTP and no business rules here. Exit codes are decided in one place (`_run`):
0 done or identical, 1 some images failed or compare found differences, 2 the run could not
happen (bad usage, unreachable server, unusable input), always with a one-line message.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Annotated, Awaitable, Callable, Optional

import typer

from replicator import console
from replicator.endpoints import parse_server
from replicator.engine import run as engine
from replicator.engine.events import ResultCollector, fan_out
from replicator.errors import RunError
from replicator.http import GlanceHttp, make_ssl_context
from replicator.settings import Settings
from replicator.stores.base import ImageStore
from replicator.stores.dumpdir import DumpDirStore
from replicator.stores.glance_v2 import GlanceV2Store
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


def _settings(
    chunksize: str = "1M", dontreplicate: str = "", metaonly: bool = False, concurrency: int = 4,
    retries: int = 3, timeout: float = 60.0, no_verify: bool = False, upload_method: str = "auto",
    store: str | None = None, fallback_visibility: str | None = None, fallback_owner: bool = False,
) -> Settings:
    chunk = parse_size(chunksize)
    if chunk < 1:
        raise RunError("--chunksize must be at least 1 byte")
    if fallback_visibility not in (None, *FALLBACK_VISIBILITIES):
        raise RunError(f"--fallback-visibility must be one of {', '.join(FALLBACK_VISIBILITIES)}, not {fallback_visibility!r}")
    if upload_method not in UPLOAD_METHODS:
        raise RunError(f"--upload-method must be one of {', '.join(UPLOAD_METHODS)}, not {upload_method!r}")
    return Settings(
        concurrency=concurrency, chunk_size=chunk, dont_replicate=frozenset(dontreplicate.split()),
        metaonly=metaonly, verify=not no_verify, retries=retries, timeout=timeout,
        upload_method=upload_method, store=store, fallback_visibility=fallback_visibility,
        fallback_owner=fallback_owner,
    )


def _glance(url: str, settings: Settings, token: str | None, insecure: bool, cacert: str | None) -> GlanceV2Store:
    """A store for an already parsed URL: built only once every argument has been checked."""
    http = GlanceHttp(url, settings, token=token, ssl_context=make_ssl_context(insecure, cacert))
    return GlanceV2Store(http, settings)


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


async def _closing(work: Awaitable[int], *stores: ImageStore) -> int:
    try:
        return await work
    finally:
        for store in stores:
            await store.close()


async def _copy(
    source: ImageStore, target: ImageStore, settings: Settings, verbose: bool, report: str | None
) -> int:
    """Run a copy; on Ctrl-C the in-flight transfers are cancelled (their uploads cut, so Glance
    returns those images to `queued`) and the summary still says what was done."""
    started = time.monotonic()
    collected = ResultCollector()
    report_file = console.JsonLinesReport(report) if report else None
    sinks = [console.LineLog(verbose=verbose), collected] + ([report_file] if report_file else [])
    try:
        await engine.replicate(source, target, settings, fan_out(*sinks))
    except asyncio.CancelledError:
        print(console.summary(collected.results, time.monotonic() - started), file=sys.stderr)
        print("interrupted: in-flight transfers were stopped; run the same command again to finish", file=sys.stderr)
        raise
    finally:
        if report_file:
            report_file.close()
    print(console.summary(collected.results, time.monotonic() - started), file=sys.stderr)
    return 1 if any(r.result == "failed" for r in collected.results) else 0


@app.command()
def size(
    server: Annotated[str, typer.Argument(help="host:port or http(s)://host[:port][/prefix]")],
    token: Token = None, json: Json = False, retries: Retries = 3, timeout: Timeout = 60.0,
    insecure: Insecure = False, cacert: CaCert = None,
) -> None:
    """How many active images SERVER holds and how many bytes a dump would take."""

    async def work() -> int:
        settings = _settings(retries=retries, timeout=timeout)
        store = _glance(parse_server(server), settings, token, insecure, cacert)

        async def show() -> int:
            inventory = await engine.measure(store)
            print(console.size_json(inventory) if json else console.size_line(inventory))
            return 0

        return await _closing(show(), store)

    _run(work)


@app.command()
def dump(
    server: Annotated[str, typer.Argument(help="The Glance to dump.")],
    path: Annotated[Path, typer.Argument(help="Directory to write <id> and <id>.img files into.")],
    chunksize: ChunkSize = "1M", dontreplicate: DontReplicate = "", metaonly: MetaOnly = False,
    token: Token = None, concurrency: Concurrency = 4, retries: Retries = 3, timeout: Timeout = 60.0,
    no_verify: NoVerify = False, insecure: Insecure = False, cacert: CaCert = None, verbose: Verbose = False,
    report: Report = None,
) -> None:
    """Write every image's metadata (DIR/<id>) and data (DIR/<id>.img) to disk; reruns resume."""

    async def work() -> int:
        settings = _settings(chunksize, dontreplicate, metaonly, concurrency, retries, timeout, no_verify)
        url = parse_server(server)
        target = DumpDirStore(path, settings, create=True)
        source = _glance(url, settings, token, insecure, cacert)
        return await _closing(_copy(source, target, settings, verbose, report), source, target)

    _run(work)


@app.command()
def load(
    server: Annotated[str, typer.Argument(help="The Glance to load into.")],
    path: Annotated[Path, typer.Argument(help="A dump directory (ours or the old glance-replicator's).")],
    chunksize: ChunkSize = "1M", dontreplicate: DontReplicate = "", metaonly: MetaOnly = False,
    token: Token = None, concurrency: Concurrency = 4, retries: Retries = 3, timeout: Timeout = 60.0,
    no_verify: NoVerify = False, insecure: Insecure = False, cacert: CaCert = None, verbose: Verbose = False,
    upload_method: UploadMethod = "auto", store: Store = None, report: Report = None,
    fallback_visibility: FallbackVisibility = None, fallback_owner: FallbackOwner = False,
) -> None:
    """Put a dump into SERVER, keeping ids; update the metadata of images already there."""

    async def work() -> int:
        settings = _settings(chunksize, dontreplicate, metaonly, concurrency, retries, timeout, no_verify,
                             upload_method, store, fallback_visibility, fallback_owner)
        url = parse_server(server)
        source = DumpDirStore(path, settings, create=False)
        target = _glance(url, settings, token, insecure, cacert)
        return await _closing(_copy(source, target, settings, verbose, report), source, target)

    _run(work)


@app.command()
def livecopy(
    source_server: Annotated[str, typer.Argument(metavar="SOURCE", help="The Glance to copy from.")],
    target_server: Annotated[str, typer.Argument(metavar="TARGET", help="The Glance to copy to.")],
    chunksize: ChunkSize = "1M", dontreplicate: DontReplicate = "", metaonly: MetaOnly = False,
    token: Token = None, sourcetoken: SourceToken = None, targettoken: TargetToken = None,
    concurrency: Concurrency = 4, retries: Retries = 3, timeout: Timeout = 60.0, no_verify: NoVerify = False,
    insecure: Insecure = False, cacert: CaCert = None, verbose: Verbose = False,
    upload_method: UploadMethod = "auto", store: Store = None, report: Report = None,
    fallback_visibility: FallbackVisibility = None, fallback_owner: FallbackOwner = False,
) -> None:
    """Copy images straight from SOURCE to TARGET, data streamed through, never staged on disk."""

    async def work() -> int:
        settings = _settings(chunksize, dontreplicate, metaonly, concurrency, retries, timeout, no_verify,
                             upload_method, store, fallback_visibility, fallback_owner)
        source_url, target_url = parse_server(source_server), parse_server(target_server)
        source = _glance(source_url, settings, sourcetoken or token, insecure, cacert)
        target = _glance(target_url, settings, targettoken or token, insecure, cacert)
        return await _closing(_copy(source, target, settings, verbose, report), source, target)

    _run(work)


@app.command()
def compare(
    source_server: Annotated[str, typer.Argument(metavar="SOURCE", help="The reference Glance.")],
    target_server: Annotated[str, typer.Argument(metavar="TARGET", help="The Glance to check.")],
    dontreplicate: DontReplicate = "", metaonly: MetaOnly = False,
    token: Token = None, sourcetoken: SourceToken = None, targettoken: TargetToken = None,
    json: Json = False, retries: Retries = 3, timeout: Timeout = 60.0, insecure: Insecure = False,
    cacert: CaCert = None,
) -> None:
    """Report images missing from TARGET or whose metadata differs, field by field."""

    async def work() -> int:
        settings = _settings(dontreplicate=dontreplicate, metaonly=metaonly, retries=retries, timeout=timeout)
        source_url, target_url = parse_server(source_server), parse_server(target_server)
        source = _glance(source_url, settings, sourcetoken or token, insecure, cacert)
        target = _glance(target_url, settings, targettoken or token, insecure, cacert)

        async def show() -> int:
            actions = await engine.compare(source, target, settings)
            print(console.compare_json(actions) if json else console.compare_text(actions))
            return 1 if console.differences(actions) else 0

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


