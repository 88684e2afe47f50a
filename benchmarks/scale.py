"""Scenario 8, scale: listings of many images with nothing to do, and what a run holds of them.

Two servers make up the same N metadata-only images at start (`serve --generate-images N`:
users' snapshots, twenty-odd properties each, identical on both sides), so `compare` and
`livecopy --metaonly` walk two full listings and find nothing to do. For each N (and N = 0,
the empty-listing baseline) it measures the wall time, images listed per second and the peak
RSS of the replicator process; the memory a listing costs is the peak over the baseline,
divided by N. The target (issue 16): within 512 bytes per image at 200,000 images.

Up to 200,000 images, `compare` against an empty target measures the other side of a run's
memory: what it holds per image that needs work (every image, there), which is what a first
copy holds while its queue is long, and what `--order-by` holds before the first transfer.

At 10,000 images it also times the run a schedule makes when nothing changed (the CronJob's
`livecopy` command) against the two listings alone: `replicator size` of each side, and a bare
paging loop over both at once (`baselines/list_both.py`), the floor for any run.

`--before TREE` also runs the replicator from another source tree (a worktree of an older
commit), up to 200,000 images: an older version may hold every record, and 1,000,000 of them
do not fit in this machine's memory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import BENCH_DIR, VENV_BIN, Measurement, MiB, Servers, measure
from benchmarks.scenarios import REPEAT_UNDER, Check, Options, ScenarioResult

SIZES = (10_000, 100_000, 200_000, 1_000_000)
QUICK_SIZES = (1_000, 10_000)
#: Issue 16's target: at this many images, at most this many bytes of peak RSS per image listed.
TARGET_IMAGES = 200_000
TARGET_BYTES_PER_IMAGE = 512
#: Issue 17: a scheduled run over a pair of this many images, when nothing changed.
SCHEDULED_PAIR = 10_000
#: The CronJob's command (deploy/livecopy-cronjob.yaml) with its values, less its clouds and
#: files; its metrics port is any free one here.
CRONJOB_FLAGS = (
    "--concurrency", "8", "--quiet", "--prune", "deactivate", "--max-prune", "10",
    "--mark-property", "replicated_by", "--metrics-port", "0",
)  # fmt: skip
BEFORE_UP_TO = 200_000
#: Every image missing from the target: what a run holds per image of work (`compare` keeps every
#: difference; a first `livecopy` queues every action, `--order-by` before it starts).
ALL_WORK = "replicator compare, target empty: every image held as work"
WORK_UP_TO = 200_000
#: Generated images are made before the server answers: about 10 s per million, more on a busy machine.
START_SECONDS_PER_MILLION = 600

COMMANDS = {"compare": ("compare",), "livecopy --metaonly": ("livecopy", "--metaonly")}
LIST_BOTH = BENCH_DIR / "baselines" / "list_both.py"
#: Row labels of the scheduled-run comparison.
SCHEDULED = "scheduled livecopy, nothing to do"
LISTINGS = "both listings alone (aiohttp)"
SIZE_SOURCE, SIZE_TARGET = "replicator size, source", "replicator size, target"


@dataclass(frozen=True)
class Contender:
    name: str
    #: The command line; `{attempt}` in it is the attempt's number (for files runs must not share).
    argv: list[str]
    #: Another source tree of the replicator to run (`--before`), or None for ours.
    tree: Path | None = None
    #: The exit status of a complete run (`compare` exits 1 when the sides differ).
    success: int = 0


def scale(options: Options, servers: Servers) -> ScenarioResult:
    sizes = options.scale_sizes or (QUICK_SIZES if options.quick else SIZES)
    result = ScenarioResult(
        8,
        "Scale: many images, nothing to do",
        "images/s",
        f"two servers with the same N generated snapshots (no data), N = {', '.join(f'{n:,}' for n in sizes)}; "
        f"peak RSS over the empty listings per image listed",
        table="scale",
    )
    trees: list[tuple[str, Path | None]] = [("", None)]
    if options.before is not None:
        trees.append((f" (before: {_revision(options.before)})", options.before))
    replicator = str(VENV_BIN / "replicator")
    for count in (0, *sizes):
        print(f"  {count:,} images: starting two servers ...", flush=True)
        source, target = servers.start_pair(
            "--generate-images", str(count), timeout=60 + START_SECONDS_PER_MILLION * count / 1e6
        )
        for server in (source, target):
            _build_index(server.url)
        contenders = [
            Contender(f"replicator {name}{label}", [replicator, *command, source.url, target.url], tree)
            for label, tree in trees
            if tree is None or count <= BEFORE_UP_TO
            for name, command in COMMANDS.items()
        ]
        if count <= WORK_UP_TO:
            empty = servers.start()
            contenders.append(
                Contender(ALL_WORK, [replicator, "compare", source.url, empty.url], success=1 if count else 0)
            )
        _interleaved(options, servers, result, contenders, count)
        if count == SCHEDULED_PAIR:
            _scheduled(options, servers, result, source.url, target.url)
        servers.stop_all()
    _per_image(result)
    _checks(result, trees)
    _noise(result)
    return result


def _interleaved(
    options: Options, servers: Servers, result: ScenarioResult, contenders: Sequence[Contender], count: int
) -> None:
    """`options.repeat` rounds of every contender in turn, the fastest run of each kept (with its
    peak RSS; every run's time and peak noted). Taking turns, rather than one contender's runs
    after the other's, spreads the other work of a shared machine over all of them alike."""
    runs: dict[str, list[Measurement]] = {contender.name: [] for contender in contenders}
    for attempt in range(max(1, options.repeat)):
        for contender in contenders:
            done = runs[contender.name]
            if done and done[0].seconds > REPEAT_UNDER:
                continue
            log = None
            if options.log_dir:
                log = options.log_dir / f"s8-{contender.name.replace(' ', '_')}-{count}-{attempt}.log"
            row = measure(
                contender.name,
                [argument.replace("{attempt}", str(attempt)) for argument in contender.argv],
                images=count,
                nbytes=0,
                log=log,
                servers=servers.pids(),
                env={"PYTHONPATH": str(contender.tree)} if contender.tree is not None else None,
            )
            if row.exit_code != contender.success:
                row.note = f"exit {row.exit_code}"
            print(
                f"  {contender.name}, {count:,} images: {row.seconds:.2f} s, {row.peak_rss / MiB:.0f} MiB", flush=True
            )
            done.append(row)
    for contender in contenders:
        done = runs[contender.name]
        row = min([r for r in done if not r.note] or done, key=lambda r: r.seconds)
        row.extra["listed"] = count
        if len(done) > 1:
            row.extra["runs_s"] = [round(r.seconds, 3) for r in done]
            row.extra["runs_peak_rss_mib"] = [round(r.peak_rss / MiB, 1) for r in done]
        result.rows.append(row)


def _scheduled(options: Options, servers: Servers, result: ScenarioResult, source: str, target: str) -> None:
    """Issue 17: the hourly run when nothing changed, against the time of its two listings."""
    reports = options.workdir / "scheduled-reports"
    reports.mkdir(exist_ok=True)
    replicator = str(VENV_BIN / "replicator")

    report, metrics = str(reports / "run-{attempt}.jsonl"), str(reports / "glance-mirror.prom")
    cronjob = [replicator, "livecopy", source, target, *CRONJOB_FLAGS, "--metrics-file", metrics, "--report", report]
    contenders = [
        Contender(SCHEDULED, cronjob),
        Contender(LISTINGS, [str(VENV_BIN / "python"), str(LIST_BOTH), source, target]),
        Contender(SIZE_SOURCE, [replicator, "size", source]),
        Contender(SIZE_TARGET, [replicator, "size", target]),
    ]
    _interleaved(options, servers, result, contenders, SCHEDULED_PAIR)
    shutil.rmtree(reports, ignore_errors=True)


def _build_index(url: str) -> None:
    """Ask once for the order the replicator lists in: the server builds that index on first use,
    which is the server's start-up, not the run's time."""
    with urllib.request.urlopen(f"{url}/v2/images?limit=1&sort_key=id&sort_dir=asc", timeout=600) as answer:
        json.load(answer)


def _per_image(result: ScenarioResult) -> None:
    """Each row's peak RSS over the same command's run on empty listings, per image listed."""
    empty = {row.contender: row.peak_rss for row in result.rows if row.extra.get("listed") == 0}
    for row in result.rows:
        baseline, listed = empty.get(row.contender), row.extra.get("listed", 0)
        if baseline is not None and listed:
            row.extra["over_empty_mib"] = round((row.peak_rss - baseline) / MiB, 1)
            row.extra["bytes_per_image"] = round((row.peak_rss - baseline) / listed)


def _checks(result: ScenarioResult, trees: Sequence[tuple[str, Path | None]]) -> None:
    for name in COMMANDS:
        row = _find(result, f"replicator {name}", TARGET_IMAGES)
        if row is not None and "bytes_per_image" in row.extra:
            result.checks.append(
                Check(
                    f"{name}, {TARGET_IMAGES:,} identical images: ≤ {TARGET_BYTES_PER_IMAGE} bytes of peak RSS "
                    "per image over the empty listings",
                    row.extra["bytes_per_image"],
                    TARGET_BYTES_PER_IMAGE,
                    higher_is_better=False,
                )
            )
        for label, tree in trees:
            if tree is None:
                continue
            largest = max((r.extra["listed"] for r in result.rows if r.contender == f"replicator {name}{label}"),
                          default=0)  # fmt: skip
            ours, before = (
                _find(result, f"replicator {name}", largest),
                _find(result, f"replicator {name}{label}", largest),
            )
            if largest and ours and before:
                result.checks.append(
                    Check(
                        f"{name}, {largest:,} images: time per image no worse than {label.strip(' ()')} "
                        "(its time / ours ≥ 1)",
                        before.seconds / ours.seconds,
                        1.0,
                    )
                )
    scheduled, listings = _find(result, SCHEDULED, SCHEDULED_PAIR), _find(result, LISTINGS, SCHEDULED_PAIR)
    sizes = [_find(result, name, SCHEDULED_PAIR) for name in (SIZE_SOURCE, SIZE_TARGET)]
    if scheduled and all(sizes):
        both = sum(row.seconds for row in sizes if row)
        result.checks.append(
            Check(
                f"scheduled livecopy over a {SCHEDULED_PAIR:,}-image pair, nothing changed: within the time of its "
                "two listings (`size` of each side, one after the other: its time / theirs ≤ 1)",
                scheduled.seconds / both,
                1.0,
                higher_is_better=False,
            )
        )
        if listings:
            result.notes.append(
                f"the scheduled run took {scheduled.seconds:.2f} s; both listings paged at once by a bare aiohttp "
                f"loop, with nothing planned, {listings.seconds:.2f} s ({scheduled.seconds / listings.seconds:.1f}×)"
            )


def _noise(result: ScenarioResult) -> None:
    """How far each contender's repeated runs were from its fastest: the machine's noise."""
    spreads = sorted(
        max(runs) / min(runs) - 1 for row in result.rows if len(runs := row.extra.get("runs_s", ())) > 1 and min(runs)
    )
    if spreads:
        result.notes.append(
            f"noise: a contender's slowest run took {spreads[len(spreads) // 2]:.0%} longer than its fastest "
            f"(median over the rows), {spreads[-1]:.0%} at most"
        )


def _find(result: ScenarioResult, contender: str, listed: int) -> Measurement | None:
    return next((r for r in result.rows if r.contender == contender and r.extra.get("listed") == listed), None)


def _revision(tree: Path) -> str:
    """The short commit of a source tree, to name its rows; its folder's name when it is no git tree."""
    try:
        return subprocess.run(
            ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return tree.name
