"""The commands: each names the option groups it takes, builds its stores and settings from
them, and hands the run to `session`. No HTTP and no business rules here.

Only the option groups are imported with this module: `--help`, `--version` and shell
completion read the commands' signatures and nothing else. What a run needs (the session, the
engine, the stores, and aiohttp, rich, yaml, prometheus_client under them) is imported in the
command's body, when it runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from replicator.cli.options import (
    DemoKeep,
    Fields,
    Listing,
    Metrics,
    OneSide,
    Owners,
    Pruning,
    Requests,
    SelectionOptions,
    Transfer,
    TwoCloudOwners,
    TwoSides,
    Upload,
    Watching,
    build_settings,
    grouped,
)
from replicator.model.errors import ErrorKind, RunError
from replicator.model.vocabulary import Role
from replicator.openstack.connect import open_glance


def _argument(metavar: str, help: str) -> Any:
    return typer.Argument(metavar=metavar, help=help)


# A SERVER left out, or "-", is the image endpoint of the side's cloud's catalog.
AnyServer = Annotated[
    str | None,
    _argument("SERVER", "host:port, http(s)://host[:port]\\[/prefix], or - (or nothing) for the cloud's catalog"),
]
DumpedServer = Annotated[str, _argument("SERVER", "The Glance to dump (- for the cloud's catalog).")]
LoadedServer = Annotated[str, _argument("SERVER", "The Glance to load into (- for the cloud's catalog).")]
DumpDir = Annotated[Path, _argument("DIR", "Directory to write <id> and <id>.img files into.")]
LoadDir = Annotated[Path, _argument("DIR", "A dump directory (ours or the old glance-replicator's).")]
CopySource = Annotated[
    str | None, _argument("SOURCE", "The Glance to copy from (- or nothing: the source cloud's catalog).")
]
CopyTargets = Annotated[
    list[str] | None,
    _argument("TARGET...", "The Glances to copy to, one or several (- or nothing: the target cloud's catalog)."),
]
Reference = Annotated[
    str | None, _argument("SOURCE", "The reference Glance (- or nothing: the source cloud's catalog).")
]
Checked = Annotated[
    list[str] | None, _argument("TARGET...", "The Glances to check (- or nothing: the target cloud's catalog).")
]


@grouped
def size(
    server: AnyServer = None, *, connection: OneSide, requests: Requests, selection: SelectionOptions, output: Listing
) -> None:
    """How many active images SERVER holds and how many bytes a dump would take; how many in all.

    The first line, on stdout, is the old glance-replicator's; both counts follow on stderr."""
    from replicator.cli import session
    from replicator.cli.views import console
    from replicator.engine import run as engine

    settings = build_settings(requests, selection)
    side = connection.side(server, Role.SOURCE)
    session.start_logging(output)

    async def work() -> int:
        store = await open_glance(side, settings)
        async with session.closing(store):
            inventory = await engine.measure(store, settings)
        if output.json:
            print(console.size_json(inventory))
        else:
            print(console.size_line(inventory))
            print(console.size_counts(inventory), file=sys.stderr)
        return session.say_absent_ids(settings.selection, inventory.missing_ids, inventory.left_out_ids)

    session.run(work, {Role.SOURCE: side})


@grouped
def dump(
    server: DumpedServer,
    path: DumpDir,
    *,
    connection: OneSide,
    requests: Requests,
    selection: SelectionOptions,
    transfer: Transfer,
    fields: Fields,
    watch: Watching,
    metrics: Metrics,
) -> None:
    """Write every image's metadata (DIR/<id>) and data (DIR/<id>.img) to disk; reruns resume."""
    from replicator.cli import session
    from replicator.stores.dumpdir import DumpDirStore

    settings = build_settings(requests, selection, transfer, fields)
    side = connection.side(server, Role.SOURCE)

    async def stores() -> session.Opened:
        side.check()  # a wrong address is said before DIR is made
        target = DumpDirStore(path, settings, create=True, dry_run=watch.dry_run)
        return session.Opened(await open_glance(side, settings), target)

    session.copy(stores, settings, watch, {Role.SOURCE: side}, "dump", metrics)


