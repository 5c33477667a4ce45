"""Prometheus metrics of the router: counters fed by every finished attempt, gauges read at scrape.

Owns ``Metrics``: one ``CollectorRegistry`` per router (tests run several in one process). The
request path pays a few dictionary increments per attempt (``observe``: plain Python counters and
bucket counts, turned into Prometheus families only when scraped); everything that
is state already held elsewhere (queues, node lifecycle, circuit breakers, the trace writer's
drops) is read only when ``GET /metrics`` is scraped, through the ``snapshot`` callable the app
wires in. Model labels are capped (``MAX_MODEL_LABELS``) so clients naming random models cannot
grow the exposition without bound.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from router.traces import TraceRecord

MAX_MODEL_LABELS = 256
OTHER = "other"
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
NODE_STATES = ("online", "degraded", "offline")
BREAKER_STATES = ("closed", "open", "half_open")


@dataclass(slots=True)
class Snapshot:
    """What the gauges show, read from the router's parts at scrape time."""

    queues: dict[str, tuple[int, int]] = field(default_factory=dict)
    """``node:model`` -> (queued, in flight)."""
    nodes: dict[str, str] = field(default_factory=dict)
    """Node id -> lifecycle state."""
    breakers: dict[str, str] = field(default_factory=dict)
    """Node id -> circuit-breaker state."""
    traces_dropped: int = 0
    log_write_errors: int = 0


class _Gauges(Collector):
    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot()
        in_flight = GaugeMetricFamily(
            "herd_in_flight", "Requests running on a node:model now", labels=["node", "model"]
        )
        queued = GaugeMetricFamily(
            "herd_queued", "Requests waiting for a slot on a node:model", labels=["node", "model"]
        )
        for key, (waiting, running) in sorted(s.queues.items()):
            node, _, model = key.partition(":")
            in_flight.add_metric([node, model], running)
            queued.add_metric([node, model], waiting)
        yield in_flight
        yield queued
        state = GaugeMetricFamily(
            "herd_node_state", "1 for the node's current lifecycle state", labels=["node", "state"]
        )
        for node, current in sorted(s.nodes.items()):
            for name in NODE_STATES:
                state.add_metric([node, name], 1.0 if name == current else 0.0)
        yield state
        breaker = GaugeMetricFamily(
            "herd_circuit_state", "1 for the node's circuit-breaker state", labels=["node", "state"]
        )
        for node, current in sorted(s.breakers.items()):
            for name in BREAKER_STATES:
                breaker.add_metric([node, name], 1.0 if name == current else 0.0)
        yield breaker
        yield _counter("herd_traces_dropped", "Traces the store could not write", s.traces_dropped)
        yield _counter(
            "herd_log_write_errors", "Log lines the file could not take", s.log_write_errors
        )


def _counter(name: str, documentation: str, value: int) -> Metric:
    family = CounterMetricFamily(name, documentation)
    family.add_metric([], value)
    return family


class _Histogram:
    """Bucket counts and a sum, updated with one ``bisect`` and two additions."""

    __slots__ = ("buckets", "counts", "total")

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        running, out = 0, []
        for bound, count in zip((*self.buckets, math.inf), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == math.inf else repr(float(bound)), float(running)))
        return out


_COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "herd_requests": (
        "Attempts by model, node, kind and final status",
        ("model", "node", "kind", "status"),
    ),
    "herd_tokens": ("Tokens by model, node and direction", ("model", "node", "direction")),
    "herd_cold_loads": ("Completed attempts that loaded their model", ("model", "node")),
    "herd_retries": (
        "Attempts that failed before the first byte and were retried",
        ("model", "node"),
    ),
    "herd_stream_resumes": (
        "Streams whose node failed mid-stream and went on on another node, by the failed node",
        ("model", "node"),
    ),
    "herd_fallbacks": ("Requests served by another model, by reason", ("reason",)),
    "herd_restores": (
        "Displaced models loaded back onto their node, by outcome (done, failed)",
        ("model", "node", "outcome"),
    ),
}
_HISTOGRAMS: dict[str, tuple[str, tuple[str, ...], tuple[float, ...]]] = {
    "herd_request_duration_seconds": (
        "Time from arrival to the last byte (or the failure)",
        ("model", "kind"),
        LATENCY_BUCKETS,
    ),
    "herd_time_to_first_token_seconds": (
        "Time from arrival to the first byte from the node",
        ("model",),
        TTFT_BUCKETS,
    ),
    "herd_queue_wait_seconds": ("Time a request waited for a slot", ("model",), WAIT_BUCKETS),
}


