"""Benchmarks: our livecopy against the tools operators use today, on the same data, in one run.

    .venv/bin/python -m benchmarks.run                     # every scenario, full scale (from the repository root)
    .venv/bin/python -m benchmarks.run --scenario 1 --quick
    .venv/bin/python -m benchmarks.run -s 3 -s 5 --update-readme

Prints each scenario's table as it finishes, and writes `benchmarks/results/latest.json`,
`latest.md` and (for scenario 3) `distance.png`; a `--quick` run writes `latest-quick.*` and
`distance-quick.png` instead, so it never replaces full-scale results. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import report, scenarios
from benchmarks.harness import BENCH_DIR, Servers, compile_once, scratch_dir
from benchmarks.many_targets import many_targets
from benchmarks.scale import scale
from benchmarks.scenarios import Options

RESULTS = BENCH_DIR / "results"
SCENARIOS = {**scenarios.SCENARIOS, 8: scale, 9: many_targets}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "-s",
        "--scenario",
        type=int,
        action="append",
        choices=sorted(SCENARIOS),
        help="run this scenario (repeat for more; default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="smaller data: a whole run in a few minutes")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also run our tool under py-spy (scenarios 1, 2); speedscope files go to results/",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run every contender N times and keep its fastest run (a shared machine's noise)",
    )
    parser.add_argument(
        "--images",
        type=int,
        action="append",
        metavar="N",
        help="scenario 8: list N images on each side (repeat for more; default 10,000 to 1,000,000, "
        "--quick 1,000 and 10,000)",
    )
    parser.add_argument(
        "--before",
        type=Path,
        metavar="TREE",
        help="scenario 8: also run the replicator from this source tree, e.g. a worktree of an older "
        "commit (git worktree add /tmp/old COMMIT), up to 200,000 images",
    )
    parser.add_argument("--update-readme", action="store_true", help="write the tables into benchmarks/README.md")
    parser.add_argument("--keep", action="store_true", help="keep the servers' data and logs (printed at the end)")
    parser.add_argument(
        "--render",
        action="store_true",
        help="run nothing: remake latest.md, the plot (and README) from results/latest.json",
    )
    args = parser.parse_args()
    stem = "latest-quick" if args.quick else "latest"
    if args.render:
        return render(json.loads((RESULTS / f"{stem}.json").read_text()), stem, args.update_readme)

    chosen = args.scenario or sorted(SCENARIOS)
    compile_once()
    if args.before:
        compile_once(args.before.resolve())
    RESULTS.mkdir(exist_ok=True)
    workdir = scratch_dir()
    logs = workdir / "logs"
    logs.mkdir()
    options = Options(
        quick=args.quick,
        workdir=workdir,
        log_dir=logs,
        profile_dir=RESULTS if args.profile else None,
        repeat=args.repeat,
        scale_sizes=tuple(args.images or ()),
        before=args.before.resolve() if args.before else None,
    )
    scale = "quick" if args.quick else "full"
    records = []
    started = time.monotonic()
    try:
        for number in chosen:
            print(f"scenario {number} ({scale})", flush=True)
            servers = Servers(workdir / f"scenario-{number}")
            try:
                result = SCENARIOS[number](options, servers)
            finally:
                servers.stop_all()
            record = report.scenario_record(result, scale)
            records.append(record)
            print(report.scenario_markdown(record), flush=True)
            # Write after every scenario: a long run stopped half-way keeps what it measured.
            document = report.merge(RESULTS / f"{stem}.json", [record])
    finally:
        if args.keep:
            print(f"servers' data and logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if not records:
        return 1
    render(document, stem, args.update_readme)
    print(f"results: {RESULTS / stem}.json, .md ({time.monotonic() - started:.0f} s)")
    missed = [c for r in records for c in r["checks"] if not c["met"]]
    incomplete = [row for r in records for row in r["rows"] if row["note"].startswith("INCOMPLETE")]
    if incomplete:
        print(f"{len(incomplete)} runs did not copy everything: their numbers do not count", file=sys.stderr)
    if missed:
        print(f"{len(missed)} targets missed (see the tables)", file=sys.stderr)
    return 1 if incomplete else 0


def render(document: dict[str, Any], stem: str, update_readme: bool) -> int:
    """The Markdown tables, the scenario 3 plot, and optionally the README section."""
    text = report.markdown(document)
    (RESULTS / f"{stem}.md").write_text(text)
    plot = RESULTS / ("distance-quick.png" if stem.endswith("quick") else "distance.png")
    if report.plot_distance(document, plot):
        print(f"plot: {plot}")
    scale_plot = RESULTS / ("scale-quick.png" if stem.endswith("quick") else "scale.png")
    if report.plot_scale(document, scale_plot):
        print(f"plot: {scale_plot}")
    if update_readme:
        report.update_readme(BENCH_DIR / "README.md", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
