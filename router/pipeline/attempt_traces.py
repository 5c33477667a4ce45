"""The traces of a request's attempts, written as the pipeline goes: one row per attempt.

Owns ``AttemptTraces``: the trace of an attempt about to be forwarded, a failed attempt's row
(``retried`` once another attempt follows, else the request's final ``failed`` row naming every
node tried and why, the whole time taken and the retries made), the row of a client that left
(while queued, or while its attempt waited for a first byte) and the row of a request refused
before routing. Rows go to the ``TraceJournal``; nothing here decides what the pipeline does.
"""

from __future__ import annotations

import logging
import time

from herd_contract.model_names import normalize
from router.errors import HerdError, UpstreamFailure
from router.pipeline.attempt import Attempt, Failures
from router.pipeline.journal import TraceJournal
from router.pipeline.request import Api, InferenceRequest, RequestKind
from router.traces import TraceRecord
from router.upstream import AttemptFailed

log = logging.getLogger("herd.dispatch")


class AttemptTraces:
    """Build and record the trace rows of attempts, failures, departures and refusals."""

    def __init__(self, journal: TraceJournal) -> None:
        self.journal = journal

    def new(
        self,
        request: InferenceRequest,
        attempt: Attempt,
        original: str,
        retries: int,
        fallback_reason: str | None,
    ) -> TraceRecord:
        """The trace of an attempt about to be forwarded (``completed`` until it says otherwise)."""
        choice = attempt.choice
        return TraceRecord(
            request_id=request.request_id,
            model=attempt.model,
            original_model=original,
            node_id=choice.node_id,
            status="completed",
            timestamp=request.received_at,
            kind=request.kind,
            api=request.api,
            stream=request.stream,
            score=round(choice.estimate_s, 4),
            scores_breakdown={k: round(v, 4) for k, v in choice.breakdown.items()},
            retry_count=retries,
            fallback_used=attempt.model != original,
            fallback_reason=fallback_reason if attempt.model != original else None,
            cold_load=not choice.hot,
            tags=list(request.tags),
            client_ip=request.client_ip,
        )

    def failed(
        self,
        request: InferenceRequest,
        attempt: Attempt,
        trace: TraceRecord,
        failure: AttemptFailed,
        failures: Failures,
    ) -> None:
        """Keep a failed attempt's trace: ``retried`` when another attempt follows, the final
        ``failed`` row otherwise (recorded now when it cannot be retried)."""
        trace.status = "retried"
        trace.error_message = failure.message
        trace.http_status = failure.status
        trace.latency_ms = round((time.perf_counter() - request.started) * 1000, 3)
        self.retried(failures)
        failures.tried.append((attempt.choice.node_id, failure.message))
        failures.pending = trace
        if not failure.retryable:
            self.final_failure(request, failures, None)
        log.info(
            "attempt on %s failed: %s",
            attempt.choice.node_id,
            failure.message,
            extra={"request_id": request.request_id, "node_id": attempt.choice.node_id},
        )

    def retried(self, failures: Failures) -> None:
        """Another attempt follows the last failed one: its trace says ``retried``."""
        if failures.pending is not None:
            self.journal.record(failures.pending)
            failures.pending = None

    def final_failure(
        self, request: InferenceRequest, failures: Failures, error: HerdError | None
    ) -> None:
        """The last failed attempt's trace becomes the request's ``failed`` row: its node, every
        node tried and why, the whole time taken, and the retries made."""
        trace = failures.pending
        assert trace is not None
        failures.pending = None
        trace.status = "failed"
        attempts = len(failures.tried)
        if attempts > 1:
            trace.error_message = f"failed on {attempts} nodes: {failures.summary()}"
        trace.retry_count = attempts - 1
        trace.latency_ms = round((time.perf_counter() - request.started) * 1000, 3)
        if error is not None:
            trace.http_status = error.status
            error.traced = True
        self.journal.record(trace)

    def left_waiting(
        self, request: InferenceRequest, trace: TraceRecord, failures: Failures
    ) -> None:
        """The client left while this attempt waited for the node's first byte."""
        self.retried(failures)
        trace.status = "client_disconnected"
        trace.latency_ms = round((time.perf_counter() - request.started) * 1000, 3)
        trace.error_message = "the client left before the node's first byte"
        request.left_traced = True
        self.journal.record(trace)

    def left_while_queued(self, request: InferenceRequest) -> None:
        """The client left before the request had a node (waiting in a line or a queue)."""
        self.journal.record(
            TraceRecord(
                request_id=request.request_id,
                model=normalize(request.model),
                original_model=normalize(request.model),
                node_id=None,
                status="client_disconnected",
                timestamp=request.received_at,
                kind=request.kind,
                api=request.api,
                stream=request.stream,
                tags=list(request.tags),
                client_ip=request.client_ip,
                latency_ms=round((time.perf_counter() - request.started) * 1000, 3),
                error_message="the client left while the request waited for a slot",
            )
        )

    def rejected(
        self,
        request_id: str,
        model: str,
        kind: RequestKind,
        api: Api,
        error: HerdError,
        client_ip: str | None,
        tags: list[str] | None = None,
    ) -> None:
        """Trace a request refused before routing (bad input, unknown model, no capacity)."""
        error.traced = True
        self.journal.record(
            TraceRecord(
                request_id=request_id,
                model=normalize(model) if model else "",
                original_model=normalize(model) if model else "",
                node_id=None,
                status="failed" if isinstance(error, UpstreamFailure) else "rejected",
                kind=kind,
                api=api,
                http_status=error.status,
                error_message=error.message,
                client_ip=client_ip,
                tags=tags or [],
                latency_ms=0.0,
            )
        )
