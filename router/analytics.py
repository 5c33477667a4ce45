"""Analytics over trace rows: percentiles, error rates, day/hour buckets and the response shapes.

Owns the pure post-processing behind the dashboard's usage, model, app (tag), trend and health
views. The store aggregates in SQL (GROUP BY) and hands plain rows (mappings) to the functions here,
which fill empty days and hours, roll rows up, compute rates and shape the JSON dicts.

Never does I/O and never reads a clock: every window (``since``/``until``/``now``) is passed in.

Conventions shared with the store:
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

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

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
BOOL_FIELDS = ("stream", "fallback_used", "context_protected", "cold_load", "reaped")
JSON_FIELDS = {"scores_breakdown": dict, "tags": list}


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
    return HIST_BASE ** (bucket - 0.5)


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


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


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


# -- rows ------------------------------------------------------------------------------------


def decode_trace_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A ``request_traces`` row as the API shows it: JSON text decoded, 0/1 flags as booleans."""
    out = dict(row)
    for name, kind in JSON_FIELDS.items():
        raw = out.get(name)
        if isinstance(raw, str):
            try:
                value = json.loads(raw)
            except ValueError:
                value = kind()
            out[name] = value if isinstance(value, kind) else kind()
        elif raw is None:
            out[name] = kind()
    for name in BOOL_FIELDS:
        if name in out and out[name] is not None:
            out[name] = bool(out[name])
    return out


def _counts(row: Mapping[str, Any]) -> dict[str, Any]:
    """The common counters of an aggregate row, with the derived rates."""
    requests = int(row.get("requests") or 0)
    errors = int(row.get("errors") or 0)
    latency_n = int(row.get("latency_n") or 0)
    return {
        "requests": requests,
        "completed": int(row.get("completed") or 0),
        "errors": errors,
        "error_rate": error_rate(errors, requests),
        "prompt_tokens": int(row.get("prompt_tokens") or 0),
        "completion_tokens": int(row.get("completion_tokens") or 0),
        "avg_latency_ms": _round(row["latency_sum"] / latency_n) if latency_n else None,
    }


def _merge(into: dict[str, Any], row: Mapping[str, Any]) -> None:
    for key in COUNTER_FIELDS:
        if key in row:
            into[key] = into.get(key, 0) + (row[key] or 0)


# -- usage -----------------------------------------------------------------------------------


def shape_usage(
    rows: Iterable[Mapping[str, Any]], since: float, until: float, tz_offset_s: int = 0
) -> dict[str, Any]:
    """Per node/model/day usage rows (from SQL) -> totals, per-day (every day filled), per node,
    per model, and the detailed rows.

    Each input row has ``day`` (day number), ``node_id``, ``model``, ``requests``, ``completed``,
    ``errors``, ``prompt_tokens``, ``completion_tokens``, ``latency_sum``, ``latency_n``.
    """
    days = day_numbers(since, until, tz_offset_s)
    per_day: dict[int, dict[str, Any]] = {d: {} for d in days}
    per_node: dict[str, dict[str, Any]] = {}
    per_model: dict[str, dict[str, Any]] = {}
    total: dict[str, Any] = {}
    detail: list[dict[str, Any]] = []
    for row in rows:
        day = int(row["day"])
        node = row["node_id"] or ""
        _merge(per_day.setdefault(day, {}), row)
        _merge(per_node.setdefault(node, {}), row)
        _merge(per_model.setdefault(row["model"], {}), row)
        _merge(total, row)
        detail.append(
            {
                "day": day_label(day),
                "node_id": row["node_id"],
                "model": row["model"],
                **_counts(row),
            }
        )
    detail.sort(key=lambda r: (r["day"], r["node_id"] or "", r["model"]))
    return {
        "since": since,
        "until": until,
        "days": [day_label(d) for d in sorted(per_day)],
        "totals": _counts(total),
        "by_day": [{"day": day_label(d), **_counts(per_day[d])} for d in sorted(per_day)],
        "by_node": sorted(
            ({"node_id": n or None, **_counts(v)} for n, v in per_node.items()),
            key=lambda r: (-r["requests"], r["node_id"] or ""),
        ),
        "by_model": sorted(
            ({"model": m, **_counts(v)} for m, v in per_model.items()),
            key=lambda r: (-r["requests"], r["model"]),
        ),
        "rows": detail,
    }


