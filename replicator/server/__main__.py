"""`python -m replicator.server` (also `replicator serve`): run one server until stopped."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import ssl
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn

from aiohttp import web

from replicator.server.app import create_app
from replicator.server.config import FaultConfig, ServerConfig
from replicator.server.control import TOKEN_VARIABLE
from replicator.server.seeded import seed_images
from replicator.server.switches import SWITCHES, Reader, byte_count


def api_list(text: str) -> tuple[str, ...]:
    apis = tuple(sorted({part.strip().lower() for part in text.split(",") if part.strip()}))
    if not apis or set(apis) - {"v1", "v2"}:
        raise argparse.ArgumentTypeError(f"--api takes v1, v2 or v1,v2, not {text!r}")
    return apis


def port_number(text: str) -> int:
    """A TCP port, 1-65535 (0: any free one, for tests): never a value the OS would wrap."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--port takes a number from 0 to 65535, not {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"--port takes a number from 0 to 65535, not {port}")
    return port


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as every other command gives them: one line, the help to see, exit 2."""

    def error(self, message: str) -> NoReturn:
        print(f"replicator: error: {message} (see 'replicator serve --help')", file=sys.stderr)
        sys.exit(2)


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="replicator serve",
        usage="replicator serve --data-dir DIR [OPTIONS]",
        description="A Glance-compatible image server (v2 API, and v1 with --api v1,v2) with fault switches, for demos, "
        "tests and benchmarks.",
    )
    p.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
    p.add_argument("--port", type=port_number, default=9292, help="TCP port (default 9292; 0: any free one).")
    p.add_argument("--data-dir", type=Path, required=True, help="Where images are kept.")
    p.add_argument(
        "--api-limit-max",
        "--page-cap",
        dest="page_cap",
        type=int,
        default=1000,
        help="Largest page a listing returns (Glance's api_limit_max).",
    )
    p.add_argument("--limit-param-default", type=int, default=25, help="Page size when no limit is given.")
    p.add_argument("--token", help="Require this X-Auth-Token on every request.")
    p.add_argument("--project-id", default=ServerConfig.project_id, help="Owner of new images.")
    p.add_argument("--no-direct-upload", action="store_true", help="Refuse PUT .../file (import only).")
    p.add_argument("--stores", default="fs", help="Comma-separated store ids; the first is the default.")
    p.add_argument(
        "--api",
        type=api_list,
        default=("v2",),
        help="APIs to serve: v2 (a current Glance), v1,v2 or v1 (an older one).",
    )
    p.add_argument("--cert-file", type=Path, help="Serve https with this certificate (PEM)...")
    p.add_argument("--key-file", type=Path, help="...and this private key (PEM).")
    p.add_argument(
        "--generate-images",
        type=int,
        default=0,
        metavar="N",
        help="Start with N made-up metadata-only images (users' snapshots: active, private, twenty-odd "
        "properties each, no data held; the same N gives the same images), in memory only: for listings at scale.",
    )
    p.add_argument(
        "--seed-images",
        type=int,
        default=0,
        metavar="N",
        help="Before serving, upload N images of random data (seed-0, seed-1...: active, raw, with the checksum "
        "and os_hash_value computed from their data), kept in --data-dir like any other: for experiments.",
    )
    p.add_argument(
        "--seed-size",
        type=_cli(byte_count),
        default=1024 * 1024,
        metavar="SIZE",
        help="The size of each seeded image (bytes, or 64K, 10M, 1G; default 1M).",
    )
    control = p.add_argument_group(
        "control paths",
        "GET/POST /_faults (see or change the fault switches) and POST /_token (mint an API token) exist only "
        "with --control, and answer only requests whose X-Auth-Token is the admin token.",
    )
    control.add_argument("--control", action="store_true", help="Serve the control paths.")
    control.add_argument(
        "--control-token",
        metavar="TOKEN",
        help=f"The admin token; default: the environment variable {TOKEN_VARIABLE} (out of sight "
        "of ps). One of the two is needed with --control.",
    )
    faults = p.add_argument_group("fault switches (with --control, also POST /_faults at run time)")
    for name, switch in SWITCHES.items():
        # No default: a switch left out keeps FaultConfig's own.
        faults.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=_cli(switch.read),
            metavar=switch.metavar,
            default=argparse.SUPPRESS,
            help=switch.help,
        )
    return p


def _cli(read: Reader) -> Callable[[str], Any]:
    """A switch's reader as argparse calls it: its error is argparse's usage error."""

    def parse(text: str) -> Any:
        try:
            return read(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    return parse


def config_from(args: argparse.Namespace, control_token: str | None) -> ServerConfig:
    faults = FaultConfig(**{name: getattr(args, name) for name in SWITCHES if hasattr(args, name)})
    return ServerConfig(
        page_cap=args.page_cap, default_limit=args.limit_param_default, project_id=args.project_id,
        token=args.token, direct_upload=not args.no_direct_upload,
        stores=tuple(s for s in args.stores.split(",") if s) or ("fs",), apis=args.api, faults=faults,
        control_token=control_token, generated_images=args.generate_images,
    )  # fmt: skip


async def start(
    host: str, port: int, data_dir: Path, config: ServerConfig, tls: ssl.SSLContext | None = None
) -> web.AppRunner:
    """The server listening on `host:port`; `await runner.cleanup()` stops it.

    The one way to start it: the command below, and the tests' in-process server
    (`tests/support/inprocess.py`), which runs the same application in a thread.
    """
    runner = web.AppRunner(create_app(data_dir, config), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=1024, ssl_context=tls).start()
    return runner


async def serve(
    host: str,
    port: int,
    data_dir: Path,
    config: ServerConfig,
    tls: ssl.SSLContext | None = None,
    seed: tuple[int, int] = (0, 0),
) -> None:
    """Serve until SIGINT or SIGTERM; first, `seed` (count, size): images with data to upload."""
    if seed[0]:
        seeded = await seed_images(data_dir, config, *seed)
        print(f"replicator serve: seeded {len(seeded)} images of {seed[1]} bytes each", flush=True)
    runner = await start(host, port, data_dir, config, tls)
    scheme = "https" if tls else "http"
    apis = " and ".join(config.apis)
    print(f"replicator serve: Glance {apis} API on {scheme}://{host}:{port}, data in {data_dir}", flush=True)
    if config.control_token is not None:
        print("replicator serve: control paths /_faults and /_token on (admin token required)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def run(
    host: str,
    port: int,
    data_dir: Path,
    config: ServerConfig,
    tls: ssl.SSLContext | None = None,
    seed: tuple[int, int] = (0, 0),
) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(host, port, data_dir, config, tls, seed))
    else:
        uvloop.run(serve(host, port, data_dir, config, tls, seed))


def tls_context(cert_file: Path | None, key_file: Path | None) -> ssl.SSLContext | None:
    if cert_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


def from_command_line(
    argv: list[str] | None, environment: Mapping[str, str]
) -> tuple[argparse.Namespace, ServerConfig, ssl.SSLContext | None]:
    """The arguments, the configuration and the TLS context a command line asks for.

    Usage errors exit 2 (argparse's); an unreadable certificate raises `OSError`.
    """
    options = parser()
    args = options.parse_args(argv)
    control_token = None
    if args.control:
        control_token = args.control_token or environment.get(TOKEN_VARIABLE)
        if not control_token:
            options.error(f"--control needs the admin token: --control-token TOKEN, or {TOKEN_VARIABLE} set")
    if args.generate_images < 0:
        options.error("--generate-images takes a count of at least 0")
    if args.seed_images < 0:
        options.error("--seed-images takes a count of at least 0")
    return args, config_from(args, control_token), tls_context(args.cert_file, args.key_file)


def main(argv: list[str] | None = None) -> None:
    try:
        args, config, tls = from_command_line(argv, os.environ)
        run(args.host, args.port, args.data_dir, config, tls, (args.seed_images, args.seed_size))
    except OSError as exc:  # port in use, data folder not writable
        print(f"replicator: error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
