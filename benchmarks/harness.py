"""Run one program under measurement, and start, seed and stop the servers it talks to.

Every contender, ours and each baseline, runs as a real child process; `measure` times it
and samples the resident memory of its whole process tree (curl pipelines are many processes)
every few milliseconds. The peak is the larger of that sampled sum and the kernel's own
high-water mark of the child (`VmHWM`, exact for one process, which is what our tool is).
`ru_maxrss` from `wait4` would not do: it counts the forked copy of this Python before `exec`.

CPU time is counted too, because on a small machine a copy between two local servers is
CPU-bound and the wall time alone cannot say whose CPU it was: the contender's (its whole
process tree, from `getrusage(RUSAGE_CHILDREN)` before and after: every descendant is waited
for by the time it exits) and the servers' (their process trees, from psutil, before and after).
"""

from __future__ import annotations

import asyncio
import compileall
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

# The test suite's server helpers are reused as they are: benchmarks start servers exactly the
# way the tests do.
from tests.support.glance_database import SqliteDatabases
from tests.support.servers import GlanceTemplate, RealGlance, ReplicatorServe, ServerProcess

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
VENV_BIN = Path(sys.executable).parent

MiB = 2**20
SAMPLE_SECONDS = 0.01


@dataclass
class Measurement:
    """One contender's run: what it moved, how long it took, how much memory it held."""

    contender: str
    seconds: float
    images: int
    bytes: int
    peak_rss: int
    exit_code: int
    concurrency: int = 1
    note: str = ""
    #: CPU seconds (user + system) of the contender's process tree, and of the servers'.
    cpu_seconds: float = 0.0
    server_cpu_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mib_per_s(self) -> float:
        return self.bytes / MiB / self.seconds if self.seconds else 0.0

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "contender": self.contender,
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 3),
            "images": self.images,
            "bytes": self.bytes,
            "mib_per_s": round(self.mib_per_s, 1),
            "images_per_s": round(self.images_per_s, 1),
            "peak_rss_mib": round(self.peak_rss / MiB, 1),
            "cpu_s": round(self.cpu_seconds, 2),
            "server_cpu_s": round(self.server_cpu_seconds, 2),
            "exit_code": self.exit_code,
            "note": self.note,
            **self.extra,
        }


def compile_once(tree: Path = ROOT) -> None:
    """Write the bytecode of `tree`'s replicator package before anything is measured.

    An editable install run with PYTHONDONTWRITEBYTECODE (set on this machine) compiles every
    module again at every start: +0.2 CPU-s per run that no installed program (the curl rows,
    glanceclient) pays. `measure` runs the contenders without that variable, reading this."""
    compileall.compile_dir(tree / "replicator", quiet=1)


def contender_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a contender runs in: this one and `extra`, but not PYTHONDONTWRITEBYTECODE
    (the contender reads the bytecode `compile_once` wrote, as an installed program would)."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    return {**env, **(extra or {})}


def measure(
    contender: str,
    argv: Sequence[str],
    *,
    images: int,
    nbytes: int,
    concurrency: int = 1,
    stdin_text: str | None = None,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    servers: Sequence[int] = (),
) -> Measurement:
    """Run `argv` to its end; time it, track the peak RSS of its process tree, and count the CPU
    time it and the `servers` (process ids) spent meanwhile."""
    log_file = open(log, "wb") if log else subprocess.DEVNULL
    servers_before = sum(tree_cpu_seconds(pid) for pid in servers)
    children_before = _children_cpu_seconds()
    started = time.perf_counter()
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
        env=contender_env(env),
        start_new_session=True,
    )
    sampler = TreeSampler(process.pid)
    sampler.start()
    if stdin_text is not None:
        assert process.stdin is not None
        process.stdin.write(stdin_text.encode())
        process.stdin.close()
    process.wait()
    seconds = time.perf_counter() - started
    cpu = _children_cpu_seconds() - children_before
    server_cpu = sum(tree_cpu_seconds(pid) for pid in servers) - servers_before
    sampler.stop()
    if log:
        log_file.close()  # type: ignore[union-attr]
    return Measurement(
        contender,
        seconds,
        images,
        nbytes,
        sampler.peak,
        process.returncode,
        concurrency,
        cpu_seconds=cpu,
        server_cpu_seconds=server_cpu,
    )


