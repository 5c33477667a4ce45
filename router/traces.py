"""One routing decision as it is recorded: the trace record shared by the pipeline and the store.

The pipeline fills a ``TraceRecord`` per attempt; the store writes it to ``request_traces``;
analytics and health read rows back as the same shape. No I/O here.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

TraceStatus = Literal[
    "completed", "failed", "retried", "client_disconnected", "incomplete", "rejected"
]
"""``rejected``: refused before routing (bad input, no node, full queue); ``retried``: an attempt
that failed and was tried again elsewhere: before the first byte, or mid-stream when the answer
went on on another node (``resumed_on``)."""

RequestKind = Literal["chat", "generate", "embed", "embeddings", "show", "image", "transcribe"]


@dataclass(slots=True)
class TraceRecord:
    request_id: str
    model: str
    """The model that served (or was to serve) the request."""
    original_model: str
    """The model the client asked for."""
    node_id: str | None
    status: TraceStatus
    timestamp: float = field(default_factory=time.time)
    """Epoch seconds when the request arrived."""
    kind: RequestKind = "chat"
    api: Literal["ollama", "openai", "anthropic", "responses", "internal"] = "ollama"
    stream: bool = True
    score: float | None = None
    scores_breakdown: dict[str, float] = field(default_factory=dict)
    latency_ms: float | None = None
    time_to_first_token_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    eval_duration_ns: int | None = None
    load_duration_ns: int | None = None
    retry_count: int = 0
    fallback_used: bool = False
    fallback_reason: str | None = None
    """``fallback_models``, ``vram_fallback``: why another model served."""
    context_protected: bool = False
    cold_load: bool = False
    reaped: bool = False
    http_status: int | None = None
    tags: list[str] = field(default_factory=list)
    client_ip: str | None = None
    error_message: str | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    """The nodes the router weighed for this attempt (in a large fleet the best ten ranked and
    ten rejected, ``Ranking.explain``): ``node_id``, and either ``estimate_s``, ``breakdown`` and
    ``outcome`` (``chosen`` or ``ranked lower``) or ``outcome`` ``rejected`` with its ``reason``;
    last, when some were left out, ``outcome`` ``not shown`` with a ``reason`` counting them."""
    resumed_on: str | None = None
    """On a ``retried`` attempt whose node failed mid-stream: the node the answer went on on."""
    resumed_from: list[str] = field(default_factory=list)
    """On the attempt that finished a resumed answer: the nodes that failed mid-stream before it,
    in order (as many as the answer was resumed)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def tokens_per_second(self) -> float | None:
        if not self.completion_tokens or not self.eval_duration_ns:
            return None
        return self.completion_tokens / self.eval_duration_ns * 1e9
