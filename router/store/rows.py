"""A trace as the store keeps it, and the latency rows it gives back.

Owns ``TRACE_COLUMNS`` (the columns of ``request_traces``, in the order of every stored tuple),
``COLUMN`` (each column's index in that tuple), ``trace_row`` (a ``TraceRecord`` as that tuple:
JSON text, 0/1 flags), ``Pending`` (a buffered trace and its tags) and ``RunRow``.

Pure: never touches the database.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from router.traces import TraceRecord

TRACE_COLUMNS: tuple[str, ...] = (
    "request_id",
    "model",
    "original_model",
    "node_id",
    "status",
    "timestamp",
    "kind",
    "api",
    "stream",
    "score",
    "scores_breakdown",
    "latency_ms",
    "time_to_first_token_ms",
    "prompt_tokens",
    "completion_tokens",
    "eval_duration_ns",
    "load_duration_ns",
    "retry_count",
    "fallback_used",
    "fallback_reason",
    "context_protected",
    "cold_load",
    "reaped",
    "http_status",
    "tags",
    "client_ip",
    "error_message",
    "candidates",
    "resumed_on",
    "resumed_from",
)

COLUMN = {name: i for i, name in enumerate(TRACE_COLUMNS)}

Pending = tuple[tuple[Any, ...], tuple[str, ...]]
"""A buffered trace: its column values and its distinct tags."""


class RunRow(NamedTuple):
    """One completed attempt, as the speed history is seeded with."""

    node_id: str
    model: str
    completion_tokens: int | None
    eval_duration_ns: int | None
    load_duration_ns: int | None


def trace_row(trace: TraceRecord) -> tuple[Any, ...]:
    """A trace as the tuple of ``TRACE_COLUMNS`` values (JSON text, 0/1 flags)."""
    return (
        trace.request_id,
        trace.model,
        trace.original_model,
        trace.node_id,
        trace.status,
        float(trace.timestamp),
        trace.kind,
        trace.api,
        int(bool(trace.stream)),
        trace.score,
        json.dumps(trace.scores_breakdown, separators=(",", ":")),
        trace.latency_ms,
        trace.time_to_first_token_ms,
        trace.prompt_tokens,
        trace.completion_tokens,
        trace.eval_duration_ns,
        trace.load_duration_ns,
        int(trace.retry_count),
        int(bool(trace.fallback_used)),
        trace.fallback_reason,
        int(bool(trace.context_protected)),
        int(bool(trace.cold_load)),
        int(bool(trace.reaped)),
        trace.http_status,
        json.dumps(list(trace.tags), separators=(",", ":")),
        trace.client_ip,
        trace.error_message,
        json.dumps(trace.candidates, separators=(",", ":")),
        trace.resumed_on,
        json.dumps(trace.resumed_from, separators=(",", ":")),
    )
