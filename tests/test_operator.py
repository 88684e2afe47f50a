"""What an operator sees and controls: progress, the summary, --dry-run, selection on the command
line, --bwlimit, --max-transfer, --debug, the config file, shards across runs."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from rich.console import Console

from replicator import __version__
from replicator.cli.views import console, progress
from replicator.engine import run as engine
from replicator.engine.actions import Outcome
from replicator.engine.bandwidth import BandwidthLimit
from replicator.engine.events import (
    BytesCopied,
    ImageFinished,
    ImageResult,
    ImageStarted,
    RunPlanned,
    WorkFound,
    fan_out,
)
from replicator.engine.plan import plan, totals
from replicator.model.records import ImageRecord
from replicator.model.settings import Settings
from replicator.openstack.connect import Side, open_glance
from tests.support import glance_client as gc
from tests.support.cli import run, summary_count
from tests.support.report_file import end, header, image_lines

MiB = 1024 * 1024


def record(name: str, size: int, status: str = "active", **attributes) -> ImageRecord:
    attrs = {"name": name, "disk_format": "raw", "container_format": "bare", "tags": [], **attributes}
    return ImageRecord(id=str(uuid.uuid4()), status=status, attributes=attrs, size=size, checksum="00")


def result(action, outcome: str, copied: int, error: str | None = None) -> ImageResult:
    image = action.image
    return ImageResult(image.id, image.name, action.kind, Outcome(outcome), copied, 1.5, action.reason, error)


# Rendering, from events alone: no server needed.


def planned_run():
    big, small, same = record("big", 3 * MiB), record("small", MiB), record("same", 10)
    target_same = ImageRecord(id=same.id, status="active", attributes=same.attributes, size=10, checksum="00")
    actions = plan([big, small, same], [target_same], Settings())
    by_name = {action.image.name: action for action in actions}
    return actions, by_name


def planned_events(actions) -> list:
    """What the engine emits as its walk plans `actions`: the work found, then the totals."""
    return [*(WorkFound(a) for a in actions if a.has_work or a.problem), RunPlanned(len(actions), *totals(actions))]


def test_bars_show_overall_bytes_counts_and_one_line_per_image_in_flight() -> None:
    actions, by_name = planned_run()
    out = io.StringIO()
    bars = progress.ProgressBars(Console(file=out, force_terminal=True, color_system=None, width=120))
    with bars:
        for event in planned_events(actions):
            bars(event)
        bars(ImageStarted(by_name["big"]))
        bars(BytesCopied(by_name["big"].image.id, 2 * MiB))
        bars(ImageFinished(result(by_name["same"], "skipped", 0)))
        bars._progress.refresh()
        in_flight = out.getvalue()
        time.sleep(0.2)  # rich measures rates from timed samples
        bars(BytesCopied(by_name["big"].image.id, MiB))
        bars._progress.refresh()
        assert re.search(r"\d+\.\d (Ki|Mi|Gi)?B/s", out.getvalue()), out.getvalue()  # binary units too
        bars(ImageFinished(result(by_name["big"], "ok", 3 * MiB)))
    assert "big" in in_flight and "2.0/3.0 MiB" in in_flight
    assert "1/3 images: 0 done, 1 skipped, 0 failed" in in_flight
    final = out.getvalue()[len(in_flight) :]
    assert "2/3 images: 1 done, 1 skipped, 0 failed" in final and "3.0/4.0 MiB" in final


def test_log_lines_carry_bytes_share_rate_eta_and_counts() -> None:
    actions, by_name = planned_run()
    out = io.StringIO()
    lines = progress.ProgressLines(out, interval=0.0)
    for event in planned_events(actions):
        lines(event)
    lines(BytesCopied(by_name["big"].image.id, MiB))
    lines(ImageFinished(result(by_name["small"], "failed", 0, "upload image: 403 Forbidden")))
    last = out.getvalue().splitlines()[-1]
    # The failed image's 1 MiB, never to be sent, has left the total (4 MiB planned).
    assert re.fullmatch(
        r"progress: 1\.0 MiB of 3\.0 MiB \(33%\), [\d.]+ [KMG]?i?B/s, ETA \d+:\d\d:\d\d; "
        r"1/3 images: 0 done, 0 skipped, 1 failed",
        last,
    ), last


def test_summary_is_a_table_with_time_rate_and_failures() -> None:
    actions, by_name = planned_run()
    results = [
        result(by_name["big"], "ok", 3 * MiB),
        result(by_name["small"], "failed", 0, "upload image: 403 Forbidden"),
        result(by_name["same"], "skipped", 0),
    ]
    text = console.summary(results, 2.0)
    rows = [line.split() for line in text.splitlines()]
    assert rows[0] == ["action", "result", "images", "bytes"]
    assert ["create", "ok", "1", "3.0", "MiB"] in rows
    assert ["create", "failed", "1", "0.0", "B"] in rows
    assert ["skip", "skipped", "1", "0.0", "B"] in rows
    assert ["total", "3", "3.0", "MiB"] in rows
    assert "3.0 MiB copied in 2.0s (1.5 MiB/s mean)" in text
    assert f'1 failed:\n  {by_name["small"].image.id} "small": upload image: 403 Forbidden' in text


def test_dry_run_plan_says_what_and_why() -> None:
    source = [record("new", MiB), record("renamed", 5)]
    target = [
        ImageRecord(
            id=source[1].id, status="active", attributes={**source[1].attributes, "name": "old"}, size=5, checksum="00"
        )
    ]
    text = console.plan_text(plan(source, target, Settings()))
    lines = text.splitlines()
    assert lines[0].startswith(f'create   {source[0].id} "new": missing on target; upload 1.0 MiB')
    assert (
        lines[1].startswith(f'update   {source[1].id} "renamed":')
        and 'metadata differs; name: "old" -> "renamed"' in lines[1]
    )
    assert lines[-1] == "plan: 2 of 2 images need work, 1.0 MiB to copy (dry run: nothing was changed)"


# The commands, on the project's server.


@pytest.fixture
def seeded(serve_pair):
    data = gc.seed_raw_images(serve_pair.source, (300_000, 200_000, 100_000, 50_000))
    return serve_pair, data


def test_dry_run_touches_nothing_in_any_command(seeded, tmp_path: Path) -> None:
    pair, data = seeded
    result = run("livecopy", pair.source, pair.target, "--dry-run", "--order-by", "size,desc")
    assert result.exit_code == 0, result.stderr
    planned = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("create")]
    assert planned == sorted(data, key=lambda image_id: -len(data[image_id]))
    assert gc.list_all(pair.target) == []

    folder = tmp_path / "dump"
    assert run("dump", pair.source, str(folder), "--dry-run").exit_code == 0
    assert not folder.exists()

    assert run("dump", pair.source, str(folder), "--id", next(iter(data))).exit_code == 0
    assert run("load", pair.target, str(folder), "--dry-run").exit_code == 0
    assert gc.list_all(pair.target) == []


def test_selection_options_pick_the_images_a_copy_works_on(seeded, tmp_path: Path) -> None:
    pair, data = seeded
    ids = list(data)  # img-0 … img-3, sizes 300,000 … 50,000
    id_file = tmp_path / "ids"
    id_file.write_text(f"# from last night's report\n{ids[3]}\n\n")
    result = run(
        "livecopy",
        pair.source,
        pair.target,
        "--include",
        "img-*",
        "--exclude",
        "img-0",
        "--max-size",
        "250000",
        "--min-size",
        "150000",
        "--ids-from",
        str(id_file),
        "--id",
        ids[1],
    )
    assert result.exit_code == 0, result.stderr
    assert {image["id"] for image in gc.list_all(pair.target)} == {ids[1]}
    # The same filters in compare: only the selected images are reported.
    compared = json.loads(run("compare", pair.source, pair.target, "--json", "--include", "img-[23]").stdout)
    assert {entry["id"] for entry in compared["images"]} == {ids[2], ids[3]}


def test_bad_selection_and_limits_are_usage_errors(serve_pair, tmp_path: Path) -> None:
    for args, message in [
        (("--shard", "4/4"), "--shard 4/4"),
        (("--order-by", "colour"), "--order-by"),
        (("--ids-from", str(tmp_path / "absent")), "cannot read --ids-from"),
        (("--bwlimit", "fast"), "invalid size 'fast'"),
        (("--max-transfer", "-1"), "invalid size '-1'"),
    ]:
        result = run("livecopy", serve_pair.source, serve_pair.target, *args)
        assert result.exit_code == 2 and message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1


def test_shards_split_a_migration_into_disjoint_runs(serve_pair) -> None:
    data = gc.seed_raw_images(serve_pair.source, [1000] * 12)
    created = 0
    for k in range(3):
        result = run("livecopy", serve_pair.source, serve_pair.target, "--shard", f"{k}/3")
        assert result.exit_code == 0, result.stderr
        assert summary_count(result.stderr, "skip", "skipped") == 0
        created += summary_count(result.stderr, "create", "ok")
    assert created == len(data)
    assert run("compare", serve_pair.source, serve_pair.target).exit_code == 0


def test_bwlimit_paces_every_byte_copied_at_the_rate_given(serve_pair, monkeypatch: pytest.MonkeyPatch) -> None:
    """The flag reaches the one limiter on the data path; the schedule itself is proven in
    `test_bandwidth.py` on a clock of its own (no timed assertion here)."""
    taken: list[tuple[int, int]] = []
    take = BandwidthLimit.take

    async def counted(self: BandwidthLimit, count: int) -> None:
        taken.append((self.rate, count))
        await take(self, count)

    monkeypatch.setattr(BandwidthLimit, "take", counted)
    data = gc.seed_raw_images(serve_pair.source, [300_000, 200_000])
    result = run("livecopy", serve_pair.source, serve_pair.target, "--bwlimit", "8M", "--chunksize", "64K")
    assert result.exit_code == 0, result.stderr
    assert {rate for rate, _ in taken} == {8 * MiB}
    assert sum(count for _, count in taken) == sum(map(len, data.values()))
    assert max(count for _, count in taken) <= 64 * 1024
    assert all(gc.download(serve_pair.target, image_id) == blob for image_id, blob in data.items())


def test_max_transfer_stops_starting_transfers_and_a_rerun_finishes(serve_pair, tmp_path: Path) -> None:
    data = gc.seed_raw_images(serve_pair.source, [400_000] * 4)
    report = tmp_path / "report.jsonl"
    result = run(
        "livecopy",
        serve_pair.source,
        serve_pair.target,
        "--max-transfer",
        "700000",
        "--concurrency",
        "1",
        "--report",
        str(report),
    )
    assert result.exit_code == 8, result.stderr  # the cap stopped it: a script can tell
    lines = image_lines(report)
    assert [line["result"] for line in lines] == ["ok", "ok", "skipped", "skipped"]
    assert end(report)["outcome"] == "finished" and end(report)["exit_status"] == 8
    assert all("--max-transfer 700000 bytes reached" in line["reason"] for line in lines[2:])
    assert len(gc.list_all(serve_pair.target)) == 2
    assert "--max-transfer reached: 2 images not started" in result.stderr
    assert run("livecopy", serve_pair.source, serve_pair.target).exit_code == 0
    assert run("compare", serve_pair.source, serve_pair.target).exit_code == 0
    assert len(gc.list_all(serve_pair.target)) == len(data)


def test_config_file_supplies_defaults_and_flags_win(seeded, tmp_path: Path, monkeypatch) -> None:
    pair, data = seeded
    names = {image_id: f"img-{n}" for n, image_id in enumerate(data)}
    monkeypatch.chdir(tmp_path)
    Path("replicator.toml").write_text('include = ["img-0", "img-1"]\n[livecopy]\norder-by = "name,desc"\n')
    planned = run("livecopy", pair.source, pair.target, "--dry-run").stdout
    assert [line.split()[2] for line in planned.splitlines()[:-1]] == ['"img-1":', '"img-0":']
    # A flag wins over the file; --config names another file.
    planned = run("livecopy", pair.source, pair.target, "--dry-run", "--include", "img-3").stdout
    assert [line.split()[1] for line in planned.splitlines()[:-1]] == [k for k, v in names.items() if v == "img-3"]
    other = tmp_path / "other.toml"
    other.write_text('[compare]\nexclude = ["img-*"]\n')
    assert run("compare", pair.source, pair.target, "--config", str(other)).exit_code == 0
    other.write_text("concurency = 3\n")
    result = run("livecopy", pair.source, pair.target, "--config", str(other))
    assert result.exit_code == 2 and "unknown setting concurency" in result.stderr
    assert gc.list_all(pair.target) == []


@pytest.mark.server
def test_debug_logs_requests_and_never_the_token(serve_pair, tmp_path: Path) -> None:
    gc.seed_raw_images(serve_pair.source, [50_000])
    serve_pair.source_server.set_faults(token_ttl=600.0)
    token = serve_pair.source_server.issue_token()
    report = tmp_path / "report.jsonl"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "replicator",
            "livecopy",
            serve_pair.source,
            serve_pair.target,
            "--debug",
            "--sourcetoken",
            token,
            "--report",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert completed.returncode == 0, completed.stderr
    assert re.search(r"replicator\.http GET http://127\.0\.0\.1:\d+/v2/images\?\S+ -> 200 in \d+ ms", completed.stderr)
    assert re.search(r"PUT \S+/file -> 204", completed.stderr)
    assert token not in completed.stdout + completed.stderr + report.read_text()


# Numbers that add up after a failure or a stop.


def test_a_failed_image_leaves_the_total_so_the_bar_ends_at_100_percent() -> None:
    actions, by_name = planned_run()  # big 3 MiB, small 1 MiB to copy
    out = io.StringIO()
    lines = progress.ProgressLines(out, interval=0.0)
    bars = progress.ProgressBars(Console(file=io.StringIO(), force_terminal=True, color_system=None, width=120))
    events = [
        *planned_events(actions),
        BytesCopied(by_name["big"].image.id, MiB),
        BytesCopied(by_name["small"].image.id, MiB // 4),
        ImageFinished(result(by_name["small"], "failed", 0, "connection lost")),  # 768 KiB never sent
        BytesCopied(by_name["big"].image.id, 2 * MiB),
        ImageFinished(result(by_name["big"], "ok", 3 * MiB)),
    ]
    with bars:
        for event in events:
            lines(event)
            bars(event)
    assert out.getvalue().splitlines()[-1].startswith("progress: 3.2 MiB of 3.2 MiB (100%)")
    overall = bars._progress.tasks[0]
    assert overall.completed == overall.total == 3 * MiB + MiB // 4


def test_an_upload_sent_again_from_its_first_byte_does_not_run_the_bar_past_its_end() -> None:
    actions, by_name = planned_run()
    tally = progress.Tally()
    for event in planned_events(actions):
        tally.update(event)
    for count in (2 * MiB, 3 * MiB):  # 2 MiB, cut, then all 3 MiB again
        tally.update(BytesCopied(by_name["big"].image.id, count))
    assert (tally.done_bytes, tally.total_bytes) == (3 * MiB, 4 * MiB)


def test_the_summary_of_a_stopped_run_counts_the_bytes_of_cut_transfers() -> None:
    """After Ctrl-C the summary said "0.0 B copied" though 41 MiB had moved."""
    actions, by_name = planned_run()
    tally = progress.Tally()
    for event in (
        *planned_events(actions),
        BytesCopied(by_name["big"].image.id, 2 * MiB),
        BytesCopied(by_name["small"].image.id, MiB // 2),
    ):
        tally.update(event)  # then the stop: neither transfer finished
    text = console.summary([], 4.6, tally.unfinished())
    assert "0.0 B copied in 4.6s (556.5 KiB/s mean, counting the 2.5 MiB of cut transfers)" in text
    assert "2.5 MiB sent by 2 transfers that did not complete: the next run sends them again" in text


def test_a_failed_image_whose_data_went_whole_is_no_transfer_to_send_again() -> None:
    """An image that failed after its data was sent whole (its read-back differs, its members
    were refused) is not "sent by transfers that did not complete": the next run does not send it."""
    actions, by_name = planned_run()
    tally = progress.Tally()
    for event in planned_events(actions):
        tally.update(event)
    big, small = by_name["big"], by_name["small"]
    for event in (
        BytesCopied(big.image.id, 3 * MiB),
        ImageFinished(result(big, "failed", 3 * MiB)),
        BytesCopied(small.image.id, MiB // 2),
        ImageFinished(result(small, "failed", 0)),
    ):
        tally.update(event)
    assert tally.unfinished() == (MiB // 2, 1)


def test_bytes_of_a_failed_upload_are_in_the_summary(serve_pair) -> None:
    gc.seed_raw_images(serve_pair.source, [500_000] * 3)
    serve_pair.target_server.set_faults(drop_upload_after_bytes=200_000, drop_count=1)
    result = run("livecopy", serve_pair.source, serve_pair.target, "--retries", "0", "-j", "1", "-c", "64K")
    assert result.exit_code == 1, result.stderr
    assert summary_count(result.stderr, "create", "failed") == 1
    sent = re.search(
        r"^([\d.]+) KiB sent by 1 transfer that did not complete: the next run sends it again", result.stderr, re.M
    )
    assert sent and 0 < float(sent.group(1)) <= 488.3, result.stderr  # 500,000 bytes at most


async def test_a_bar_that_watched_an_upload_fail_mid_run_ends_at_100_percent(serve_pair) -> None:
    gc.seed_raw_images(serve_pair.source, [500_000] * 3)
    serve_pair.target_server.set_faults(drop_upload_after_bytes=200_000, drop_count=1)
    settings = Settings(retries=0, concurrency=1, chunk_size=64 * 1024)
    source = await open_glance(Side(serve_pair.source), settings)
    target = await open_glance(Side(serve_pair.target), settings)
    out = io.StringIO()
    lines = progress.ProgressLines(out, interval=0.0)
    results: list[ImageResult] = []

    def collect(event: object) -> None:
        if isinstance(event, ImageFinished):
            results.append(event.result)

    try:
        await engine.replicate(source, target, settings, fan_out(lines, collect))
    finally:
        await source.close()
        await target.close()
    assert sorted(r.result for r in results) == ["failed", "ok", "ok"]
    assert re.match(r"progress: ([\d.]+ [KM]iB) of \1 \(100%\)", out.getvalue().splitlines()[-1]), out.getvalue()


# --id and --ids-from: every id asked for is accounted for.


def test_ids_asked_for_that_the_source_does_not_have_are_named_and_fail_the_run(seeded, tmp_path: Path) -> None:
    pair, data = seeded
    present, absent = next(iter(data)), sorted(str(uuid.uuid4()) for _ in range(2))
    listed = tmp_path / "failed.txt"
    listed.write_text("\n".join([present, *absent]) + "\n")
    expected = f"2 of the 3 ids asked for are not on the source: {absent[0]}, {absent[1]}"
    for command in (["livecopy", "--dry-run"], ["livecopy"], ["compare"]):
        result = run(command[0], pair.source, pair.target, *command[1:], "--ids-from", str(listed))
        assert result.exit_code == 1, result.stderr
        assert expected in result.stderr, result.stderr
    assert [image["id"] for image in gc.list_all(pair.target)] == [present]
    # An id the source does not have fails the run whatever the other filters (--id or --ids-from).
    listed.write_text(f"{present}\n{absent[0]}\n")
    for ids in (["--id", present, "--id", absent[0]], ["--ids-from", str(listed)]):
        narrowed = run("livecopy", pair.source, pair.target, *ids, "--status", "active")
        assert narrowed.exit_code == 1, narrowed.stderr
        assert f"1 of the 2 ids asked for are not on the source: {absent[0]}" in narrowed.stderr
    # One the source has and another filter leaves out is named as such, and is no failure.
    left_out = run("livecopy", pair.source, pair.target, "--id", present, "--status", "queued")
    assert left_out.exit_code == 0, left_out.stderr
    assert f"1 of the 1 ids asked for are left out by the other filters: {present}" in left_out.stderr


# size: the same selection as every other command, and both counts.


def test_size_takes_the_selection_and_says_both_counts(serve_one, tmp_path: Path, monkeypatch) -> None:
    data = gc.seed_raw_images(serve_one.url, [1000, 2000, 3000])  # img-0 … img-2
    gc.deactivate(serve_one.url, list(data)[2])
    gc.create_image(serve_one.url, id=str(uuid.uuid4()), name="queued-one", disk_format="raw", container_format="bare")

    every = run("size", serve_one.url)
    assert every.exit_code == 0, every.stderr
    assert every.stdout == "Total size is 3000 bytes (2.9 KiB) across 2 images\n"  # the old tool's line, alone
    assert "2 active images, 2.9 KiB; 4 images in all" in every.stderr
    assert (
        "1 active images, 1000.0 B; 2 images in all"
        in run("size", serve_one.url, "--include", "img-*", "--exclude", "img-1").stderr
    )
    assert json.loads(run("size", serve_one.url, "--json", "--status", "deactivated").stdout) == {
        "images": 0,
        "bytes": 0,
        "human": "0.0 B",
        "images_in_all": 1,
    }
    absent = str(uuid.uuid4())
    missing = run("size", serve_one.url, "--id", absent)
    assert missing.exit_code == 1 and f"1 of the 1 ids asked for are not on the source: {absent}" in missing.stderr
    monkeypatch.chdir(tmp_path)
    Path("replicator.toml").write_text('exclude = ["queued-*", "img-0"]\n')  # a top-level key applies to size too
    assert "1 active images, 2.0 KiB; 2 images in all" in run("size", serve_one.url).stderr


# Where operators look: the version, the exit codes, completion.


def replicator_process(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "replicator", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.server
def test_the_version_is_shown_by_version_debug_and_the_report(serve_pair, tmp_path: Path) -> None:
    shown = replicator_process("--version")
    assert shown.returncode == 0 and shown.stdout == f"replicator {__version__}\n"
    gc.seed_raw_images(serve_pair.source, [1000])
    report = tmp_path / "report.jsonl"
    debug = replicator_process("livecopy", serve_pair.source, serve_pair.target, "--debug", "--report", str(report))
    assert debug.returncode == 0, debug.stderr
    assert f"replicator {__version__}, Python " in debug.stderr.splitlines()[0]
    first = header(report)
    assert (first["replicator"], first["command"]) == (__version__, "livecopy") and first["started"]
    assert [line["result"] for line in image_lines(report)] == ["ok"]


@pytest.mark.server
def test_help_lists_every_exit_code_and_shell_completion_is_on() -> None:
    for args in (["--help"], ["livecopy", "--help"], ["size", "-h"]):
        helped = replicator_process(*args, env={"COLUMNS": "200"})
        assert helped.returncode == 0
        assert "Exit status:" in helped.stdout
        for code in ("0  done", "1  ", "2  the run could not happen", "130  interrupted", "143", "129"):
            assert code in helped.stdout, (args, code)
        # Each command's own: size has no failed images, no differences and no --max-transfer.
        assert ("images failed" in helped.stdout) == (args[0] != "size"), args
        assert ("compare found differences" in helped.stdout) == (args[0] == "--help"), args
        assert ("8  --max-transfer" in helped.stdout) == (args[0] != "size"), args
    # The script is for the shell that runs the command (Typer asks the process tree), as a user
    # types it at a bash prompt; whatever shell runs the test suite.
    script = subprocess.run(
        # (Two commands, so that bash stays the parent rather than exec the one.)
        ["bash", "-c", f"{shlex.quote(sys.executable)} -m replicator --show-completion; exit $?"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert script.returncode == 0 and "_REPLICATOR_COMPLETE" in script.stdout, script.stdout + script.stderr
    completed = replicator_process(
        env={"_REPLICATOR_COMPLETE": "complete_bash", "COMP_WORDS": "replicator liv", "COMP_CWORD": "1"}
    )
    assert completed.stdout.split() == ["livecopy"]
    values = replicator_process(
        env={
            "_REPLICATOR_COMPLETE": "complete_bash",
            "COMP_WORDS": "replicator livecopy --status de",
            "COMP_CWORD": "3",
        }
    )
    assert values.stdout.split() == ["deactivated", "deleted"]


@pytest.mark.server
def test_debug_logs_every_attempt_with_how_it_ended(serve_pair) -> None:
    """A reset mid-upload is an attempt too: --debug once showed 4 lines for 6 attempts."""
    (image_id,) = gc.seed_raw_images(serve_pair.source, [600_000])
    serve_pair.target_server.set_faults(drop_upload_after_bytes=200_000, drop_count=2)
    debug = replicator_process("livecopy", serve_pair.source, serve_pair.target, "--debug", "--retries", "3")
    assert debug.returncode == 0, debug.stderr
    uploads = [line for line in debug.stderr.splitlines() if re.search(rf"PUT \S+/v2/images/{image_id}/file -> ", line)]
    assert serve_pair.target_server.faults()["fired"]["upload_drops"] == 2
    assert len(uploads) == 3, uploads  # two cut, then the one that went through
    assert sum(" -> 204 in " in line for line in uploads) == 1
    assert all("failed" in line or ", then " in line for line in uploads if " -> 204 in " not in line), uploads


@pytest.mark.server
def test_load_of_a_directory_that_holds_no_dump_is_exit_2(serve_one, tmp_path: Path) -> None:
    (tmp_path / "README").write_text("not a dump")
    loaded = replicator_process("load", serve_one.url, str(tmp_path))
    assert loaded.returncode == 2, loaded.stderr
    assert loaded.stderr.count("\n") == 1 and "holds no dump" in loaded.stderr
