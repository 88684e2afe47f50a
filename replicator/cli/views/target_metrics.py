"""The metrics of a run with several targets: per target, with a `target` label.

The label's values are a closed set the operator chose: the targets' names as the command line
gives them (a TARGET argument, or a cloud and region), never a value a server or a tenant wrote.
The run's own metrics (`metrics.RunMetrics`) count all targets together; these say which target
did what, and `replicator_source_read_bytes_total` how much was read from the source (each
image once, however many targets it went to).
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter

from replicator.engine.actions import ActionKind, Outcome
from replicator.engine.events import BytesCopied, FailurePolicy, ImageFinished, Subscriber


class TargetMetrics:
    def __init__(self, registry: CollectorRegistry, names: Sequence[str]) -> None:
        labels = ["target", "action", "result"]
        self.images = Counter(
            "replicator_target_images", "Images finished on each target, by action and result.", labels,
            registry=registry,
        )  # fmt: skip
        self.copied_bytes = Counter(
            "replicator_target_copied_bytes", "Bytes sent to each target, counted as they stream.", ["target"],
            registry=registry,
        )  # fmt: skip
        self.source_read_bytes = Counter(
            "replicator_source_read_bytes", "Bytes read from the source, once per image for all targets.",
            registry=registry,
        )  # fmt: skip
        self._read = 0
        for name in names:  # every series exists from the start, at zero
            self.copied_bytes.labels(name)
            for action in ActionKind:
                for outcome in Outcome:
                    self.images.labels(name, action, outcome)

    def for_target(self, name: str) -> Subscriber:
        """The sink of one target's events: its series carry its name."""
        return _TargetSink(self, name)

    def source_read(self, total: int) -> None:
        """The source's bytes read so far by the run (a total: the counter goes up by the difference)."""
        if total > self._read:
            self.source_read_bytes.inc(total - self._read)
            self._read = total


class _TargetSink(Subscriber):
    """One target's events into the per-target series; a failure warns, as every metric's does."""

    on_failure = FailurePolicy.WARN
    output = "the metrics"

    def __init__(self, metrics: TargetMetrics, name: str) -> None:
        self._metrics, self._name = metrics, name

    def on_image_finished(self, event: ImageFinished) -> None:
        self._metrics.images.labels(self._name, event.result.action, event.result.result).inc()

    def on_bytes_copied(self, event: BytesCopied) -> None:
        self._metrics.copied_bytes.labels(self._name).inc(event.count)
