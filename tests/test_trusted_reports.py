"""Dry runs and reports that can be trusted: a dry run says what would fail and exits as the
run would; its plan can be had as JSON and in the report; every report ends with a record
that says how the run ended; compare lists in id order; a prune carried out says what was done."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import glance_client as gc
from tests.support.cli import assert_refused, run
from tests.support.report_file import end, header, image_lines


def test_a_dry_run_writes_its_plan_to_the_report_and_as_json(serve_pair, tmp_path: Path) -> None:
    data = gc.seed_raw_images(serve_pair.source, [1000, 2000, 3000])
    report = tmp_path / "plan.jsonl"
    planned = run("livecopy", serve_pair.source, serve_pair.target, "--dry-run", "--report", str(report))
    assert planned.exit_code == 0, planned.stderr
    assert header(report)["command"] == "livecopy"
    lines = image_lines(report)
    assert {line["id"]: (line["action"], line["result"], line["bytes"]) for line in lines} == {
        image_id: ("create", "planned", len(payload)) for image_id, payload in data.items()
    }
    assert (end(report)["outcome"], end(report)["exit_status"]) == ("finished", 0)

    as_json = run("livecopy", serve_pair.source, serve_pair.target, "--dry-run", "--json")
    assert as_json.exit_code == 0, as_json.stderr
    plan = json.loads(as_json.stdout)
    assert sorted(entry["id"] for entry in plan["actions"]) == sorted(data)
    assert plan["summary"] == {
        "images": 3,
        "need_work": 3,
        "bytes_to_copy": 6000,
        "to_prune": 0,
        "would_fail": 0,
        "refused_prunes": 0,
    }
    assert gc.list_all(serve_pair.target) == []  # nothing was touched


def test_json_without_dry_run_is_refused(tmp_path: Path) -> None:
    assert_refused(run("dump", "127.0.0.1:1", str(tmp_path / "d"), "--json"), "--json prints a plan")


def test_a_dry_run_of_images_that_would_fail_exits_1_as_the_run_does(serve_pair, tmp_path: Path) -> None:
    (image_id,) = gc.seed_raw_images(serve_pair.source, [5000])
    dump = tmp_path / "dump"
    assert run("dump", serve_pair.source, str(dump)).exit_code == 0
    (dump / f"{image_id}.img").write_bytes(b"short")
    report = tmp_path / "plan.jsonl"
    dry = run("load", serve_pair.target, str(dump), "--dry-run", "--report", str(report))
    assert dry.exit_code == 1, dry.stdout + dry.stderr
    assert "1 images would fail" in dry.stdout
    (line,) = image_lines(report)
    assert (line["id"], line["result"]) == (image_id, "would fail") and "5000" in line["reason"]
    assert end(report)["exit_status"] == 1
    assert run("load", serve_pair.target, str(dump)).exit_code == 1


def test_a_finished_run_ends_its_report_with_the_counts(serve_pair, tmp_path: Path) -> None:
    gc.seed_raw_images(serve_pair.source, [1000, 2000])
    report = tmp_path / "run.jsonl"
    assert run("livecopy", serve_pair.source, serve_pair.target, "--report", str(report)).exit_code == 0
    closing = end(report)
    assert (closing["outcome"], closing["exit_status"], closing["images"]) == ("finished", 0, {"ok": 2})


def test_compare_lists_in_id_order(serve_pair) -> None:
    data = gc.seed_raw_images(serve_pair.source, [100] * 8)
    result = run("compare", serve_pair.source, serve_pair.target)
    assert result.exit_code == 1
    listed = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("missing")]
    assert listed == sorted(data, key=str.lower)
    entries = json.loads(run("compare", serve_pair.source, serve_pair.target, "--json").stdout)["images"]
    assert [entry["id"] for entry in entries] == sorted(data, key=str.lower)


def test_stats_sets_the_interval_of_progress_lines(serve_one, tmp_path: Path) -> None:
    gc.seed_raw_images(serve_one.url, [400_000, 400_000])
    # No terminal here: progress is told in lines; paced, the dump lasts about half a second.
    often = run("dump", serve_one.url, str(tmp_path / "a"), "--bwlimit", "2M", "-c", "64K", "--stats", "0.01")
    assert often.exit_code == 0, often.stderr
    assert "progress: " in often.stderr
    never = run("dump", serve_one.url, str(tmp_path / "b"), "--bwlimit", "2M", "-c", "64K", "--stats", "0")
    assert never.exit_code == 0, never.stderr
    assert "progress: " not in never.stderr
    assert_refused(run("dump", serve_one.url, str(tmp_path / "c"), "--stats", "-1"), "--stats")
