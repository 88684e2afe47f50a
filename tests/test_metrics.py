"""Prometheus metrics of a run: events in, an endpoint scraped over real HTTP and a node-exporter
textfile out, both read back with prometheus_client's own parser."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from replicator.cli.views.metrics import LAST_SUCCESS, RunMetrics
from replicator.engine.actions import Action, ActionKind, Outcome
from replicator.engine.events import (
    BytesCopied,
    Event,
    ImageFinished,
    ImageResult,
    ImageRetrying,
    ImageStarted,
    Listed,
    RunPlanned,
)
from replicator.model.errors import ErrorKind, RunError
from replicator.model.records import ImageRecord
from tests.support.prometheus import parse, scrape


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def image(image_id: str, size: int = 100) -> ImageRecord:
    return ImageRecord(id=image_id, status="active", attributes={"name": f"img-{image_id}"}, size=size)


def result(image_id: str, action: str, outcome: Outcome, size: int = 0) -> ImageFinished:
    return ImageFinished(ImageResult(image_id, f"img-{image_id}", action, outcome, size, 0.1))  # type: ignore[arg-type]


def test_a_run_is_counted_by_action_result_cause_and_side_and_served_over_http() -> None:
    clock = Clock(1_700_000_000.0)
    metrics = RunMetrics("livecopy", clock=clock)
    metrics.run_started()
    a, b = image("a", 300), image("b", 50)
    events: list[Event] = [
        Listed("source", 2, False),
        Listed("target", 1, True),
        Listed("source", 3, True),
        RunPlanned(3, 2, 350),
        ImageStarted(Action(ActionKind.CREATE, a, None, upload=True)),
        ImageStarted(Action(ActionKind.UPLOAD, b, b, upload=True)),
        BytesCopied("a", 200),
        ImageRetrying("a", 1, "connection lost", ErrorKind.TRANSPORT),
        ImageRetrying("b", 1, "503", ErrorKind.SERVER),
        BytesCopied("a", 300),
        BytesCopied("b", 50),
        result("a", ActionKind.CREATE, Outcome.OK, 300),
        result("c", ActionKind.SKIP, Outcome.SKIPPED),
    ]
    for event in events:
        metrics(event)
    with metrics.serve(0, "127.0.0.1") as server:
        during = scrape(server.port)
        metrics(result("b", ActionKind.UPLOAD, Outcome.FAILED))
        clock.now += 60
        metrics.run_ended(succeeded=False)
        after = scrape(server.port)

    assert during[("replicator_listed_images", (("side", "source"),))] == 3
    assert during[("replicator_listed_images", (("side", "target"),))] == 1
    assert during[("replicator_listing_done", (("side", "source"),))] == 1
    assert during[("replicator_planned_images", ())] == 2 and during[("replicator_planned_bytes", ())] == 350
    assert during[("replicator_images_in_flight", ())] == 1  # b still going; the skip of c never started
    assert during[("replicator_copied_bytes_total", ())] == 550  # the retried 200 bytes count again
    assert during[("replicator_retries_total", (("kind", "transport"),))] == 1
    assert during[("replicator_retries_total", (("kind", "server"),))] == 1
    assert during[("replicator_images_total", (("action", "create"), ("result", "ok")))] == 1
    assert during[("replicator_image_bytes_total", (("action", "create"), ("result", "ok")))] == 300
    assert during[("replicator_images_total", (("action", "skip"), ("result", "skipped")))] == 1
    assert during[("replicator_run_start_time_seconds", (("command", "livecopy"),))] == 1_700_000_000
    assert not any(name == "replicator_run_end_time_seconds" for name, _ in during)  # absent, not 1970

    assert after[("replicator_images_total", (("action", "upload"), ("result", "failed")))] == 1
    assert after[("replicator_images_in_flight", ())] == 0
    assert after[("replicator_run_end_time_seconds", (("command", "livecopy"),))] == 1_700_000_060
    assert not any(name == LAST_SUCCESS for name, _ in after)  # this run failed, and no earlier one is known


def test_every_action_kind_outcome_and_error_kind_is_served_from_zero() -> None:
    """A dashboard's rate() needs a first sample; a new action kind (prune) appears by itself."""
    metrics = RunMetrics("livecopy")
    with metrics.serve(0, "127.0.0.1") as server:
        samples = scrape(server.port)
    for action in ActionKind:
        for outcome in Outcome:
            assert samples[("replicator_images_total", (("action", action.value), ("result", outcome.value)))] == 0
    for kind in [*ErrorKind, "unknown"]:
        assert samples[("replicator_retries_total", (("kind", str(kind)),))] == 0


