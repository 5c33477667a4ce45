"""Per-node circuit breakers, and the first-byte timeout each attempt gets.

A node whose last ``threshold`` attempts failed before their first byte (connection refused,
first-byte timeout, connection dropped) is *open*: it gets no new requests for a cooldown. Then it
is *half-open*: one request may probe it; a first byte closes the breaker, another failure opens
it again for twice as long (up to ``max_cooldown_s``). A node that answers with an HTTP error is
alive and does not trip its breaker; a failure of the router's own (``LOCAL_KINDS``: its
connection pool stayed full) neither trips nor closes it. Timeouts already leave out the time the
router's own event loop stalled (``router.http_client.stalls``), so an overloaded router does not
open the breakers of healthy nodes.

The first-byte timeout adapts to what the scorer expects the attempt to take (load, prompt and,
for a non-streamed answer, the whole generation, measured per node and model): ``FACTOR`` times
that, plus ``SLACK_S``, between the configured floor and ceiling, instead of one fixed 600 s that
a frozen node would hold every request for. Pure: the clock is passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

BreakerState = Literal["closed", "open", "half_open"]
TRIPPING_KINDS = frozenset({"connect", "timeout", "dropped"})
"""``AttemptFailed.kind`` values that say the node itself is unreachable or stuck."""
LOCAL_KINDS = frozenset({"local"})
"""``AttemptFailed.kind`` values that say nothing about the node (the router's own limits)."""
FACTOR = 3.0
SLACK_S = 5.0


def first_byte_timeout(expected_s: float, floor_s: float, ceiling_s: float) -> float:
    """Seconds to wait for an attempt's first byte when the scorer expects ``expected_s``."""
    floor_s = min(floor_s, ceiling_s)
    return max(floor_s, min(ceiling_s, FACTOR * max(0.0, expected_s) + SLACK_S))


@dataclass(slots=True)
class _Breaker:
    failures: int = 0
    open_until: float = 0.0
    cooldown_s: float = 0.0
    probe_since: float | None = None
    """When the half-open probe went out (a probe that never reports back expires)."""


class Breakers:
    def __init__(
        self,
        clock: Callable[[], float],
        threshold: int = 3,
        cooldown_s: float = 10.0,
        max_cooldown_s: float = 300.0,
    ) -> None:
        self.clock = clock
        self.threshold = max(1, threshold)
        self.cooldown_s = cooldown_s
        self.max_cooldown_s = max(cooldown_s, max_cooldown_s)
        self._nodes: dict[str, _Breaker] = {}

    def state(self, node_id: str, now: float | None = None) -> BreakerState:
        b = self._nodes.get(node_id)
        if b is None or b.failures < self.threshold:
            return "closed"
        now = self.clock() if now is None else now
        return "open" if now < b.open_until else "half_open"

    def blocked(self) -> set[str]:
        """Nodes that may not take a new request now: open ones, and half-open ones whose probe
        is still out."""
        now = self.clock()
        return {
            node_id
            for node_id, b in self._nodes.items()
            if b.failures >= self.threshold
            and (
                now < b.open_until
                or (b.probe_since is not None and now - b.probe_since < self.max_cooldown_s)
            )
        }

    def attempting(self, node_id: str) -> None:
        """An attempt goes to ``node_id``: on a half-open node it is the probe."""
        b = self._nodes.get(node_id)
        if b is not None and b.failures >= self.threshold:
            b.probe_since = self.clock()

    def succeeded(self, node_id: str) -> None:
        """The node sent a first byte (or an HTTP answer): it is alive."""
        self._nodes.pop(node_id, None)

    def failed(self, node_id: str, kind: str) -> bool:
        """Count a failure before the first byte; ``True`` when it opened the breaker."""
        if kind in LOCAL_KINDS:
            return False
        if kind not in TRIPPING_KINDS:
            self.succeeded(node_id)
            return False
        b = self._nodes.setdefault(node_id, _Breaker())
        b.failures += 1
        b.probe_since = None
        if b.failures < self.threshold:
            return False
        b.cooldown_s = (
            self.cooldown_s if b.cooldown_s == 0 else min(self.max_cooldown_s, 2 * b.cooldown_s)
        )
        b.open_until = self.clock() + b.cooldown_s
        return True

    def snapshot(self) -> dict[str, BreakerState]:
        """Every node with a breaker that is not closed, and its state."""
        now = self.clock()
        return {
            node_id: self.state(node_id, now)
            for node_id, b in self._nodes.items()
            if b.failures >= self.threshold
        }
