"""The shapes of the store's answers: query rows rolled up, filled and rated for the API.

Owns the pure post-processing behind the dashboard's usage, model, app (tag), trend and health
views, and how a raw trace row is shown. The store's queries aggregate in SQL (GROUP BY) and hand
plain rows (mappings) to the functions here, which fill empty days and hours, roll rows up,
compute rates and shape the JSON dicts. Counting conventions are ``router.measures``'.

Never does I/O and never reads a clock: every window (``since``/``until``/``now``) is passed in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from router.measures import (
    ALL_STATUSES,
    COUNTER_FIELDS,
    DEFAULT_QUANTILES,
    ERROR_STATUSES,
    day_label,
    day_numbers,
    error_rate,
    hour_starts,
    percentile,
    quantile_key,
    tokens_per_second,
)

BOOL_FIELDS = ("stream", "fallback_used", "context_protected", "cold_load", "reaped")
JSON_FIELDS = {"scores_breakdown": dict, "tags": list, "candidates": list, "resumed_from": list}


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


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


def shape_hourly(
    rows: Iterable[Mapping[str, Any]],
    now: float,
    hours: int,
    latencies: Iterable[tuple[int, float]] = (),
) -> dict[str, Any]:
    """Rows ``hour`` (epoch start), ``model`` + counters -> the last ``hours`` hours, every hour
    present (zeros when idle), and per-model request counts aligned with ``buckets``. Each bucket
    also has ``tokens_per_s`` (generation speed) and ``p95_latency_ms`` from ``latencies``
    (``(hour, latency_ms)`` of completed requests; ``None`` for an hour without any).
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
    by_hour: dict[int, list[float]] = {}
    for hour, latency in latencies:
        by_hour.setdefault(int(hour), []).append(float(latency))
    return {
        "hours": hours,
        "buckets": [
            {
                "hour": h,
                **_counts(m),
                "tokens_per_s": _round(
                    tokens_per_second(m.get("tps_tokens"), m.get("tps_eval_ns"))
                ),
                "p95_latency_ms": _round(percentile(sorted(by_hour.get(h, ())), 0.95)),
            }
            for h, m in zip(starts, merged, strict=True)
        ],
        "by_model": dict(sorted(per_model.items())),
    }


# -- health ----------------------------------------------------------------------------------


def shape_health_counts(
    status_rows: Iterable[Mapping[str, Any]],
    flags: Mapping[str, Any],
    cold_rows: Iterable[Mapping[str, Any]],
    since: float,
    until: float,
    media_rows: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The counts health checks need over one window.

    ``status_rows``: ``status, n``; ``flags``: ``retries`` (sum of retry_count),
    ``retried_requests`` (rows with retry_count > 0), ``fallbacks``, ``context_protected``,
    ``reaped``, ``cold_loads``, ``timeouts``; ``cold_rows``: ``node_id, model, n``;
    ``media_rows``: ``kind, status, n, error`` for image and transcription jobs.
    """
    media: dict[str, dict[str, Any]] = {}
    for row in media_rows:
        entry = media.setdefault(str(row["kind"]), {"by_status": {}, "last_error": None})
        entry["by_status"][str(row["status"])] = int(row["n"])
        if row["error"] and row["status"] != "completed":
            entry["last_error"] = str(row["error"])
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
        "media": media,
        "timeouts": int(flags.get("timeouts") or 0),
    }