def test_pruned_images_are_counted_under_their_own_action() -> None:
    """Pruning ends images with the action kind "prune": the counters take any kind the engine names."""
    metrics = RunMetrics("livecopy")
    metrics(result("gone-1", "prune", Outcome.OK))
    metrics(result("gone-2", "prune", Outcome.OK))
    metrics(result("gone-3", "prune", Outcome.FAILED))
    assert metrics.registry.get_sample_value("replicator_images_total", {"action": "prune", "result": "ok"}) == 2
    assert metrics.registry.get_sample_value("replicator_images_total", {"action": "prune", "result": "failed"}) == 1


def test_the_registry_is_private_to_the_run() -> None:
    first, second = RunMetrics("dump"), RunMetrics("load")
    first(BytesCopied("a", 10))
    assert second.registry.get_sample_value("replicator_copied_bytes_total") == 0
    assert REGISTRY.get_sample_value("replicator_copied_bytes_total") is None


def test_the_server_stops_with_the_run() -> None:
    server = RunMetrics("livecopy").serve(0, "127.0.0.1")
    port = server.port
    server.close()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10)


def test_a_port_in_use_is_a_one_line_run_error() -> None:
    with RunMetrics("livecopy").serve(0, "127.0.0.1") as taken:
        with pytest.raises(RunError, match=f"cannot serve metrics on 127.0.0.1:{taken.port}: ") as caught:
            RunMetrics("livecopy").serve(taken.port, "127.0.0.1")
    assert "\n" not in str(caught.value)


def textfile_samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return parse(path.read_text())


def test_the_textfile_holds_the_runs_times_and_its_last_success(tmp_path: Path) -> None:
    clock = Clock(1_700_000_000.0)
    path = tmp_path / "replicator.prom"
    metrics = RunMetrics("livecopy", clock=clock)
    metrics.run_started()
    metrics.write_textfile(path)  # at the start: a run under way, no end yet
    assert textfile_samples(path) == {("replicator_run_start_time_seconds", (("command", "livecopy"),)): 1_700_000_000}
    clock.now += 30
    metrics.run_ended(succeeded=True)
    metrics.write_textfile(path)
    assert textfile_samples(path) == {
        ("replicator_run_start_time_seconds", (("command", "livecopy"),)): 1_700_000_000,
        ("replicator_run_end_time_seconds", (("command", "livecopy"),)): 1_700_000_030,
        (LAST_SUCCESS, (("command", "livecopy"),)): 1_700_000_030,
    }
    assert path.stat().st_mode & 0o777 == 0o644  # node-exporter runs as another user
    assert [p.name for p in tmp_path.iterdir()] == ["replicator.prom"]  # no temporary file left


def test_a_failed_run_keeps_the_last_success_of_the_run_before(tmp_path: Path) -> None:
    path = tmp_path / "replicator.prom"
    good = RunMetrics("livecopy", clock=Clock(1000.0))
    good.run_started()
    good.run_ended(succeeded=True)
    good.write_textfile(path)
    bad = RunMetrics("livecopy", clock=Clock(5000.0))
    bad.run_started()
    bad.write_textfile(path)
    bad.run_ended(succeeded=False)
    bad.write_textfile(path)
    samples = textfile_samples(path)
    assert samples[(LAST_SUCCESS, (("command", "livecopy"),))] == 1000
    assert samples[("replicator_run_end_time_seconds", (("command", "livecopy"),))] == 5000


def test_garbage_in_the_old_textfile_means_no_last_success_known(tmp_path: Path) -> None:
    path = tmp_path / "replicator.prom"
    path.write_text(f'{LAST_SUCCESS}{{command="livecopy"}} not-a-number\n')
    metrics = RunMetrics("livecopy", clock=Clock(10.0))
    metrics.run_started()
    metrics.run_ended(succeeded=False)
    metrics.write_textfile(path)
    assert (LAST_SUCCESS, (("command", "livecopy"),)) not in textfile_samples(path)


