"""The scorer's latency history: bounded rings, nearest-rank stats, caching, seeding."""

from __future__ import annotations

import pytest

from router.latency import LatencyHistory, LatencyStats


def test_percentiles_and_stats() -> None:
    h = LatencyHistory()
    for v in range(1, 21):
        h.observe("a", "m", float(v * 10), ttft_ms=float(v), tokens_per_s=float(v))
    assert h.percentile("a", "m", 0.5) == 100.0
    assert h.percentile("a", "m", 0.95) == 190.0
    assert h.percentile("b", "m", 0.5) is None
    assert h.stats("a", "m") == LatencyStats(
        p50_ms=100.0, p75_ms=150.0, p95_ms=190.0, ttft_p50_ms=10.0, tokens_per_s=10.0, samples=20
    )


def test_ring_is_bounded_and_keeps_the_newest() -> None:
    h = LatencyHistory(max_samples=5)
    for v in range(100):
        h.observe("a", "m", float(v))
    stats = h.stats("a", "m")
    assert stats is not None and stats.samples == 5
    assert h.percentile("a", "m", 0.0) == 95.0


def test_snapshot_is_cached_until_an_observation() -> None:
    h = LatencyHistory()
    h.observe("a", "m", 10.0)
    h.observe("b", "m", 30.0)
    first = h.snapshot()
    assert h.snapshot() is first
    assert set(first) == {("a", "m"), ("b", "m")}
    version = h.version
    h.observe("a", "m", 50.0)
    assert h.version == version + 1
    second = h.snapshot()
    assert second is not first
    assert second[("a", "m")].p95_ms == 50.0 and second[("a", "m")].samples == 2
    assert second[("b", "m")] is first[("b", "m")]  # untouched keys are not recomputed


def test_keys_without_latency_stay_out_of_the_snapshot() -> None:
    h = LatencyHistory()
    h.observe("a", "m", None, ttft_ms=5.0)
    h.observe("a", "m", -1.0)
    assert h.stats("a", "m") is None
    assert h.snapshot() == {}


def test_seed_from_store_rows() -> None:
    h = LatencyHistory()
    used = h.seed(
        [
            ("a", "m", 100.0, 20.0, 50, 1_000_000_000),
            ("a", "m", 300.0, None, None, None),
            (None, "m", 1.0, 1.0, 1, 1),
            ("b", "n", 40.0, 4.0, 10, 500_000_000),
        ]
    )
    assert used == 3
    snap = h.snapshot()
    assert snap[("a", "m")].tokens_per_s == 50.0
    assert snap[("a", "m")].p50_ms == 100.0 and snap[("a", "m")].samples == 2
    assert snap[("b", "n")].tokens_per_s == 20.0
    with pytest.raises(ValueError):
        LatencyHistory(max_samples=0)
