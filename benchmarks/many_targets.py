"""Scenario 9, many targets: one source, N targets at a distance (scenario 3's link).

For N = 1, 2, 4, 8 (`--quick`: 1, 2, 4) it runs one `livecopy SOURCE T1 ... TN` against N fresh
targets, and, for N > 1, the two ways operators do it today: N `livecopy` runs one after the
other, and N runs side by side. Each row says the wall time and how many times the source's
data was read (`source_read_x`: the bytes the source served, from its `GET /_faults`, over the
bytes of the images). The targets (issue 23): with the most targets, the source is read once
(N separate runs: N times), and the wall time stays within 1.3x of a one-target copy.
"""

from __future__ import annotations

import asyncio
import shlex
import shutil
from collections.abc import Callable

from benchmarks.harness import VENV_BIN, Measurement, MiB, SeedImage, Servers, count_images, measure, seed
from benchmarks.scenarios import DISTANCE_BANDWIDTH, DISTANCE_LATENCY, Check, Options, ScenarioResult, images_of
from tests.support.servers import ReplicatorServe

NUMBER = 9
CONCURRENCY = 8
#: Issue 23's target: the wall time of a copy to the most targets over a copy to one.
WALL_TIME_RATIO = 1.3


def many_targets(options: Options, servers: Servers) -> ScenarioResult:
    count, size = (16, 512 * 1024) if options.quick else (32, 1 * MiB)
    counts = (1, 2, 4) if options.quick else (1, 2, 4, 8)
    args = ["--latency", str(DISTANCE_LATENCY), "--bandwidth", str(DISTANCE_BANDWIDTH)]
    result = ScenarioResult(
        NUMBER,
        "Many targets",
        "MiB/s",
        f"{count} × {size // 1024} KiB to 1..{counts[-1]} targets, {DISTANCE_LATENCY * 1000:.0f} ms per response, "
        f"{DISTANCE_BANDWIDTH // MiB} MiB/s per connection, -j{CONCURRENCY} per target",
    )
    # The source with its control paths: its byte counter says how often the data was read.
    source = ReplicatorServe(options.workdir / "many-source", extra_args=args, control=True)
    source.start()
    try:
        images = images_of(NUMBER, count, size)
        asyncio.run(seed(source.url, images))
        total = sum(image.size for image in images)
        for n in counts:
            ways = [(f"replicator, {n} target{'s' if n > 1 else ''}", _one_run)]
            if n > 1:
                ways += [(f"{n} separate runs", _one_after_another), (f"{n} runs side by side", _side_by_side)]
            for contender, argv in ways:
                result.rows.append(_measure(contender, argv, source, servers, args, n, images, total))
    finally:
        source.stop()
        shutil.rmtree(source.workdir, ignore_errors=True)
    one = result.find("replicator, 1 target")
    most = result.find(f"replicator, {counts[-1]} targets")
    if one and most:
        result.checks.append(
            Check(
                f"{counts[-1]} targets: source read ≤ 1× the data",
                most.extra["source_read_x"],
                1.0,
                higher_is_better=False,
            )
        )
        result.checks.append(
            Check(
                f"{counts[-1]} targets: wall time ≤ {WALL_TIME_RATIO}× one target",
                most.seconds / one.seconds,
                WALL_TIME_RATIO,
                higher_is_better=False,
            )
        )
    return result


def _livecopy(source: str, targets: list[str]) -> list[str]:
    return [str(VENV_BIN / "replicator"), "livecopy", source, *targets, "--concurrency", str(CONCURRENCY), "--quiet"]


def _one_run(source: str, targets: list[str]) -> list[str]:
    return _livecopy(source, targets)


def _one_after_another(source: str, targets: list[str]) -> list[str]:
    return ["sh", "-c", " && ".join(shlex.join(_livecopy(source, [target])) for target in targets)]


def _side_by_side(source: str, targets: list[str]) -> list[str]:
    runs = " ".join(f"{shlex.join(_livecopy(source, [target]))} &" for target in targets)
    return ["sh", "-c", f"{runs} wait"]


def _measure(
    contender: str,
    argv: Callable[[str, list[str]], list[str]],
    source: ReplicatorServe,
    servers: Servers,
    args: list[str],
    n: int,
    images: list[SeedImage],
    total: int,
) -> Measurement:
    print(f"  {contender} ...", end="", flush=True)
    targets = [servers.start(*args) for _ in range(n)]
    before = int(source.faults()["served_bytes"])
    row = measure(
        contender,
        argv(source.url, [target.url for target in targets]),
        images=len(images) * n,
        nbytes=total * n,
        concurrency=CONCURRENCY,
        servers=servers.pids(),
    )
    row.extra["targets"] = n
    row.extra["source_read_x"] = round((int(source.faults()["served_bytes"]) - before) / total, 2)
    for target in targets:
        copied, nbytes = asyncio.run(count_images(target.url))
        if (copied, nbytes) != (len(images), total):
            row.note = f"INCOMPLETE: {copied}/{len(images)} images on a target"
        servers.stop(target)
        shutil.rmtree(target.workdir, ignore_errors=True)
    if not row.note and row.exit_code != 0:
        row.note = f"exit {row.exit_code}"
    print(f" {row.seconds:.2f} s, source read {row.extra['source_read_x']}× {row.note}", flush=True)
    return row
