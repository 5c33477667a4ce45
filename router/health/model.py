"""The health engine's data: ``TrafficStats`` and ``HealthInputs`` going in, ``HealthCheck``
findings, ``HealthVitals`` and the ``HealthReport`` coming out, and the severity vocabulary.

Owns the shapes ``GET /dashboard/api/health`` returns and the router fills. It must never hold
thresholds, run checks, or read a clock, the network, the database or the environment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from router.fleet_status import NodeView
from router.supervisor import TaskHealth

Severity = Literal["info", "warning", "critical"]
OverallStatus = Literal["healthy", "warning", "critical"]


def ratio(count: int, total: int) -> float:
    return count / total if total > 0 else 0.0


# --- inputs --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrafficStats:
    """What the recorded traffic says about the window; the router fills it with SQL.

    ``requests_total`` counts client requests (one per request id, not per attempt); every rate in
    the report is a fraction of it.
    """

    window_s: float = 86_400.0
    """Length of the window the numbers cover, in seconds (24 h by default)."""
    requests_total: int = 0
    completed: int = 0
    failed: int = 0
    retried: int = 0
    """Attempts recorded with status ``retried`` (failed before the first byte, tried elsewhere)."""
    client_disconnected: int = 0
    incomplete: int = 0
    """Streams that broke after bytes reached the client."""
    timeouts: int = 0
    """Attempts that hit the connect, first-byte or read timeout upstream."""
    retries: int = 0
    """Extra attempts made (sum of ``retry_count``)."""
    model_fallbacks: int = 0
    """Requests served by one of the client's ``fallback_models``."""
    vram_fallbacks: int = 0
    """Requests served by a loaded stand-in instead of the cold model asked for."""
    context_protections: int = 0
    """Requests whose ``num_ctx`` was dropped to avoid a needless reload."""
    zombie_reaps: int = 0
    """Stalled requests whose slot the zombie reaper freed."""
    cold_loads: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """Cold loads per ``(node_id, model)``."""
    cold_loads_total: int = 0
    """All cold loads; when 0, the sum of ``cold_loads`` is used."""
    ttft_p50_ms: float | None = None
    """Median time to first token over the window."""
    error_rate: float | None = None
    """Failed / total as the store computed it; when ``None``, derived from the counts."""
    media: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Image and transcription jobs: kind -> ``{by_status: {status: n}, last_error}``."""

    @property
    def effective_cold_loads(self) -> int:
        return self.cold_loads_total or sum(self.cold_loads.values())

    @property
    def effective_error_rate(self) -> float:
        if self.error_rate is not None:
            return self.error_rate
        return ratio(self.failed, self.requests_total)


@dataclass(frozen=True, slots=True)
class RouterVitals:
    """What the router process knows about its own writes since it started."""

    traces_dropped: int = 0
    """Traces the store could not write (a full or read-only disk, a full buffer)."""
    last_error: str | None = None
    log_write_errors: int = 0


@dataclass(frozen=True, slots=True)
class HealthInputs:
    """Everything a health evaluation looks at; nothing else is consulted."""

    nodes: Sequence[NodeView]
    """The registry snapshot (``FleetStatus.nodes``)."""
    router_version: str
    now: float
    """Epoch seconds of the evaluation; becomes ``HealthReport.checked_at``."""
    traffic: TrafficStats = field(default_factory=TrafficStats)
    per_node_requests: Mapping[str, int] = field(default_factory=dict)
    """Requests each node served in the window, by node id."""
    fleet_token_set: bool = False
    api_key_set: bool = False
    admin_key_set: bool = False
    listens_on_network: bool = True
    """Whether the router listens on an address other devices can reach (not loopback only)."""
    tasks: Sequence[TaskHealth] = ()
    """The router's supervised background tasks (``Supervisor.snapshot()``)."""
    store: RouterVitals = field(default_factory=RouterVitals)


# --- outputs -------------------------------------------------------------------------------------


class HealthCheck(BaseModel):
    """One finding: what is wrong, the numbers that show it, and what to do."""

    check_id: str = Field(description="Stable snake_case id of the check that produced this.")
    severity: Severity
    title: str
    description: str = Field(description="One paragraph, with the numbers that triggered it.")
    fix: str = Field(description="A concrete action: a command, an env var or a setting.")
    node_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class HealthVitals(BaseModel):
    nodes_total: int
    nodes_online: int
    nodes_degraded: int
    nodes_offline: int
    nodes_draining: int
    models_loaded: int
    window_s: float
    requests_24h: int
    """Requests in the window (named for the default 24 h window)."""
    error_rate: float
    retries_24h: int
    timeouts_24h: int
    cold_loads_24h: int
    ttft_p50_ms: float | None


class PassedCheck(BaseModel):
    """A check that found nothing wrong, so a reader sees what was looked at."""

    check_id: str
    title: str


class HealthReport(BaseModel):
    score: int = Field(ge=0, le=100)
    status: OverallStatus
    vitals: HealthVitals
    checks: list[HealthCheck]
    checked_at: float
    passed: list[PassedCheck] = Field(default_factory=list)


Findings = list[HealthCheck]
"""What one check returns: zero or more findings."""
