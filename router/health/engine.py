"""The health engine proper: ``CHECKS`` (every check, in order), ``score``, ``overall_status``,
``vitals`` and ``evaluate``, which runs the checks and builds the ``HealthReport``.

Owns the ordering of findings and how they add up. It must never read a clock, the network, the
database or the environment: same inputs, same report, in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .config_checks import check_kv_cache_bloat, check_open_fleet, check_version_mismatch
from .findings import is_live
from .fleet_checks import (
    check_degraded_nodes,
    check_memory_pressure,
    check_no_nodes,
    check_offline_nodes,
    check_ollama_unreachable,
    check_underutilized_nodes,
)
from .model import Findings, HealthCheck, HealthInputs, HealthReport, HealthVitals, OverallStatus
from .thresholds import (
    SEVERITY_PENALTY,
    SEVERITY_RANK,
)
from .traffic_checks import (
    check_client_disconnects,
    check_context_protection,
    check_error_rate,
    check_incomplete_streams,
    check_model_fallbacks,
    check_model_thrashing,
    check_request_timeouts,
    check_retry_rate,
    check_vram_fallbacks,
    check_zombie_reaper,
)

CHECKS: tuple[Callable[[HealthInputs], Findings], ...] = (
    check_no_nodes,
    check_offline_nodes,
    check_degraded_nodes,
    check_ollama_unreachable,
    check_memory_pressure,
    check_underutilized_nodes,
    check_kv_cache_bloat,
    check_version_mismatch,
    check_vram_fallbacks,
    check_model_fallbacks,
    check_context_protection,
    check_zombie_reaper,
    check_model_thrashing,
    check_request_timeouts,
    check_error_rate,
    check_retry_rate,
    check_client_disconnects,
    check_incomplete_streams,
    check_open_fleet,
)
"""Every check ``evaluate`` runs."""


def score(checks: Iterable[HealthCheck]) -> int:
    """100 minus ``SEVERITY_PENALTY`` per finding, clamped to 0..100."""
    penalty = sum(SEVERITY_PENALTY[c.severity] for c in checks)
    return max(0, min(100, 100 - penalty))


def overall_status(checks: Iterable[HealthCheck]) -> OverallStatus:
    """The worst finding decides: any critical, else any warning, else healthy (info is fine)."""
    severities = {c.severity for c in checks}
    if "critical" in severities:
        return "critical"
    if "warning" in severities:
        return "warning"
    return "healthy"


def vitals(inputs: HealthInputs) -> HealthVitals:
    nodes = inputs.nodes
    t = inputs.traffic
    return HealthVitals(
        nodes_total=len(nodes),
        nodes_online=sum(1 for n in nodes if n.status == "online"),
        nodes_degraded=sum(1 for n in nodes if n.status == "degraded"),
        nodes_offline=sum(1 for n in nodes if n.status == "offline"),
        nodes_draining=sum(1 for n in nodes if n.draining),
        models_loaded=sum(len(n.ollama.models_loaded) for n in nodes if is_live(n)),
        window_s=t.window_s,
        requests_24h=t.requests_total,
        error_rate=t.effective_error_rate,
        retries_24h=t.retries,
        timeouts_24h=t.timeouts,
        cold_loads_24h=t.effective_cold_loads,
        ttft_p50_ms=t.ttft_p50_ms,
    )


def _order(check: HealthCheck) -> tuple[int, str, str, str]:
    return (SEVERITY_RANK[check.severity], check.check_id, check.node_id or "", check.title)


def evaluate(inputs: HealthInputs) -> HealthReport:
    """Run every check over ``inputs``; findings sorted critical first, then by check id."""
    found = [finding for check in CHECKS for finding in check(inputs)]
    found.sort(key=_order)
    return HealthReport(
        score=score(found),
        status=overall_status(found),
        vitals=vitals(inputs),
        checks=found,
        checked_at=inputs.now,
    )
