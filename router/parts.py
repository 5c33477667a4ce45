"""The router's long-lived parts, built once per process in one place and passed explicitly.

Owns ``AppParts`` (every part, none optional) and ``build_parts``, the one place they are
constructed and wired to each other. Building does no I/O: ``router.app`` opens the store, seeds
the latency history and starts the background work in its lifespan, and tests build the same
parts the same way. Holds references only; it owns no behaviour.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from herd_contract.logs import log_write_errors
from router.auth import Keys
from router.benchmarks import BenchmarkRunner
from router.config import RouterSettings
from router.events import EventHub
from router.fleet_view import fleet_status
from router.latency import SpeedHistory
from router.metrics import Metrics
from router.metrics import Snapshot as MetricsSnapshot
from router.node_identity import IdentityBook
from router.pipeline.breakers import Breakers
from router.pipeline.candidates import Ranker
from router.pipeline.dispatch import Pipeline
from router.pipeline.journal import TraceJournal
from router.pipeline.pulls import PullCoordinator
from router.pipeline.show import ModelShow
from router.queues import QueueBoard
from router.registry import Registry
from router.restorer import EvictionRestorer
from router.store import TraceStore
from router.supervisor import Supervisor
from router.upstream import Upstream


@dataclass(frozen=True, slots=True)
class AppParts:
    settings: RouterSettings
    clock: Callable[[], float]
    started_at: float
    registry: Registry
    identities: IdentityBook
    queues: QueueBoard
    store: TraceStore
    """Built closed: ``router.app`` opens it at startup and closes it at shutdown."""
    upstream: Upstream
    latency: SpeedHistory
    ranker: Ranker
    pulls: PullCoordinator
    pipeline: Pipeline
    model_show: ModelShow
    events: EventHub
    benchmarks: BenchmarkRunner
    metrics: Metrics
    supervisor: Supervisor
    """Owns the background tasks ``router.app`` starts; the health report reads its snapshot."""
    restorer: EvictionRestorer
    """Loads models an eviction displaced back where they ran (a background task)."""

    @property
    def keys(self) -> Keys:
        s = self.settings
        return Keys(fleet_token=s.fleet_token, api_key=s.api_key, admin_key=s.admin_key)


def build_parts(settings: RouterSettings, clock: Callable[[], float] = time.time) -> AppParts:
    """Every part of the router, wired; nothing opened or started yet."""
    registry = Registry(
        clock,
        degraded_after_s=settings.degraded_after_s,
        offline_after_s=settings.offline_after_s,
        forget_after_s=settings.forget_after_s,
    )
    queues = QueueBoard(clock, max_queue=settings.max_queue_per_model)
    store = TraceStore(settings.db_path, retention_days=settings.toggles.trace_retention_days)
    upstream = Upstream(
        connect_timeout_s=settings.connect_timeout_s,
        first_byte_timeout_s=settings.first_byte_timeout_s,
        read_timeout_s=settings.read_timeout_s,
    )

    def snapshot() -> dict[str, Any]:
        now = clock()
        status = fleet_status(
            registry.with_status(now), queues.stats(), now, waiting=queues.waiting()
        )
        return {"ts": now, **status.model_dump(mode="json")}

    events = EventHub(snapshot)
    registry.subscribe(events.changed)
    latency = SpeedHistory()
    ranker = Ranker(registry, queues, settings, clock, latency)
    pulls = PullCoordinator(registry, upstream, clock)
    metrics = Metrics()
    breakers = Breakers(
        clock, threshold=settings.breaker_failures, cooldown_s=settings.breaker_cooldown_s
    )

    def gauges() -> MetricsSnapshot:
        return MetricsSnapshot(
            queues={k: (q.pending, q.in_flight) for k, q in queues.stats().items()},
            nodes={r.node_id: s for r, s in registry.with_status()},
            breakers={r.node_id: breakers.state(r.node_id) for r in registry.records()},
            traces_dropped=store.dropped,
            log_write_errors=log_write_errors(),
        )

    metrics.watch(gauges)
    journal = TraceJournal(store, events.changed, metrics)
    pipeline = Pipeline(
        settings,
        clock,
        queues,
        ranker,
        upstream,
        pulls,
        journal,
        breakers,
        ollama_version=registry.ollama_version,
    )
    return AppParts(
        settings=settings,
        clock=clock,
        started_at=clock(),
        registry=registry,
        identities=IdentityBook(settings.require_address_approval, settings.identities_path),
        queues=queues,
        store=store,
        upstream=upstream,
        latency=latency,
        ranker=ranker,
        pulls=pulls,
        pipeline=pipeline,
        model_show=ModelShow(registry, upstream, journal),
        events=events,
        benchmarks=BenchmarkRunner(store, pipeline, clock),
        metrics=metrics,
        supervisor=Supervisor(clock),
        restorer=EvictionRestorer(
            settings, registry, queues, ranker.demand, upstream, metrics, clock
        ),
    )
