"""Where a finished attempt goes: the trace store, the request log line, and a change signal.

Owns ``TraceJournal``: the pipeline hands it every trace (completed, failed, retried, rejected)
and it writes it to the store (batched, off the request path), counts it in the Prometheus
metrics, logs one JSON line in herd.jsonl, and tells the live dashboard something changed.
Never decides a status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from router.metrics import Metrics
from router.store import TraceStore
from router.traces import TraceRecord

request_log = logging.getLogger("herd.requests")
"""One JSON line per attempt in herd.jsonl (never on the console: it is the hot path)."""


class TraceJournal:
    def __init__(self, store: TraceStore, on_change: Callable[[], None], metrics: Metrics) -> None:
        self.store = store
        self.on_change = on_change
        self.metrics = metrics

    def record(self, trace: TraceRecord) -> None:
        self.store.record(trace)
        self.metrics.observe(trace)
        if request_log.isEnabledFor(logging.INFO):
            request_log.info(
                "%s %s %s",
                trace.status,
                trace.model,
                trace.node_id or "-",
                extra={
                    "request_id": trace.request_id,
                    "model": trace.model,
                    "node_id": trace.node_id,
                    "status": trace.status,
                    "latency_ms": trace.latency_ms,
                    "ttft_ms": trace.time_to_first_token_ms,
                    "retries": trace.retry_count,
                    "tokens": trace.completion_tokens,
                    "error": trace.error_message,
                },
            )
        self.on_change()
