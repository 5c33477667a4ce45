"""What every check shares to read the inputs and phrase a finding: node order and labels,
liveness, percentages, sizes, window lengths, and the severity a rate earns.

Owns that vocabulary so every finding reads alike. It must never decide a check's own
thresholds or emit findings itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from router.fleet_status import NodeView

from .model import Severity, ratio
from .thresholds import MIN_REQUESTS_FOR_RATES


def pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def gb(value: float) -> str:
    return f"{value:.1f} GB"


def window_text(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 60:.0f} min"


def sorted_nodes(nodes: Iterable[NodeView]) -> list[NodeView]:
    return sorted(nodes, key=lambda n: n.node_id)


def label(node: NodeView) -> str:
    host = node.hardware.hostname
    return f"{node.node_id} ({host})" if host and host != node.node_id else node.node_id


def rate_severity(
    count: int,
    total: int,
    *,
    min_count: int,
    levels: Sequence[tuple[float, Severity]],
) -> Severity | None:
    """The severity of the highest level whose rate threshold ``count/total`` reaches."""
    if total < MIN_REQUESTS_FOR_RATES or count < min_count:
        return None
    rate = ratio(count, total)
    found: Severity | None = None
    for threshold, severity in sorted(levels, key=lambda item: item[0]):
        if rate >= threshold:
            found = severity
    return found


def is_live(node: NodeView) -> bool:
    return node.status != "offline"