# -- per-model stats -------------------------------------------------------------------------


def group_percentiles(
    rows: Iterable[Mapping[str, Any]], key: str = "model"
) -> dict[Any, dict[str, float | None]]:
    """Rows ``{<key>, q, value}`` (one per group and quantile) -> ``{group: {"p50": ..}}``."""
    out: dict[Any, dict[str, float | None]] = {}
    for row in rows:
        out.setdefault(row[key], {})[quantile_key(row["q"])] = row["value"]
    return out


def _quantile_dict(
    found: Mapping[str, float | None] | None, quantiles: Sequence[float]
) -> dict[str, float | None]:
    found = found or {}
    return {quantile_key(q): _round(found.get(quantile_key(q))) for q in quantiles}


def shape_model_stats(
    model_rows: Iterable[Mapping[str, Any]],
    node_rows: Iterable[Mapping[str, Any]],
    latency_pcts: Mapping[str, Mapping[str, float | None]],
    ttft_pcts: Mapping[str, Mapping[str, float | None]],
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    percentiles_exact: bool = True,
) -> list[dict[str, Any]]:
    """Per-model counters + latency/TTFT percentiles + per-node speed, busiest model first.

    ``percentiles_exact`` is reported with each model: False when the percentiles came from the
    log histogram (long windows), within about 2.5% of the exact value.

    ``model_rows``: ``model, requests, completed, errors, retries, fallbacks, cold_loads,
    prompt_tokens, completion_tokens, latency_sum, latency_n, ttft_sum, ttft_n``.
    ``node_rows``: ``model, node_id, requests, completed, errors, completion_tokens, latency_sum,
    latency_n, tps_tokens, tps_eval_ns`` (tokens and eval time of rows that report both).
    """
    nodes: dict[str, list[dict[str, Any]]] = {}
    for row in node_rows:
        nodes.setdefault(row["model"], []).append(
            {
                "node_id": row["node_id"],
                **_counts(row),
                "tokens_per_s": _round(
                    tokens_per_second(row.get("tps_tokens"), row.get("tps_eval_ns"))
                ),
            }
        )
    out = []
    for row in model_rows:
        model = row["model"]
        ttft_n = int(row.get("ttft_n") or 0)
        counts = _counts(row)
        latency = _quantile_dict(latency_pcts.get(model), quantiles)
        latency["avg"] = counts.pop("avg_latency_ms")
        ttft = _quantile_dict(ttft_pcts.get(model), quantiles)
        ttft["avg"] = _round(row["ttft_sum"] / ttft_n) if ttft_n else None
        out.append(
            {
                "model": model,
                **counts,
                "retries": int(row.get("retries") or 0),
                "fallbacks": int(row.get("fallbacks") or 0),
                "cold_loads": int(row.get("cold_loads") or 0),
                "latency_ms": latency,
                "ttft_ms": ttft,
                "percentiles_exact": percentiles_exact,
                "nodes": sorted(
                    nodes.get(model, []), key=lambda r: (-r["requests"], r["node_id"] or "")
                ),
            }
        )
    out.sort(key=lambda r: (-r["requests"], r["model"]))
    return out


# -- tags (apps) -----------------------------------------------------------------------------