def _children_cpu_seconds() -> float:
    """CPU time of this process's children (and theirs) that have ended and been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tree_cpu_seconds(pid: int) -> float:
    """CPU time so far of a running process and its live descendants (gunicorn's workers)."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    for proc in processes:
        try:
            times = proc.cpu_times()
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
        total += times.user + times.system
    return total


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and all its descendants until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self._pid = pid
        self._done = threading.Event()
        self.peak = 0

    def run(self) -> None:
        try:
            root = psutil.Process(self._pid)
        except psutil.NoSuchProcess:
            return
        while not self._done.is_set():
            total = 0
            try:
                processes = [root, *root.children(recursive=True)]
                self.peak = max(self.peak, _high_water_mark(self._pid))
            except psutil.NoSuchProcess:
                return
            for proc in processes:
                try:
                    total += proc.memory_info().rss
                except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                    pass
            self.peak = max(self.peak, total)
            self._done.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._done.set()
        self.join()


def _high_water_mark(pid: int) -> int:
    """The kernel's peak RSS of the process's current program (reset by exec), in bytes."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        raise psutil.NoSuchProcess(pid) from None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


# --- servers -----------------------------------------------------------------------------------


class Servers:
    """Every server a scenario starts, stopped together at the end (or on failure)."""

    def __init__(self, workdir: Path, *, real_glance: bool = False) -> None:
        self.workdir = workdir
        self._started: list[ServerProcess] = []
        self._template: GlanceTemplate | None = None
        self._real = real_glance
        self._count = 0

    def start(self, *extra_args: str) -> ServerProcess:
        """A fresh, empty server (ours, or a real Glance for scenario 6)."""
        self._count += 1
        folder = self.workdir / f"server-{self._count}"
        if self._real:
            if self._template is None:
                # SQLite, one thread: the configuration the published numbers were measured on.
                self._template = GlanceTemplate.build(self.workdir / "glance-template", SqliteDatabases)
            server: ServerProcess = RealGlance(self._template, folder)
        else:
            # No control paths: the benchmarks set their faults on the command line.
            server = ReplicatorServe(folder, extra_args=list(extra_args), control=False)
        server.start()
        self._started.append(server)
        return server

    def start_pair(self, *extra_args: str, timeout: float) -> tuple[ServerProcess, ServerProcess]:
        """Two of our servers started side by side (each may spend long making up images before
        it answers: `--generate-images`), waited for up to `timeout` seconds."""
        pair = []
        for _ in range(2):
            self._count += 1
            server = ReplicatorServe(self.workdir / f"server-{self._count}", extra_args=list(extra_args), control=False)
            server.launch()
            self._started.append(server)
            pair.append(server)
        for server in pair:
            server.wait_ready(timeout)
        return pair[0], pair[1]

    def stop(self, server: ServerProcess) -> None:
        server.stop()
        self._started.remove(server)

    def stop_all(self) -> None:
        for server in list(self._started):
            self.stop(server)

    def pids(self) -> list[int]:
        """The running servers' process ids, for their CPU time (the test helpers keep the
        `Popen` private; the benchmark only reads its pid)."""
        return [s._process.pid for s in self._started if s._process is not None]  # noqa: SLF001


def scratch_dir() -> Path:
    """Where servers keep their data: a fresh folder in memory (/dev/shm) where there is one.

    The servers' disk writes are not what is measured; a virtual disk's allocation costs vary
    from run to run by more than the differences between contenders. `BENCH_TMPDIR` overrides.
    """
    base = os.environ.get("BENCH_TMPDIR")
    if base is None and Path("/dev/shm").is_dir() and shutil.disk_usage("/dev/shm").free > 10 * 2**30:
        base = "/dev/shm"
    return Path(tempfile.mkdtemp(prefix="replicator-bench-", dir=base))


# --- seeding through the HTTP API --------------------------------------------------------------


@dataclass(frozen=True)
class SeedImage:
    id: str
    name: str
    size: int


def image_id(scenario: int, index: int) -> str:
    """Stable ids, so every contender and every run sees the same data."""
    return f"{scenario:08x}-0000-4000-8000-{index:012x}"


def pattern_chunk(seed: int, size: int) -> bytes:
    """Incompressible bytes, different per image, generated quickly (a hash chain, tiled)."""
    block = b"".join(hashlib.sha512(f"{seed}:{i}".encode()).digest() for i in range(1024))  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


async def seed(
    base_url: str,
    images: Sequence[SeedImage],
    *,
    with_data: bool = True,
    parallel: int = 16,
    chunk: int = 4 * MiB,
) -> None:
    """Create each image on `base_url` (raw/bare, same ids everywhere) and upload its bytes."""
    gate = asyncio.Semaphore(parallel)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=parallel)) as session:

        async def one(index: int, image: SeedImage) -> None:
            async with gate:
                body = {"id": image.id, "name": image.name, "disk_format": "raw", "container_format": "bare"}
                async with session.post(f"{base_url}/v2/images", json=body) as response:
                    if response.status != 201:
                        raise RuntimeError(f"seed create {image.id}: {response.status} {await response.text()}")
                if not with_data:
                    return
                block = pattern_chunk(index, min(image.size, chunk))

                async def data() -> Any:
                    left = image.size
                    while left > 0:
                        piece = block[: min(left, len(block))]
                        left -= len(piece)
                        yield piece

                headers = {"Content-Type": "application/octet-stream", "Content-Length": str(image.size)}
                async with session.put(
                    f"{base_url}/v2/images/{image.id}/file", data=data(), headers=headers
                ) as response:
                    if response.status not in (201, 204):
                        raise RuntimeError(f"seed upload {image.id}: {response.status} {await response.text()}")

        await asyncio.gather(*(one(i, image) for i, image in enumerate(images)))


async def listed(base_url: str) -> AsyncIterator[dict]:
    """Every image record on a server, page by page."""
    url: str | None = f"{base_url}/v2/images?limit=1000"
    async with aiohttp.ClientSession() as session:
        while url:
            async with session.get(url) as response:
                page = await response.json()
            for record in page["images"]:
                yield record
            nxt = page.get("next")
            url = f"{base_url}{nxt}" if nxt else None


async def count_images(base_url: str) -> tuple[int, int]:
    """(active images, their bytes) on a server: how each run's result is checked."""
    images = 0
    total = 0
    async for record in listed(base_url):
        if record.get("status") == "active":
            images += 1
            total += record.get("size") or 0
    return images, total


async def count_all(base_url: str) -> int:
    """Every image record on a server, whatever its status (metadata-only copies stay queued)."""
    return len([record async for record in listed(base_url)])
