"""The health engine proper: ``score``, ``overall_status``, ``vitals`` and ``evaluate``, which runs
every check registered in ``registry.CHECKS`` and builds the ``HealthReport``.

Owns the ordering of findings and how they add up. It must never read a clock, the network, the
database or the environment: same inputs, same report, in the same order.
"""

from __future__ import annotations

from collections.abc import Iterable

# Each *_checks module registers its checks with ``health_check`` when imported.
from . import (  # noqa: F401
    config_checks,
    fleet_checks,
    router_checks,
    task_checks,
    traffic_checks,
)
from .findings import is_live
from .model import (
    HealthCheck,
    HealthInputs,
    HealthReport,
    HealthVitals,
    OverallStatus,
    PassedCheck,
)
from .registry import CHECKS, Check
from .thresholds import SEVERITY_PENALTY, SEVERITY_RANK


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


def check_id(check: Check) -> str:
    """A check's name: its function's name without ``check_``."""
    return check.__name__.removeprefix("check_")


def what_is_checked(check: Check) -> str:
    """The first line of a check's docstring: what it looks at, shown when it passes."""
    return (check.__doc__ or check_id(check)).strip().splitlines()[0].rstrip(".")


def _order(check: HealthCheck) -> tuple[int, str, str, str]:
    return (SEVERITY_RANK[check.severity], check.check_id, check.node_id or "", check.title)


def evaluate(inputs: HealthInputs) -> HealthReport:
    """Run every check over ``inputs``; findings sorted critical first, then by check id."""
    found: list[HealthCheck] = []
    passed: list[PassedCheck] = []
    for check in CHECKS:
        findings = check(inputs)
        found.extend(findings)
        if not findings:
            passed.append(PassedCheck(check_id=check_id(check), title=what_is_checked(check)))
    found.sort(key=_order)
    return HealthReport(
        passed=passed,
        score=score(found),
        status=overall_status(found),
        vitals=vitals(inputs),
        checks=found,
        checked_at=inputs.now,
    )
