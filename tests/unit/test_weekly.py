"""The learned weekly pattern: hour-of-week slots, a moving average, and its saved form."""

from __future__ import annotations

from router.weekly import HOUR_S, MIN_SAMPLES, WeeklyPatterns, slot_of

MONDAY = 1_795_392_000.0  # 2026-11-23 00:00 UTC, a Monday


def test_slots_start_on_monday_midnight_utc() -> None:
    assert slot_of(MONDAY) == 0
    assert slot_of(MONDAY + 9 * HOUR_S + 59) == 9
    assert slot_of(MONDAY + 6 * 86_400 + 23 * HOUR_S) == 167
    assert slot_of(MONDAY + 7 * 86_400) == 0


def test_a_slot_speaks_only_after_enough_samples() -> None:
    patterns = WeeklyPatterns()
    for _ in range(MIN_SAMPLES - 1):
        patterns.observe("laptop", MONDAY + 10 * HOUR_S, 80.0)
    assert patterns.expected_next_hour("laptop", MONDAY + 10 * HOUR_S) is None
    patterns.observe("laptop", MONDAY + 10 * HOUR_S, 80.0)
    assert patterns.expected_next_hour("laptop", MONDAY + 10 * HOUR_S) == 80.0
    assert patterns.expected_next_hour("other", MONDAY) is None


def test_the_average_moves_slowly_towards_new_samples() -> None:
    patterns = WeeklyPatterns()
    for _ in range(MIN_SAMPLES):
        patterns.observe("n", MONDAY, 0.0)
    patterns.observe("n", MONDAY, 100.0)
    expected = patterns.expected_next_hour("n", MONDAY)
    assert expected is not None and 0.0 < expected < 10.0


def test_the_coming_hour_counts_when_it_is_busier() -> None:
    # Monday 08:xx is quiet, 09:xx busy: at 08:30 the node is expected to get busy.
    patterns = WeeklyPatterns()
    for _ in range(MIN_SAMPLES):
        patterns.observe("n", MONDAY + 8 * HOUR_S, 5.0)
        patterns.observe("n", MONDAY + 9 * HOUR_S, 90.0)
    assert patterns.expected_next_hour("n", MONDAY + 8.5 * HOUR_S) == 90.0


def test_patterns_survive_their_saved_form_and_reject_damage() -> None:
    patterns = WeeklyPatterns()
    for _ in range(MIN_SAMPLES):
        patterns.observe("n", MONDAY, 42.0)
    restored = WeeklyPatterns.from_json(patterns.to_json())
    assert restored.expected_next_hour("n", MONDAY) == 42.0
    damaged = WeeklyPatterns.from_json(
        {"a": {"mean": [1.0], "samples": [1]}, "b": "nonsense", "c": {"mean": "x"}}
    )
    assert damaged.to_json() == {}
    assert WeeklyPatterns.from_json(["not", "a", "dict"]).to_json() == {}
