"""Pure numbers over traces (router.measures) and the store's answer shapes (router.store.shapes),
on hand-made rows."""

from __future__ import annotations

import random

import pytest

from router import measures as m
from router.store import shapes as s

DAY = 86_400
T0 = 1_700_006_400  # 2023-11-15 00:00:00 UTC, a day boundary


def counters(**kw: float) -> dict[str, float]:
    row = dict.fromkeys(m.COUNTER_FIELDS, 0)
    row.update(kw)
    return row


def test_nearest_rank_percentiles_are_observed_values() -> None:
    values = [float(v) for v in range(1, 11)]
    assert m.percentile(values, 0.5) == 5.0
    assert m.percentile(values, 0.9) == 9.0
    assert m.percentile(values, 0.95) == 10.0
    assert m.percentile(values, 0.0) == 1.0
    assert m.percentile(values, 1.0) == 10.0
    assert m.percentile([], 0.5) is None
    assert m.percentiles([3, 1, 2, 4]) == {"p50": 2, "p95": 4, "p99": 4}
    with pytest.raises(ValueError):
        m.nearest_rank(3, 1.5)
    with pytest.raises(ValueError):
        m.nearest_rank(0, 0.5)


def test_quantile_keys_and_rates() -> None:
    assert m.quantile_key(0.5) == "p50"
    assert m.quantile_key(0.999) == "p99.9"
    assert m.error_rate(1, 3) == 0.3333
    assert m.error_rate(5, 0) == 0.0
    assert m.tokens_per_second(100, 2_000_000_000) == 50.0
    assert m.tokens_per_second(0, 10) is None


def test_days_and_hours_are_filled_and_ordered() -> None:
    assert m.day_label(m.day_number(T0 + 10)) == "2023-11-15"
    # a two-hour offset moves 23:00 UTC into the next local day
    assert m.day_label(m.day_number(T0 - 3600, tz_offset_s=7200)) == "2023-11-15"
    assert [m.day_label(d) for d in m.day_numbers(T0 - DAY + 5, T0 + DAY)] == [
        "2023-11-14",
        "2023-11-15",
    ]
    assert m.hour_starts(T0 + 3 * 3600 + 59, 3) == [T0 + 3600, T0 + 7200, T0 + 10800]


def test_trace_counters_follow_the_request_conventions() -> None:
    row = dict(
        zip(
            m.COUNTER_FIELDS,
            m.trace_counters("completed", 10, 50, 200.0, 40.0, 1, True, False, 1_000_000_000),
            strict=True,
        )
    )
    assert row == counters(
        attempts=1,
        requests=1,
        completed=1,
        prompt_tokens=10,
        completion_tokens=50,
        latency_sum=200.0,
        latency_n=1,
        ttft_sum=40.0,
        ttft_n=1,
        retries=1,
        fallbacks=1,
        tps_tokens=50,
        tps_eval_ns=1_000_000_000,
    )
    retried = m.trace_counters("retried", None, None, 5.0, None, 0, False, True, None)
    assert retried[:4] == (1, 0, 0, 0)  # an attempt, not a request
    failed = dict(
        zip(
            m.COUNTER_FIELDS,
            m.trace_counters("incomplete", 3, 7, 9.0, 1.0, 0, 0, 0, 5),
            strict=True,
        )
    )
    assert failed["errors"] == 1 and failed["latency_n"] == 0 and failed["tps_tokens"] == 0


def test_histogram_percentiles_are_within_a_bucket() -> None:
    rng = random.Random(3)
    values = [rng.lognormvariate(6, 1) for _ in range(5000)]
    hist: dict[int, int] = {}
    for v in values:
        b = m.histogram_bucket(v)
        assert m.HIST_BASE ** (b - 1) < max(v, m.HIST_MIN) <= m.HIST_BASE**b * (1 + 1e-9)
        hist[b] = hist.get(b, 0) + 1
    approx = m.histogram_percentiles(hist)
    exact = m.percentiles(values)
    for key in ("p50", "p95", "p99"):
        assert approx[key] == pytest.approx(exact[key], rel=0.026)
    assert m.histogram_percentiles({}) == {"p50": None, "p95": None, "p99": None}


def test_shape_usage_rolls_up_and_fills_days() -> None:
    d = m.day_number(T0)
    rows = [
        {
            "day": d,
            "node_id": "a",
            "model": "m1",
            **counters(
                requests=3, completed=2, errors=1, prompt_tokens=30, latency_sum=300.0, latency_n=2
            ),
        },
        {
            "day": d,
            "node_id": "b",
            "model": "m1",
            **counters(requests=1, completed=1, completion_tokens=7, latency_sum=50.0, latency_n=1),
        },
        {"day": d + 2, "node_id": None, "model": "m2", **counters(requests=2, errors=2)},
    ]
    out = s.shape_usage(rows, T0, T0 + 3 * DAY)
    assert out["days"] == ["2023-11-15", "2023-11-16", "2023-11-17"]
    assert out["totals"] == {
        "requests": 6,
        "completed": 3,
        "errors": 3,
        "error_rate": 0.5,
        "prompt_tokens": 30,
        "completion_tokens": 7,
        "avg_latency_ms": 116.67,
    }
    assert [day["requests"] for day in out["by_day"]] == [4, 0, 2]
    assert out["by_day"][1]["avg_latency_ms"] is None
    assert [(n["node_id"], n["requests"]) for n in out["by_node"]] == [
        ("a", 3),
        (None, 2),
        ("b", 1),
    ]
    assert [(m["model"], m["requests"], m["errors"]) for m in out["by_model"]] == [
        ("m1", 4, 1),
        ("m2", 2, 2),
    ]
    assert out["rows"][0] == {
        "day": "2023-11-15",
        "node_id": "a",
        "model": "m1",
        "requests": 3,
        "completed": 2,
        "errors": 1,
        "error_rate": 0.3333,
        "prompt_tokens": 30,
        "completion_tokens": 0,
        "avg_latency_ms": 150.0,
    }


