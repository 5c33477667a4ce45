"""In-memory latency history per node:model, for the scorer's latency signal.

A bounded ring of recent observations per (node_id, model); statistics are computed lazily and
cached until the next observation. Seeded from the trace store at start so a restarted router
routes as well as before. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

WINDOW = 200
"""Observations kept per node:model."""


@dataclass(frozen=True, slots=True)
class LatencyStats:
    p50_ms: float
    p75_ms: float
    p95_ms: float
    ttft_p50_ms: float | None
    tokens_per_s: float | None
    samples: int


def _nearest_rank(values: list[float], q: float) -> float:
    index = max(0, min(len(values) - 1, int(q * len(values) + 0.999999) - 1))
    return values[index]


class LatencyHistory:
    def __init__(self, window: int = WINDOW) -> None:
        self.window = window
        self._latency: dict[tuple[str, str], deque[float]] = {}
        self._ttft: dict[tuple[str, str], deque[float]] = {}
        self._speed: dict[tuple[str, str], deque[float]] = {}
        self._stats: dict[tuple[str, str], LatencyStats] = {}
        self._stale: set[tuple[str, str]] = set()
        self.version = 0
        """Bumped on every observation; readers cache derived maps against it."""

    def observe(
        self,
        node_id: str,
        model: str,
        latency_ms: float,
        ttft_ms: float | None = None,
        tokens_per_s: float | None = None,
    ) -> None:
        key = (node_id, model)
        self._ring(self._latency, key).append(float(latency_ms))
        if ttft_ms is not None:
            self._ring(self._ttft, key).append(float(ttft_ms))
        if tokens_per_s is not None and tokens_per_s > 0:
            self._ring(self._speed, key).append(float(tokens_per_s))
        self._stale.add(key)
        self.version += 1

    def _ring(
        self, table: dict[tuple[str, str], deque[float]], key: tuple[str, str]
    ) -> deque[float]:
        ring = table.get(key)
        if ring is None:
            ring = table[key] = deque(maxlen=self.window)
        return ring

    def seed(self, rows: Iterable[Any]) -> int:
        """Take rows of ``(node_id, model, latency_ms, ttft_ms, completion_tokens,
        eval_duration_ns)``, oldest first; returns how many were used."""
        used = 0
        for row in rows:
            node_id, model, latency_ms, ttft_ms, tokens, eval_ns = tuple(row)[:6]
            if not node_id or latency_ms is None:
                continue
            speed = tokens / eval_ns * 1e9 if tokens and eval_ns else None
            self.observe(node_id, model, latency_ms, ttft_ms, speed)
            used += 1
        return used

    def percentile(self, node_id: str, model: str, q: float) -> float | None:
        ring = self._latency.get((node_id, model))
        if not ring:
            return None
        return _nearest_rank(sorted(ring), q)

    def snapshot(self) -> dict[tuple[str, str], LatencyStats]:
        """Statistics per (node_id, model); only keys observed since the last call are redone.

        The same dict object is returned each time (treat it as read-only).
        """
        for key in self._stale:
            ordered = sorted(self._latency[key])
            ttfts = sorted(self._ttft.get(key, ()))
            speeds = self._speed.get(key)
            self._stats[key] = LatencyStats(
                p50_ms=_nearest_rank(ordered, 0.50),
                p75_ms=_nearest_rank(ordered, 0.75),
                p95_ms=_nearest_rank(ordered, 0.95),
                ttft_p50_ms=_nearest_rank(ttfts, 0.5) if ttfts else None,
                tokens_per_s=sum(speeds) / len(speeds) if speeds else None,
                samples=len(ordered),
            )
        self._stale.clear()
        return self._stats
