"""The speed history: speeds learned from the durations Ollama reports; recent demand."""

from __future__ import annotations

import pytest

from router.demand import HALF_LIFE_S, Demand
from router.latency import COLD_LOAD_MIN_S, Run, SpeedHistory
from router.scoring.speed import RUNNER_START_S

GB = 1e9


def answer(tokens: int = 100, tps: float = 50.0, prompt: int = 200, pps: float = 500.0, **kw):
    """The last object of an Ollama answer, with durations in nanoseconds."""
    return {
        "eval_count": tokens,
        "eval_duration": int(tokens / tps * 1e9),
        "prompt_eval_count": prompt,
        "prompt_eval_duration": int(prompt / pps * 1e9),
        **kw,
    }


def test_speeds_are_medians_of_reported_durations() -> None:
    h = SpeedHistory()
    for tps in (40.0, 50.0, 60.0):
        h.observe("a", "m", Run.from_final(5 * GB, answer(tps=tps)))
    speed = h.speeds().models[("a", "m")]
    assert speed.decode_tps == pytest.approx(50.0)
    assert speed.prefill_tps == pytest.approx(500.0)
    assert speed.load_s is None and speed.samples == 3


def test_cold_loads_are_learned_and_hot_ones_ignored() -> None:
    h = SpeedHistory()
    h.observe("a", "m", Run.from_final(4 * GB, answer(load_duration=int(2.7e9))))
    h.observe(
        "a", "m", Run.from_final(4 * GB, answer(load_duration=int(COLD_LOAD_MIN_S / 2 * 1e9)))
    )
    speeds = h.speeds()
    assert speeds.models[("a", "m")].load_s == pytest.approx(2.7)
    # 4 GB in 2.7 s minus the runner start: the node's load throughput, for any model.
    assert speeds.nodes["a"].load_gbps == pytest.approx(4 / (2.7 - RUNNER_START_S))


def test_node_bandwidth_carries_over_and_answer_lengths_are_averaged() -> None:
    h = SpeedHistory()
    h.observe("a", "m", Run.from_final(5 * GB, answer(tokens=100, tps=40.0)))
    h.observe("a", "m", Run.from_final(5 * GB, answer(tokens=300, tps=40.0)))
    speeds = h.speeds()
    assert speeds.nodes["a"].bandwidth_gbps == pytest.approx(40.0 * 5)
    assert speeds.nodes["a"].prefill_factor == pytest.approx(500.0 / 40.0)
    assert speeds.output_tokens["m"] == pytest.approx(200.0)


def test_unusable_figures_are_skipped_and_the_value_is_cached() -> None:
    h = SpeedHistory()
    h.observe("a", "m", Run.from_final(0.0, {"eval_count": 2, "prompt_eval_count": 3}))
    first = h.speeds()
    assert ("a", "m") not in first.models and first is h.speeds()
    h.observe("a", "m", Run.from_final(0.0, answer()))
    assert h.speeds() is not first and h.speeds().models[("a", "m")].decode_tps


def test_ring_is_bounded_and_keeps_the_newest() -> None:
    h = SpeedHistory(max_samples=3)
    for tps in (10.0, 10.0, 10.0, 90.0, 90.0, 90.0):
        h.observe("a", "m", Run.from_final(GB, answer(tps=tps)))
    assert h.speeds().models[("a", "m")].decode_tps == pytest.approx(90.0)
    with pytest.raises(ValueError):
        SpeedHistory(max_samples=0)


def test_wall_clock_against_reported_durations() -> None:
    # A simulator at time scale 0.1 reports 10 s for what took 1 s of wall clock.
    h = SpeedHistory()
    assert h.speeds().wall_per_reported == 1.0
    for _ in range(3):
        h.observe("a", "m", Run.from_final(GB, answer(total_duration=10_000_000_000), 1.0))
    assert h.speeds().wall_per_reported == pytest.approx(0.1)


def test_seed_from_stored_rows() -> None:
    h = SpeedHistory()
    rows = [("a", "m", 100, 2_000_000_000, 3_000_000_000), (None, "m", 1, 1, 1)]
    assert h.seed(rows) == 1
    speed = h.speeds().models[("a", "m")]
    assert speed.decode_tps == pytest.approx(50.0) and speed.load_s == pytest.approx(3.0)


def test_demand_is_a_decaying_rate() -> None:
    demand = Demand()
    for second in range(600):
        demand.note("busy", float(second))  # one a second, for ten minutes
    demand.note("once", 0.0)
    rates = demand.rates(600.0)
    assert rates["busy"] == pytest.approx(1.0, rel=0.1)
    assert rates["once"] < rates["busy"] / 100
    later = Demand()
    later.note("m", 0.0)
    fresh = later.rates(0.0)["m"]
    assert later.rates(HALF_LIFE_S)["m"] == pytest.approx(fresh / 2)
