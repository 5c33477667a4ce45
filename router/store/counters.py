"""Counter queries over a time window: the SQL that sums ``measures.COUNTER_FIELDS`` per group.

Owns the two sources counted (all traces, traces per tag), how a window ``[since, until)`` is cut
into whole days (daily rollup), whole hours (hourly rollup) and the partial hours at either end
(raw rows), and ``counters_query``, which builds the one statement doing all of it.

Pure: builds SQL text and parameters, never runs them (``Database.counters`` does).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from router import measures

from .rollups import DAY_S


def _raw_counters(p: str = "") -> str:
    """SQL computing ``measures.COUNTER_FIELDS`` from raw trace rows (column prefix ``p``)."""
    done = f"{p}status = 'completed'"
    tps = f"{done} AND {p}completion_tokens > 0 AND {p}eval_duration_ns > 0"
    return f"""
        count(*) AS attempts,
        sum({p}status != 'retried') AS requests,
        sum({done}) AS completed,
        sum({p}status IN ('failed', 'incomplete')) AS errors,
        sum(coalesce({p}prompt_tokens, 0)) AS prompt_tokens,
        sum(coalesce({p}completion_tokens, 0)) AS completion_tokens,
        total(CASE WHEN {done} THEN {p}latency_ms END) AS latency_sum,
        count(CASE WHEN {done} THEN {p}latency_ms END) AS latency_n,
        total(CASE WHEN {done} THEN {p}time_to_first_token_ms END) AS ttft_sum,
        count(CASE WHEN {done} THEN {p}time_to_first_token_ms END) AS ttft_n,
        sum({p}retry_count) AS retries,
        sum({p}fallback_used) AS fallbacks,
        sum({p}cold_load) AS cold_loads,
        sum(CASE WHEN {tps} THEN {p}completion_tokens ELSE 0 END) AS tps_tokens,
        sum(CASE WHEN {tps} THEN {p}eval_duration_ns ELSE 0 END) AS tps_eval_ns,
        max({p}timestamp) AS last_used"""


_SUM_COUNTERS = ", ".join(
    [f"sum({c}) AS {c}" for c in measures.COUNTER_FIELDS] + ["max(last_used) AS last_used"]
)


class Source(NamedTuple):
    raw_from: str
    ts: str
    prefix: str
    rollup: str
    rollup_daily: str


TRACES = Source(
    "request_traces INDEXED BY ix_traces_timestamp",
    "timestamp",
    "",
    "trace_rollup",
    "trace_rollup_daily",
)
TAGS = Source(
    "trace_tags g INDEXED BY ix_trace_tags_ts JOIN request_traces t ON t.id = g.trace_id",
    "g.timestamp",
    "t.",
    "tag_rollup",
    "tag_rollup_daily",
)


def split(
    since: float, until: float, period: int
) -> tuple[tuple[int, int] | None, list[tuple[float, float]]]:
    """``[since, until)`` as whole ``period``s (or None) and the partial ranges either side."""
    first = math.ceil(since / period) * period
    last = math.floor(until / period) * period
    if first >= last:
        return None, [(since, until)] if since < until else []
    edges = [(a, b) for a, b in ((since, first), (last, until)) if a < b]
    return (first, last), edges


def counters_query(
    source: Source,
    groups: Sequence[tuple[str, str, str]],
    since: float,
    until: float,
    raw_filter: tuple[str, Sequence[Any]] = ("", ()),
    rollup_filter: tuple[str, Sequence[Any]] = ("", ()),
    daily: bool = True,
) -> tuple[str, list[Any]] | None:
    """The statement and parameters giving ``COUNTER_FIELDS`` per group over ``[since, until)``,
    exact and cheap: whole UTC days from the daily rollup (when ``daily``), whole hours from the
    hourly rollup, and the partial hours at either end from raw rows. None for an empty window.

    ``groups``: ``(name, raw SQL expression, rollup SQL expression over period_start)``.
    """
    names = ", ".join(name for name, _, _ in groups)
    raw_select = ", ".join(f"{raw} AS {name}" for name, raw, _ in groups)
    roll_select = ", ".join(f"{roll} AS {name}" for name, _, roll in groups)
    parts: list[str] = []
    params: list[Any] = []

    def rollup(table: str, span: tuple[int, int]) -> None:
        parts.append(
            f"SELECT {roll_select}, {_SUM_COUNTERS} FROM {table} "
            f"WHERE period_start >= ? AND period_start < ? {rollup_filter[0]} GROUP BY {names}"
        )
        params.extend([*span, *rollup_filter[1]])

    days, rest = (None, [(since, until)])
    if daily:
        days, rest = split(since, until, DAY_S)
    if days is not None:
        rollup(source.rollup_daily, days)
    for start, end in rest:
        hours, edges = split(start, end, 3600)
        if hours is not None:
            rollup(source.rollup, hours)
        for a, b in edges:
            parts.append(
                f"SELECT {raw_select}, {_raw_counters(source.prefix)} FROM {source.raw_from} "
                f"WHERE {source.ts} >= ? AND {source.ts} < ? {raw_filter[0]} GROUP BY {names}"
            )
            params.extend([a, b, *raw_filter[1]])
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0], params
    union = " UNION ALL ".join(parts)
    return f"SELECT {names}, {_SUM_COUNTERS} FROM ({union}) GROUP BY {names}", params
