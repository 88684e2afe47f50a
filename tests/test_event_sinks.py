"""The sinks' one interface and one failure policy (engine.events): every event type has its
method, a --report that cannot be written stops the run at the fan-out with one line, the
metrics only warn, once."""

from __future__ import annotations

import errno
import io
import json
import re
import typing
from pathlib import Path

import pytest

from replicator.cli.options import Metrics
from replicator.cli.session import MetricsWatcher
from replicator.cli.views.console import JsonLinesReport, LineLog
from replicator.cli.views.metrics import RunMetrics
from replicator.engine.actions import ActionKind, Outcome
from replicator.engine.events import (
    BytesCopied,
    Event,
    FailurePolicy,
    ImageFinished,
    ImageResult,
    Listed,
    RunPlanned,
    RunTally,
    Subscriber,
    fan_out,
)
from replicator.model.errors import RunError

pytestmark = pytest.mark.unit


def finished(image_id: str = "an-id") -> ImageFinished:
    return ImageFinished(ImageResult(image_id, "a name", ActionKind.CREATE, Outcome.OK, 10, 0.1))


class Recording(Subscriber):
    def __init__(self) -> None:
        self.seen: list[Event] = []

    def on_listed(self, event: Listed) -> None:
        self.seen.append(event)

    def on_image_finished(self, event: ImageFinished) -> None:
        self.seen.append(event)


class Failing(Subscriber):
    """A sink whose output is on a full disk."""

    output = "the failing output"

    def __init__(self, policy: FailurePolicy) -> None:
        self.on_failure = policy  # type: ignore[misc]
        self.calls = 0

    def on_image_finished(self, event: ImageFinished) -> None:
        self.calls += 1
        raise OSError(errno.ENOSPC, "No space left on device")


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_every_event_type_has_its_method_and_the_rest_are_no_ops() -> None:
    for event_type in typing.get_args(Event):
        assert callable(getattr(Subscriber, f"on_{snake(event_type.__name__)}"))
    sink = Recording()
    sink(Listed("source", 3))
    sink(RunPlanned(3, 1, 10))  # no method overridden: nothing happens
    sink(finished())
    assert sink.seen == [Listed("source", 3), finished()]


def test_a_sink_that_must_stop_the_run_stops_it_at_the_fan_out_with_one_line() -> None:
    before, after = Recording(), Recording()
    emit = fan_out(before, Failing(FailurePolicy.STOP), after)
    with pytest.raises(RunError, match=r"^cannot write the failing output: No space left on device$") as caught:
        emit(finished())
    assert isinstance(caught.value.__cause__, OSError)  # --debug shows the cause
    assert before.seen == [finished()]


def test_a_sink_that_only_warns_warns_once_and_gets_no_more_events() -> None:
    warnings: list[str] = []
    failing, other = Failing(FailurePolicy.WARN), Recording()
    emit = fan_out(failing, other, warn=warnings.append)
    emit(finished("one"))
    emit(finished("two"))
    assert failing.calls == 1
    assert warnings == [
        "cannot write the failing output: No space left on device; the failing output gets no more of this run"
    ]
    assert other.seen == [finished("one"), finished("two")]


def test_a_sink_s_own_bug_is_never_caught() -> None:
    class Buggy(Subscriber):
        on_failure = FailurePolicy.WARN

        def on_image_finished(self, event: ImageFinished) -> None:
            raise KeyError("a bug")

    with pytest.raises(KeyError):
        fan_out(Buggy(), warn=lambda message: None)(finished())


def test_the_policies_the_sinks_declare() -> None:
    assert JsonLinesReport.on_failure is FailurePolicy.STOP
    assert RunMetrics.on_failure is FailurePolicy.WARN
    assert LineLog.on_failure is FailurePolicy.STOP
    assert RunTally.on_failure is FailurePolicy.STOP


class FullDisk(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_report_on_a_full_disk_stops_the_run_at_the_fan_out(tmp_path: Path) -> None:
    path = tmp_path / "report.jsonl"
    report = JsonLinesReport(str(path), "livecopy")
    header = json.loads(path.read_text())
    assert header["record"] == "header"
    report._stream = FullDisk()  # type: ignore[assignment]  # the disk fills up after the header
    emit = fan_out(RunTally(), report, warn=lambda message: pytest.fail(message))
    emit(BytesCopied("an-id", 10))  # no line for this: nothing written, nothing failed
    with pytest.raises(RunError, match=rf"^cannot write the report {re.escape(str(path))}: No space left on device$"):
        emit(finished())
    # The same for one of several targets' share of the report.
    with pytest.raises(RunError, match=r"^cannot write the report "):
        fan_out(report.for_target("east"))(finished())


def test_a_metrics_textfile_that_cannot_be_written_at_the_end_only_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "textfiles"
    directory.mkdir()
    textfile = directory / "replicator.prom"
    watcher = MetricsWatcher(Metrics(metrics_file=textfile), "livecopy")
    assert textfile.exists()  # written at the start
    # The directory goes away under the run (a root process ignores a read-only mode; a file
    # where the directory was stops everyone).
    textfile.unlink()
    directory.rmdir()
    directory.write_text("not a directory")
    for sink in watcher.sinks():
        fan_out(sink, warn=lambda message: pytest.fail(message))(finished())
    watcher.ended(succeeded=True)
    err = capsys.readouterr().err
    assert err.startswith(f"replicator: warning: cannot write the metrics file {textfile}: ")
    assert err.count("\n") == 1


async def test_a_report_that_fills_the_disk_mid_run_ends_the_run_with_its_one_error(tmp_path: Path) -> None:
    from replicator.engine import run as engine
    from replicator.model.settings import Settings
    from tests.support.memory_stores import MemoryStore, image_record

    path = tmp_path / "report.jsonl"
    report = JsonLinesReport(str(path), "livecopy")
    report._stream = FullDisk()  # type: ignore[assignment]
    source, target = MemoryStore([image_record(), image_record()]), MemoryStore()
    # The RunError itself, not a group of them from the workers, nor a traceback of one.
    with pytest.raises(RunError, match=r"^cannot write the report .*: No space left on device$"):
        await engine.replicate(source, target, Settings(), fan_out(RunTally(), report))