class Metrics(Collector):
    """The router's counters and histograms as plain dictionaries, exposed at scrape time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        self._counters: dict[str, dict[tuple[str, ...], float]] = {n: {} for n in _COUNTERS}
        self._histograms: dict[str, dict[tuple[str, ...], _Histogram]] = {
            n: {} for n in _HISTOGRAMS
        }
        self._models: set[str] = set()

    def watch(self, snapshot: Callable[[], Snapshot]) -> None:
        """Expose the gauges ``snapshot`` reads at each scrape."""
        self.registry.register(_Gauges(snapshot))

    def _model(self, name: str) -> str:
        if name in self._models:
            return name
        if len(self._models) >= MAX_MODEL_LABELS:
            return OTHER
        self._models.add(name)
        return name

    def _inc(self, name: str, labels: tuple[str, ...], by: float = 1.0) -> None:
        series = self._counters[name]
        series[labels] = series.get(labels, 0.0) + by

    def _observe(self, name: str, labels: tuple[str, ...], value: float) -> None:
        series = self._histograms[name]
        histogram = series.get(labels)
        if histogram is None:
            histogram = series[labels] = _Histogram(_HISTOGRAMS[name][2])
        histogram.observe(value)

    def observe(self, trace: TraceRecord) -> None:
        """Count one finished attempt (called by the trace journal for every trace)."""
        model = self._model(trace.model)
        node = trace.node_id or ""
        self._inc("herd_requests", (model, node, trace.kind, trace.status))
        if trace.latency_ms is not None:
            self._observe(
                "herd_request_duration_seconds", (model, trace.kind), trace.latency_ms / 1000
            )
        if trace.time_to_first_token_ms is not None:
            self._observe(
                "herd_time_to_first_token_seconds", (model,), trace.time_to_first_token_ms / 1000
            )
        if trace.prompt_tokens:
            self._inc("herd_tokens", (model, node, "prompt"), trace.prompt_tokens)
        if trace.completion_tokens:
            self._inc("herd_tokens", (model, node, "completion"), trace.completion_tokens)
        if trace.status == "retried":
            resumed = trace.resumed_on is not None
            self._inc("herd_stream_resumes" if resumed else "herd_retries", (model, node))
        elif trace.status == "completed":
            if trace.cold_load:
                self._inc("herd_cold_loads", (model, node))
            if trace.fallback_used:
                self._inc("herd_fallbacks", (trace.fallback_reason or "unknown",))

    def restored(self, model: str, node: str, ok: bool) -> None:
        """Count one restore of a displaced model (``router.restorer``)."""
        self._inc("herd_restores", (self._model(model), node, "done" if ok else "failed"))

    def waited(self, model: str, seconds: float) -> None:
        self._observe("herd_queue_wait_seconds", (self._model(model),), seconds)

    def collect(self) -> Iterator[Metric]:
        for name, (documentation, labels) in _COUNTERS.items():
            counter = CounterMetricFamily(name, documentation, labels=list(labels))
            for values, total in sorted(self._counters[name].items()):
                counter.add_metric(list(values), total)
            yield counter
        for name, (documentation, labels, _) in _HISTOGRAMS.items():
            family = HistogramMetricFamily(name, documentation, labels=list(labels))
            for values, histogram in sorted(self._histograms[name].items()):
                family.add_metric(list(values), histogram.cumulative(), histogram.total)
            yield family

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
