"""Numbers over traces, shared by the store (below) and the insight modules (above).

Owns the vocabulary of counting: which statuses are requests and errors, the additive counters
each trace adds (``COUNTER_FIELDS``, ``trace_counters``), nearest-rank percentiles, the
log-histogram the rollups keep, error rates and tokens per second, and the day and hour buckets.
Pure: no I/O, no clock (every window is passed in).

Conventions:
- a *request* is a trace row whose status is not ``retried`` (a ``retried`` row is an attempt that
  was tried again elsewhere; the final attempt has its own row), an *attempt* is any row;
- *errors* are ``failed`` and ``incomplete`` requests; ``rejected`` and ``client_disconnected`` are
  counted separately (the client's doing or refused before routing);
- percentiles use the nearest-rank definition: the value at rank ``ceil(q * n)`` (1-based) of the
  sorted sample, so every reported percentile is an observed value;
- days are ``YYYY-MM-DD`` in UTC shifted by ``tz_offset_s``; hours are epoch seconds of the
  hour start.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

DAY_S = 86_400
HOUR_S = 3_600
ERROR_STATUSES = ("failed", "incomplete")
ALL_STATUSES = (
    "completed",
    "failed",
    "retried",
    "client_disconnected",
    "incomplete",
    "rejected",
)
DEFAULT_QUANTILES = (0.5, 0.95, 0.99)
COUNTER_FIELDS = (
    "attempts",
    "requests",
    "completed",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "latency_sum",
    "latency_n",
    "ttft_sum",
    "ttft_n",
    "retries",
    "fallbacks",
    "cold_loads",
    "tps_tokens",
    "tps_eval_ns",
)
"""The additive counters kept per group (SQL computes the same from raw rows and rollups)."""
HIST_BASE = 1.05
"""Log-histogram bucket ratio: a bucket's midpoint is within about 2.5% of any value in it."""
_LOG_BASE = math.log(HIST_BASE)
HIST_MIN = 1e-3


# -- numbers ---------------------------------------------------------------------------------


def nearest_rank(n: int, q: float) -> int:
    """The 1-based rank of quantile ``q`` (0..1) in a sample of ``n`` values (nearest rank)."""
    if n <= 0:
        raise ValueError("empty sample")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile out of range: {q}")
    return min(n, max(1, math.ceil(q * n)))


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of an already sorted sequence; ``None`` when it is empty."""
    if not sorted_values:
        return None
    return sorted_values[nearest_rank(len(sorted_values), q) - 1]


def quantile_key(q: float) -> str:
    """``0.5 -> "p50"``, ``0.95 -> "p95"``, ``0.999 -> "p99.9"``."""
    pct = round(q * 100, 6)
    return f"p{int(pct)}" if pct == int(pct) else f"p{pct:g}"


def percentiles(
    values: Iterable[float], quantiles: Sequence[float] = DEFAULT_QUANTILES
) -> dict[str, float | None]:
    """``{"p50": .., "p95": .., "p99": ..}`` of unsorted values (``None`` for an empty sample)."""
    ordered = sorted(values)
    return {quantile_key(q): percentile(ordered, q) for q in quantiles}


def error_rate(errors: int, requests: int) -> float:
    """Errors over requests, rounded to 4 places; 0.0 when there were no requests."""
    if requests <= 0:
        return 0.0
    return round(errors / requests, 4)


def safe_ratio(numerator: float | None, denominator: float | None, digits: int = 2) -> float | None:
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, digits)


def tokens_per_second(completion_tokens: int | None, eval_duration_ns: int | None) -> float | None:
    """Ollama's generation speed: ``eval_count / eval_duration * 1e9``."""
    if not completion_tokens or not eval_duration_ns:
        return None
    return completion_tokens / eval_duration_ns * 1e9


def trace_counters(
    status: str,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    latency_ms: float | None,
    ttft_ms: float | None,
    retry_count: int,
    fallback_used: bool,
    cold_load: bool,
    eval_duration_ns: int | None,
) -> tuple[float, ...]:
    """One trace's contribution to each of ``COUNTER_FIELDS`` (mirrors the store's SQL)."""
    done = status == "completed"
    tps_ok = done and bool(completion_tokens) and bool(eval_duration_ns)
    return (
        1,
        int(status != "retried"),
        int(done),
        int(status in ERROR_STATUSES),
        prompt_tokens or 0,
        completion_tokens or 0,
        latency_ms if done and latency_ms is not None else 0.0,
        int(done and latency_ms is not None),
        ttft_ms if done and ttft_ms is not None else 0.0,
        int(done and ttft_ms is not None),
        retry_count or 0,
        int(bool(fallback_used)),
        int(bool(cold_load)),
        (completion_tokens or 0) if tps_ok else 0,
        (eval_duration_ns or 0) if tps_ok else 0,
    )


def histogram_bucket(value: float) -> int:
    """The log-histogram bucket of a positive value: ``(base^(b-1), base^b]``."""
    return math.ceil(math.log(max(value, HIST_MIN)) / _LOG_BASE - 1e-9)


def bucket_value(bucket: int) -> float:
    """The value a bucket stands for: its geometric midpoint."""
    return float(HIST_BASE ** (bucket - 0.5))


def histogram_percentiles(
    counts: Mapping[int, int], quantiles: Sequence[float] = DEFAULT_QUANTILES
) -> dict[str, float | None]:
    """Nearest-rank percentiles from ``{bucket: count}`` (approximate, within one bucket)."""
    total = sum(counts.values())
    if total <= 0:
        return {quantile_key(q): None for q in quantiles}
    ordered = sorted((b, n) for b, n in counts.items() if n > 0)
    out: dict[str, float | None] = {}
    for q in quantiles:
        rank = nearest_rank(total, q)
        seen = 0
        for bucket, n in ordered:
            seen += n
            if seen >= rank:
                out[quantile_key(q)] = bucket_value(bucket)
                break
    return out


# -- time buckets ----------------------------------------------------------------------------


def day_number(ts: float, tz_offset_s: int = 0) -> int:
    """Days since the epoch of ``ts`` shifted by ``tz_offset_s`` (the SQL side uses the same)."""
    return math.floor((ts + tz_offset_s) / DAY_S)


def day_label(day: int) -> str:
    return datetime.fromtimestamp(day * DAY_S, UTC).strftime("%Y-%m-%d")


def day_numbers(since: float, until: float, tz_offset_s: int = 0) -> list[int]:
    """Every day touched by ``[since, until)``, oldest first."""
    first = day_number(since, tz_offset_s)
    last = day_number(max(since, until - 1e-6), tz_offset_s)
    return list(range(first, last + 1))


def hour_start(ts: float) -> int:
    return math.floor(ts / HOUR_S) * HOUR_S


def hour_starts(now: float, hours: int) -> list[int]:
    """The start of each of the last ``hours`` hours, the current (partial) hour last."""
    current = hour_start(now)
    return [current - HOUR_S * i for i in range(hours - 1, -1, -1)]
