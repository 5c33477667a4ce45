"""The learned weekly pattern of each node: how busy its CPU usually is at this hour of the week.

Some devices are busy at predictable times (a laptop during working hours, a desktop in the
evening). Every heartbeat's CPU utilisation updates an exponential moving average for its
hour-of-week slot (168 slots, UTC); the scorer reads the slot of the coming hour to avoid
starting long work on a device that is about to get busy. Pure: timestamps are passed in, and
persisting the pattern (``to_json`` / ``from_json``) is the caller's I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SLOTS = 168
HOUR_S = 3600.0
WEEK_S = SLOTS * HOUR_S
EPOCH_MONDAY_OFFSET_S = 3 * 86_400.0
"""1970-01-01 was a Thursday: shift so that slot 0 is Monday 00:00 UTC."""
ALPHA = 0.05
"""Weight of a new sample: about the last 20 heartbeats of a slot dominate (a minute and a half
of heartbeats within one hour, i.e. the pattern follows recent weeks, not recent seconds)."""
MIN_SAMPLES = 12
"""A slot says nothing until it has seen this many heartbeats (an hour at 5 s gives 720)."""


def slot_of(ts: float) -> int:
    return int(((ts + EPOCH_MONDAY_OFFSET_S) % WEEK_S) // HOUR_S)


@dataclass(slots=True)
class NodePattern:
    mean: list[float] = field(default_factory=lambda: [0.0] * SLOTS)
    samples: list[int] = field(default_factory=lambda: [0] * SLOTS)

    def observe(self, ts: float, cpu_pct: float) -> None:
        slot = slot_of(ts)
        value = min(max(cpu_pct, 0.0), 100.0)
        if self.samples[slot] == 0:
            self.mean[slot] = value
        else:
            self.mean[slot] += ALPHA * (value - self.mean[slot])
        self.samples[slot] += 1

    def expected(self, ts: float) -> float | None:
        """The usual CPU utilisation (0-100) in the hour starting at ``ts``, when learned."""
        slot = slot_of(ts)
        return self.mean[slot] if self.samples[slot] >= MIN_SAMPLES else None


class WeeklyPatterns:
    def __init__(self) -> None:
        self._nodes: dict[str, NodePattern] = {}

    def observe(self, node_id: str, ts: float, cpu_pct: float) -> None:
        pattern = self._nodes.get(node_id)
        if pattern is None:
            pattern = self._nodes[node_id] = NodePattern()
        pattern.observe(ts, cpu_pct)

    def expected_next_hour(self, node_id: str, now: float) -> float | None:
        """The usual CPU utilisation of ``node_id`` over the coming hour, when learned."""
        pattern = self._nodes.get(node_id)
        if pattern is None:
            return None
        later = pattern.expected(now + HOUR_S)
        current = pattern.expected(now)
        known = [v for v in (current, later) if v is not None]
        return max(known) if known else None

    def to_json(self) -> dict[str, Any]:
        return {
            node_id: {"mean": [round(v, 2) for v in p.mean], "samples": p.samples}
            for node_id, p in self._nodes.items()
        }

    @classmethod
    def from_json(cls, data: Any) -> WeeklyPatterns:
        """Patterns saved by ``to_json``; anything malformed is skipped, never fatal."""
        patterns = cls()
        if not isinstance(data, dict):
            return patterns
        for node_id, entry in data.items():
            if not isinstance(entry, dict):
                continue
            mean, samples = entry.get("mean"), entry.get("samples")
            if not isinstance(mean, list) or not isinstance(samples, list):
                continue
            valid = (
                len(mean) == SLOTS
                and len(samples) == SLOTS
                and all(isinstance(v, int | float) for v in mean)
                and all(isinstance(n, int) and n >= 0 for n in samples)
            )
            if valid:
                patterns._nodes[str(node_id)] = NodePattern(
                    mean=[float(v) for v in mean], samples=list(samples)
                )
        return patterns