@grouped
def load(
    server: LoadedServer,
    path: LoadDir,
    *,
    connection: OneSide,
    requests: Requests,
    selection: SelectionOptions,
    transfer: Transfer,
    fields: Fields,
    upload: Upload,
    owners: Owners,
    watch: Watching,
    metrics: Metrics,
) -> None:
    """Put a dump into SERVER, keeping ids; update the metadata of images already there.

    Run it again to go on where a run stopped (done images are skipped); -j is the speed knob."""
    from replicator.cli import session
    from replicator.stores.dumpdir import DumpDirStore

    settings = build_settings(requests, selection, transfer, fields, upload, owners)
    side = connection.side(server, Role.TARGET)
    projects = owners.mapping()

    async def stores() -> session.Opened:
        side.check()
        source = DumpDirStore(path, settings, create=False)
        if not source.holds_dump():
            raise RunError(
                f"{path} holds no dump: no image record (a file named by an image id) is in it", kind=ErrorKind.INPUT
            )
        target, mapper = await session.open_target(side, settings, projects)
        return session.Opened(source, target, mapper)

    session.copy(stores, settings, watch, {Role.TARGET: side}, "load", metrics)


@grouped
def livecopy(
    source: CopySource = None,
    targets: CopyTargets = None,
    *,
    connection: TwoSides,
    requests: Requests,
    selection: SelectionOptions,
    transfer: Transfer,
    fields: Fields,
    upload: Upload,
    owners: TwoCloudOwners,
    pruning: Pruning,
    watch: Watching,
    metrics: Metrics,
) -> None:
    """Copy images straight from SOURCE to TARGET, data streamed through, never staged on disk.

    Run it again to go on where a run stopped (done images are skipped); -j is the speed knob.
    Several targets (TARGET TARGET..., or --target-cloud/--target-region repeated): each image
    is read from SOURCE once and sent to every target that needs it."""
    from replicator.cli import many, session

    settings = build_settings(requests, selection, transfer, fields, upload, owners, pruning)
    source_side, named = connection.sides_many(source, targets or [])
    projects = owners.mapping()
    if len(named) > 1:
        many.copy_many(source_side, named, settings, watch, projects, metrics)
    target_side = named[0].side
    session.copy(
        lambda: session.open_pair(source_side, target_side, settings, projects),
        settings,
        watch,
        {Role.SOURCE: source_side, Role.TARGET: target_side},
        "livecopy",
        metrics,
    )


@grouped
def compare(
    source: Reference = None,
    targets: Checked = None,
    *,
    connection: TwoSides,
    requests: Requests,
    selection: SelectionOptions,
    fields: Fields,
    owners: TwoCloudOwners,
    pruning: Pruning,
    output: Listing,
) -> None:
    """Report images missing from TARGET or whose metadata differs, field by field (with
    --prune, also those a livecopy would prune; between two clouds, with the projects mapped)."""
    from replicator.cli import many, session
    from replicator.cli.views import console
    from replicator.engine import run as engine

    settings = build_settings(requests, selection, fields, owners, pruning)
    source_side, named = connection.sides_many(source, targets or [])
    projects = owners.mapping()
    session.start_logging(output)
    if len(named) > 1:
        many.compare_many(source_side, named, settings, projects, output.json)
    target_side = named[0].side

    async def work() -> int:
        opened = await session.open_pair(source_side, target_side, settings, projects)
        async with session.closing(opened.source, opened.target):
            comparison = await engine.compare(opened.source, opened.target, settings, projects=opened.projects)
        print(console.compare_json(comparison) if output.json else console.compare_text(comparison))
        absent = session.say_absent_ids(
            settings.selection, comparison.walked.missing_ids, comparison.walked.left_out_ids
        )
        return max(1 if comparison.differences else 0, absent)

    session.run(work, {Role.SOURCE: source_side, Role.TARGET: target_side})


def serve(ctx: typer.Context) -> None:
    """Run the built-in Glance-compatible server (for demos, tests, benchmarks). --help for its options."""
    from replicator.server.__main__ import main as serve_main

    serve_main(list(ctx.args))


def demo(keep: DemoKeep = False) -> None:
    """Start two local servers, fill one with a dozen images, livecopy them, and compare."""
    from replicator.cli import session
    from replicator.cli.demo import run_demo

    session.run(lambda: run_demo(keep))