def test_the_textfile_is_replaced_never_rewritten_in_place(tmp_path: Path) -> None:
    """A reader holding the old file (node-exporter mid-read) reads it whole: the new one is renamed in."""
    path = tmp_path / "replicator.prom"
    clock = Clock(1.0)
    metrics = RunMetrics("livecopy", clock=clock)
    metrics.run_started()
    metrics.write_textfile(path)
    old_text = path.read_text()
    with path.open() as reader:
        clock.now = 2.0
        metrics.run_ended(succeeded=True)
        metrics.write_textfile(path)
        assert reader.read() == old_text
    assert path.read_text() != old_text


def test_a_link_planted_at_the_textfile_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    path = tmp_path / "replicator.prom"
    path.symlink_to(victim)
    metrics = RunMetrics("livecopy", clock=Clock(1.0))
    metrics.run_started()
    metrics.write_textfile(path)
    assert victim.read_text() == "precious\n"
    assert not path.is_symlink() and (
        "replicator_run_start_time_seconds",
        (("command", "livecopy"),),
    ) in textfile_samples(path)


def test_an_unwritable_textfile_is_a_one_line_run_error(tmp_path: Path) -> None:
    metrics = RunMetrics("livecopy")
    with pytest.raises(
        RunError, match="cannot write the metrics file .*missing/replicator.prom: No such file or directory"
    ):
        metrics.write_textfile(tmp_path / "missing" / "replicator.prom")
    assert os.listdir(tmp_path) == []


def test_the_textfile_says_what_the_run_did_once_it_has_ended(tmp_path: Path) -> None:
    """A scheduled run ends between two scrapes: its images by action and result stay in the
    textfile, as gauges of that one run, until the next run replaces them."""
    path = tmp_path / "replicator.prom"
    metrics = RunMetrics("livecopy", clock=Clock(100.0))
    metrics.run_started()
    for event in (
        result("a", ActionKind.CREATE, Outcome.OK, 300),
        result("b", ActionKind.CREATE, Outcome.OK, 200),
        result("c", ActionKind.PRUNE, Outcome.OK),
        result("d", ActionKind.SKIP, Outcome.SKIPPED),
    ):
        metrics(event)
    metrics.write_textfile(path)
    assert not any(name.startswith("replicator_last_run") for name, _ in textfile_samples(path))  # under way
    metrics.run_ended(succeeded=True)
    metrics.write_textfile(path)
    samples = textfile_samples(path)
    images = {
        labels: value for (name, labels), value in samples.items() if name == "replicator_last_run_images"
    }  # fmt: skip
    assert images == {
        (("action", "create"), ("command", "livecopy"), ("result", "ok")): 2,
        (("action", "prune"), ("command", "livecopy"), ("result", "ok")): 1,
        (("action", "skip"), ("command", "livecopy"), ("result", "skipped")): 1,
    }
    created = (("action", "create"), ("command", "livecopy"), ("result", "ok"))
    assert samples[("replicator_last_run_image_bytes", created)] == 500


@pytest.mark.server
def test_metrics_address_binds_the_metrics_port_to_that_address_only(serve_pair) -> None:
    """Issue 20: `--metrics-port` alone listens on every address; `--metrics-address` names one."""
    import subprocess
    import sys
    import time

    from tests.support import glance_client as gc
    from tests.support.servers import free_port

    gc.seed_raw_images(serve_pair.source, [400_000])
    serve_pair.source_server.set_faults(bandwidth=100_000)  # the run lasts about 4 s
    port = free_port()
    run = subprocess.Popen(
        [sys.executable, "-m", "replicator", "livecopy", serve_pair.source, serve_pair.target,
         "--metrics-port", str(port), "--metrics-address", "127.0.0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with gc.OPENER.open(f"http://127.0.0.2:{port}/metrics", timeout=5) as answer:
                    assert answer.status == 200
                break
            except urllib.error.URLError:
                assert time.monotonic() < deadline and run.poll() is None, "the metrics were never served"
                time.sleep(0.05)
        with pytest.raises(urllib.error.URLError):
            gc.OPENER.open(f"http://127.0.0.1:{port}/metrics", timeout=5)
        _, stderr = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 0, stderr