def shape_tag_stats(
    tag_rows: Iterable[Mapping[str, Any]], tag_model_rows: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Per-tag counters with the models each tag used, busiest tag first.

    ``tag_rows``: ``tag`` + the usage counters; ``tag_model_rows``: ``tag, model, requests``.
    """
    models: dict[str, list[dict[str, Any]]] = {}
    for row in tag_model_rows:
        models.setdefault(row["tag"], []).append(
            {"model": row["model"], "requests": int(row["requests"] or 0)}
        )
    out = [
        {
            "tag": row["tag"],
            **_counts(row),
            "models": sorted(
                models.get(row["tag"], []), key=lambda r: (-r["requests"], r["model"])
            ),
        }
        for row in tag_rows
    ]
    out.sort(key=lambda r: (-r["requests"], r["tag"]))
    return out


def shape_tag_daily(
    rows: Iterable[Mapping[str, Any]], since: float, until: float, tz_offset_s: int = 0
) -> dict[str, Any]:
    """Rows ``tag, day`` + counters -> ``{"days": [...], "series": {tag: [per day, filled]}}``."""
    days = day_numbers(since, until, tz_offset_s)
    found: dict[str, dict[int, Mapping[str, Any]]] = {}
    for row in rows:
        found.setdefault(row["tag"], {})[int(row["day"])] = row
    empty: dict[str, Any] = {}
    series = {
        tag: [{"day": day_label(d), **_counts(by_day.get(d, empty))} for d in days]
        for tag, by_day in sorted(found.items())
    }
    return {"days": [day_label(d) for d in days], "series": series}


# -- hourly trends ---------------------------------------------------------------------------


def shape_hourly(rows: Iterable[Mapping[str, Any]], now: float, hours: int) -> dict[str, Any]:
    """Rows ``hour`` (epoch start), ``model`` + counters -> the last ``hours`` hours, every hour
    present (zeros when idle), and per-model request counts aligned with ``buckets``.
    """
    starts = hour_starts(now, hours)
    index = {h: i for i, h in enumerate(starts)}
    merged: list[dict[str, Any]] = [{} for _ in starts]
    per_model: dict[str, list[int]] = {}
    for row in rows:
        i = index.get(int(row["hour"]))
        if i is None:
            continue
        _merge(merged[i], row)
        per_model.setdefault(row["model"], [0] * len(starts))[i] += int(row["requests"] or 0)
    return {
        "hours": hours,
        "buckets": [{"hour": h, **_counts(m)} for h, m in zip(starts, merged, strict=True)],
        "by_model": dict(sorted(per_model.items())),
    }


# -- health ----------------------------------------------------------------------------------


def shape_health_counts(
    status_rows: Iterable[Mapping[str, Any]],
    flags: Mapping[str, Any],
    cold_rows: Iterable[Mapping[str, Any]],
    since: float,
    until: float,
) -> dict[str, Any]:
    """The counts health checks need over one window.

    ``status_rows``: ``status, n``; ``flags``: ``retries`` (sum of retry_count),
    ``retried_requests`` (rows with retry_count > 0), ``fallbacks``, ``context_protected``,
    ``reaped``, ``cold_loads``, ``timeouts``; ``cold_rows``: ``node_id, model, n``.
    """
    by_status = dict.fromkeys(ALL_STATUSES, 0)
    for row in status_rows:
        by_status[row["status"]] = by_status.get(row["status"], 0) + int(row["n"])
    attempts = sum(by_status.values())
    requests = attempts - by_status["retried"]
    errors = sum(by_status[s] for s in ERROR_STATUSES)
    cold = sorted(
        ({"node_id": r["node_id"], "model": r["model"], "count": int(r["n"])} for r in cold_rows),
        key=lambda r: (-r["count"], r["node_id"] or "", r["model"]),
    )
    return {
        "since": since,
        "until": until,
        "attempts": attempts,
        "requests": requests,
        "by_status": by_status,
        "errors": errors,
        "error_rate": error_rate(errors, requests),
        "retries": int(flags.get("retries") or 0),
        "retried_requests": int(flags.get("retried_requests") or 0),
        "fallbacks": int(flags.get("fallbacks") or 0),
        "context_protected": int(flags.get("context_protected") or 0),
        "reaped": int(flags.get("reaped") or 0),
        "cold_loads": int(flags.get("cold_loads") or 0),
        "cold_loads_by": cold,
        "client_disconnects": by_status["client_disconnected"],
        "incomplete": by_status["incomplete"],
        "rejected": by_status["rejected"],
        "timeouts": int(flags.get("timeouts") or 0),
    }
