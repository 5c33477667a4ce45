"""Latency history for the scorer: recent latencies, TTFTs and speeds per (node_id, model).

Owns a bounded ring of recent observations per node:model and the cheap statistics the scorer
reads on every decision (p50/p75/p95 latency, p50 time to first token, median tokens/s). Stats are
cached per key and recomputed only after a new observation. At start the history is seeded from
the store's recent completed traces (``TraceStore.recent_latencies``).

Pure: no clock, no I/O, no locking (it lives on the event loop). Percentiles use the same
nearest-rank definition as ``router.analytics``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from router.analytics import nearest_rank, percentile, tokens_per_second

Key = tuple[str, str]
"""``(node_id, model)``."""


@dataclass(frozen=True, slots=True)
class LatencyStats:
    p50_ms: float
    p75_ms: float
    p95_ms: float
    ttft_p50_ms: float | None
    tokens_per_s: float | None
    samples: int
    """Latency samples in the ring (TTFT and speed may have fewer)."""


class _Ring:
    __slots__ = ("latency", "speed", "ttft")

    def __init__(self, size: int) -> None:
        self.latency: deque[float] = deque(maxlen=size)
        self.ttft: deque[float] = deque(maxlen=size)
        self.speed: deque[float] = deque(maxlen=size)


class LatencyHistory:
    """Bounded per node:model history with cached statistics."""

    def __init__(self, max_samples: int = 256) -> None:
        if max_samples < 1:
            raise ValueError("max_samples must be at least 1")
        self.max_samples = max_samples
        self._rings: dict[Key, _Ring] = {}
        self._stats: dict[Key, LatencyStats] = {}
        self._sorted: dict[Key, list[float]] = {}
        self._snapshot: dict[Key, LatencyStats] | None = None
        self.version = 0
        """Bumped on every observation; readers may cache derived maps against it."""

    def observe(
        self,
        node_id: str,
        model: str,
        latency_ms: float | None,
        ttft_ms: float | None = None,
        tokens_per_s: float | None = None,
    ) -> None:
        """Add one completed request. ``None`` (or negative) values are not recorded."""
        key = (node_id, model)
        ring = self._rings.get(key)
        if ring is None:
            ring = self._rings[key] = _Ring(self.max_samples)
        if latency_ms is not None and latency_ms >= 0:
            ring.latency.append(float(latency_ms))
        if ttft_ms is not None and ttft_ms >= 0:
            ring.ttft.append(float(ttft_ms))
        if tokens_per_s is not None and tokens_per_s > 0:
            ring.speed.append(float(tokens_per_s))
        self._stats.pop(key, None)
        self._sorted.pop(key, None)
        self._snapshot = None
        self.version += 1

    def seed(
        self,
        rows: Iterable[
            tuple[str | None, str, float | None, float | None, int | None, int | None]
            | Sequence[object]
        ],
    ) -> int:
        """Load rows ``(node_id, model, latency_ms, ttft_ms, completion_tokens,
        eval_duration_ns)``, oldest first (the ring keeps the newest). Returns rows used."""
        used = 0
        for row in rows:
            node_id, model, latency, ttft, tokens, eval_ns = row
            if node_id is None or model is None:
                continue
            self.observe(
                str(node_id),
                str(model),
                latency,  # type: ignore[arg-type]
                ttft,  # type: ignore[arg-type]
                tokens_per_second(tokens, eval_ns),  # type: ignore[arg-type]
            )
            used += 1
        return used

    def _latencies(self, key: Key) -> list[float]:
        ordered = self._sorted.get(key)
        if ordered is None:
            ring = self._rings.get(key)
            ordered = sorted(ring.latency) if ring else []
            self._sorted[key] = ordered
        return ordered

    def percentile(self, node_id: str, model: str, q: float) -> float | None:
        """Nearest-rank latency percentile (``q`` in 0..1); ``None`` without samples."""
        return percentile(self._latencies((node_id, model)), q)

    def stats(self, node_id: str, model: str) -> LatencyStats | None:
        """Cached stats of one node:model; ``None`` until it has a latency sample."""
        key = (node_id, model)
        cached = self._stats.get(key)
        if cached is None:
            lat = self._latencies(key)
            if not lat:
                return None
            ring = self._rings[key]
            cached = LatencyStats(
                p50_ms=lat[nearest_rank(len(lat), 0.5) - 1],
                p75_ms=lat[nearest_rank(len(lat), 0.75) - 1],
                p95_ms=lat[nearest_rank(len(lat), 0.95) - 1],
                ttft_p50_ms=percentile(sorted(ring.ttft), 0.5),
                tokens_per_s=percentile(sorted(ring.speed), 0.5),
                samples=len(ring.latency),
            )
            self._stats[key] = cached
        return cached

    def snapshot(self) -> dict[Key, LatencyStats]:
        """Stats of every node:model with a latency sample. Only keys observed since the last
        call are recomputed; the same dict is returned until the next observation (read-only)."""
        if self._snapshot is None:
            self._snapshot = {
                key: stats for key in self._rings if (stats := self.stats(*key)) is not None
            }
        return self._snapshot

    def __len__(self) -> int:
        return len(self._rings)
