"""`python -m replicator.server` (also `replicator serve`): run one server until stopped."""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import ssl
import sys
from pathlib import Path

from aiohttp import web

from replicator.server.app import create_app
from replicator.server.config import FaultConfig, ServerConfig

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([KMG]?)(?:i?B)?$", re.IGNORECASE)


def byte_rate(text: str) -> int:
    """`10M`, `512K`, `1G` or plain bytes; binary units."""
    match = _SIZE.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    number, unit = match.groups()
    return int(float(number) * 1024 ** " KMG".index(unit.upper() or " "))


def api_list(text: str) -> tuple[str, ...]:
    apis = tuple(sorted({part.strip().lower() for part in text.split(",") if part.strip()}))
    if not apis or set(apis) - {"v1", "v2"}:
        raise argparse.ArgumentTypeError(f"--api takes v1, v2 or v1,v2, not {text!r}")
    return apis


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="replicator serve",
        description="A Glance-compatible image server (v2 API, and v1 with --api v1,v2) with fault switches, for demos, "
        "tests and benchmarks.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9292)
    p.add_argument("--data-dir", type=Path, required=True, help="Where images are kept.")
    p.add_argument("--api-limit-max", "--page-cap", dest="page_cap", type=int, default=1000,
                   help="Largest page a listing returns (Glance's api_limit_max).")
    p.add_argument("--limit-param-default", type=int, default=25, help="Page size when no limit is given.")
    p.add_argument("--token", help="Require this X-Auth-Token on every request.")
    p.add_argument("--project-id", default=ServerConfig.project_id, help="Owner of new images.")
    p.add_argument("--no-direct-upload", action="store_true", help="Refuse PUT .../file (import only).")
    p.add_argument("--stores", default="fs", help="Comma-separated store ids; the first is the default.")
    p.add_argument("--api", type=api_list, default=("v2",),
                   help="APIs to serve: v2 (a current Glance), v1,v2 or v1 (an older one).")
    p.add_argument("--cert-file", type=Path, help="Serve https with this certificate (PEM)...")
    p.add_argument("--key-file", type=Path, help="...and this private key (PEM).")
    faults = p.add_argument_group("fault switches (also POST /_faults at run time)")
    faults.add_argument("--drop-after-bytes", type=byte_rate, help="Cut downloads after this many bytes.")
    faults.add_argument("--drop-upload-after-bytes", type=byte_rate, help="Cut uploads after this many bytes.")
    faults.add_argument("--drop-count", type=int, help="How many bodies to cut (default: all).")
    faults.add_argument("--corrupt-after-bytes", type=byte_rate, help="Flip the byte at this offset of downloads.")
    faults.add_argument("--corrupt-count", type=int, help="How many downloads to corrupt (default: all).")
    faults.add_argument("--stall-seconds", type=float, default=0.0, help="Stall bodies after their first chunk.")
    faults.add_argument("--stall-count", type=int, help="How many bodies to stall (default: all).")
    faults.add_argument("--error-rate", type=float, default=0.0, help="Share of requests answered with an error.")
    faults.add_argument("--error-status", type=int, default=503, help="Status of injected errors.")
    faults.add_argument("--retry-after", type=float, help="Retry-After seconds sent with injected errors.")
    faults.add_argument("--error-paths", default="", help="Comma-separated path substrings errors apply to.")
    faults.add_argument("--seed", type=int, help="Seed for the error dice.")
    faults.add_argument("--latency", type=float, default=0.0, help="Seconds added before every response.")
    faults.add_argument("--bandwidth", type=byte_rate, help="Bytes per second per body, e.g. 10M.")
    faults.add_argument("--token-ttl", type=float, help="Seconds a token stays valid (POST /_token for a new one).")
    return p


def config_from(args: argparse.Namespace) -> ServerConfig:
    faults = FaultConfig(
        drop_after_bytes=args.drop_after_bytes, drop_count=args.drop_count,
        drop_upload_after_bytes=args.drop_upload_after_bytes,
        corrupt_after_bytes=args.corrupt_after_bytes, corrupt_count=args.corrupt_count, stall_seconds=args.stall_seconds,
        stall_count=args.stall_count, error_rate=args.error_rate, error_status=args.error_status,
        retry_after=args.retry_after, error_paths=[p for p in args.error_paths.split(",") if p],
        seed=args.seed, latency=args.latency, bandwidth=args.bandwidth, token_ttl=args.token_ttl,
    )  # fmt: skip
    return ServerConfig(
        page_cap=args.page_cap, default_limit=args.limit_param_default, project_id=args.project_id,
        token=args.token, direct_upload=not args.no_direct_upload,
        stores=tuple(s for s in args.stores.split(",") if s) or ("fs",), apis=args.api, faults=faults,
    )  # fmt: skip


async def serve(
    host: str, port: int, data_dir: Path, config: ServerConfig, tls: ssl.SSLContext | None = None
) -> None:
    """Serve until SIGINT or SIGTERM."""
    runner = web.AppRunner(create_app(data_dir, config), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=1024, ssl_context=tls).start()
    scheme = "https" if tls else "http"
    apis = " and ".join(config.apis)
    print(f"replicator serve: Glance {apis} API on {scheme}://{host}:{port}, data in {data_dir}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def run(host: str, port: int, data_dir: Path, config: ServerConfig, tls: ssl.SSLContext | None = None) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(host, port, data_dir, config, tls))
    else:
        uvloop.run(serve(host, port, data_dir, config, tls))


def tls_context(cert_file: Path | None, key_file: Path | None) -> ssl.SSLContext | None:
    if cert_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        tls = tls_context(args.cert_file, args.key_file)
        run(args.host, args.port, args.data_dir, config_from(args), tls)
    except OSError as exc:  # port in use, data folder not writable
        print(f"replicator serve: error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