def test_shape_model_stats_merges_counters_percentiles_and_nodes() -> None:
    model_rows = [
        {
            "model": "small",
            **counters(
                requests=2,
                completed=2,
                latency_sum=30.0,
                latency_n=2,
                ttft_sum=8.0,
                ttft_n=2,
                cold_loads=1,
            ),
        },
        {
            "model": "big",
            **counters(
                requests=5,
                completed=4,
                errors=1,
                latency_sum=400.0,
                latency_n=4,
                retries=2,
                fallbacks=1,
            ),
        },
    ]
    node_rows = [
        {
            "model": "big",
            "node_id": "x",
            **counters(
                requests=5,
                completed=4,
                latency_sum=400.0,
                latency_n=4,
                tps_tokens=300,
                tps_eval_ns=10_000_000_000,
            ),
        },
    ]
    out = s.shape_model_stats(
        model_rows,
        node_rows,
        s.group_percentiles(
            [{"model": "big", "q": 0.5, "value": 90.0}, {"model": "big", "q": 0.99, "value": 180.0}]
        ),
        {},
    )
    assert [m["model"] for m in out] == ["big", "small"]
    big = out[0]
    assert big["latency_ms"] == {"p50": 90.0, "p95": None, "p99": 180.0, "avg": 100.0}
    assert big["ttft_ms"] == {"p50": None, "p95": None, "p99": None, "avg": None}
    assert (big["error_rate"], big["retries"], big["fallbacks"]) == (0.2, 2, 1)
    assert big["nodes"][0]["tokens_per_s"] == 30.0
    assert big["percentiles_exact"] is True
    assert out[1]["ttft_ms"]["avg"] == 4.0 and out[1]["cold_loads"] == 1 and out[1]["nodes"] == []


def test_shape_tags() -> None:
    stats = s.shape_tag_stats(
        [{"tag": "app:x", **counters(requests=1)}, {"tag": "app:y", **counters(requests=4)}],
        [
            {"tag": "app:y", "model": "m1", "requests": 1},
            {"tag": "app:y", "model": "m2", "requests": 3},
        ],
    )
    assert [s["tag"] for s in stats] == ["app:y", "app:x"]
    assert stats[0]["models"] == [{"model": "m2", "requests": 3}, {"model": "m1", "requests": 1}]
    daily = s.shape_tag_daily(
        [{"tag": "app:x", "day": m.day_number(T0 + DAY), **counters(requests=2, errors=1)}],
        T0,
        T0 + 2 * DAY,
    )
    assert daily["days"] == ["2023-11-15", "2023-11-16"]
    assert [(p["day"], p["requests"], p["error_rate"]) for p in daily["series"]["app:x"]] == [
        ("2023-11-15", 0, 0.0),
        ("2023-11-16", 2, 0.5),
    ]


def test_shape_hourly_fills_every_hour() -> None:
    now = T0 + 5 * 3600 + 10
    rows = [
        {"hour": T0 + 5 * 3600, "model": "m", **counters(requests=2, completed=2)},
        {"hour": T0 + 3 * 3600, "model": "n", **counters(requests=1, errors=1)},
        {"hour": T0, "model": "m", **counters(requests=9)},  # outside the window
    ]
    out = s.shape_hourly(rows, now, 3)
    assert [b["hour"] for b in out["buckets"]] == [T0 + 3 * 3600, T0 + 4 * 3600, T0 + 5 * 3600]
    assert [b["requests"] for b in out["buckets"]] == [1, 0, 2]
    assert out["by_model"] == {"m": [0, 0, 2], "n": [1, 0, 0]}


def test_shape_health_counts() -> None:
    out = s.shape_health_counts(
        [
            {"status": "completed", "n": 7},
            {"status": "failed", "n": 1},
            {"status": "retried", "n": 2},
            {"status": "incomplete", "n": 1},
            {"status": "client_disconnected", "n": 1},
        ],
        {"retries": 2, "retried_requests": 2, "timeouts": 1, "cold_loads": 3},
        [{"node_id": "a", "model": "m", "n": 1}, {"node_id": "b", "model": "m", "n": 2}],
        0.0,
        1.0,
    )
    assert out["attempts"] == 12 and out["requests"] == 10
    assert out["errors"] == 2 and out["error_rate"] == 0.2
    assert out["by_status"]["rejected"] == 0
    assert out["client_disconnects"] == 1 and out["incomplete"] == 1 and out["timeouts"] == 1
    assert out["cold_loads_by"][0] == {"node_id": "b", "model": "m", "count": 2}


def test_decode_trace_row() -> None:
    row = s.decode_trace_row(
        {"scores_breakdown": '{"thermal": 1.5}', "tags": "not json", "stream": 1, "reaped": 0}
    )
    assert row == {
        "scores_breakdown": {"thermal": 1.5},
        "tags": [],
        "candidates": [],
        "resumed_from": [],
        "stream": True,
        "reaped": False,
    }
