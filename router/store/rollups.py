"""Rollup maintenance: what each batch of traces adds to the rollups and the latency histogram.

Owns the periods rolled up (an hour and ``DAY_S``), the upserts that add a batch's increments to
``trace_rollup``/``tag_rollup`` (hourly) and their ``_daily`` twins, ``latency_hist`` (per model,
metric, UTC day and log bucket; ``METRIC_LATENCY``, ``METRIC_TTFT``), ``ROLLUP_TABLES`` (each
table and its period, for retention) and ``increments``, which aggregates a batch.

Pure: builds SQL text and sums plain values; never runs a statement (the writer does).
"""

from __future__ import annotations

from collections.abc import Sequence

from router import measures

from .rows import COLUMN, Pending

DAY_S = 86_400
METRIC_LATENCY = 0
METRIC_TTFT = 1

ROLLUP_TABLES: tuple[tuple[str, int], ...] = (
    ("trace_rollup", 3600),
    ("tag_rollup", 3600),
    ("trace_rollup_daily", DAY_S),
    ("tag_rollup_daily", DAY_S),
)
"""Every rollup table and its period: a bucket goes once it lies wholly before the cutoff."""

_COUNTER_SET = ", ".join(
    [f"{c} = {c} + excluded.{c}" for c in measures.COUNTER_FIELDS]
    + ["last_used = max(last_used, excluded.last_used)"]
)
_COUNTER_NAMES = ", ".join([*measures.COUNTER_FIELDS, "last_used"])
_COUNTER_MARKS = ", ".join("?" for _ in [*measures.COUNTER_FIELDS, "last_used"])


def _upsert(table: str, keys: str) -> str:
    return (
        f"INSERT INTO {table} (period_start, {keys}, {_COUNTER_NAMES}) "
        f"VALUES (?, ?, ?, {_COUNTER_MARKS}) "
        f"ON CONFLICT (period_start, {keys}) DO UPDATE SET {_COUNTER_SET}"
    )


UPSERTS = {
    ("trace", 3600): _upsert("trace_rollup", "model, node_id"),
    ("trace", DAY_S): _upsert("trace_rollup_daily", "model, node_id"),
    ("tag", 3600): _upsert("tag_rollup", "tag, model"),
    ("tag", DAY_S): _upsert("tag_rollup_daily", "tag, model"),
}
UPSERT_HIST = (
    "INSERT INTO latency_hist (model, metric, day, bucket, n) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (model, metric, day, bucket) DO UPDATE SET n = n + excluded.n"
)

Rollups = dict[tuple[str, int], dict[tuple[int, str, str], list[float]]]
Hist = dict[tuple[str, int, int, int], int]


def increments(batch: Sequence[Pending]) -> tuple[Rollups, Hist]:
    """Aggregate a batch into rollup increments (traces and tags, hourly and daily, keyed like
    ``UPSERTS``) and daily histogram increments."""
    rollups: Rollups = {key: {} for key in UPSERTS}
    hist: Hist = {}
    for row, tags in batch:
        ts = row[COLUMN["timestamp"]]
        model = row[COLUMN["model"]]
        status = row[COLUMN["status"]]
        latency = row[COLUMN["latency_ms"]]
        ttft = row[COLUMN["time_to_first_token_ms"]]
        counters = measures.trace_counters(
            status,
            row[COLUMN["prompt_tokens"]],
            row[COLUMN["completion_tokens"]],
            latency,
            ttft,
            row[COLUMN["retry_count"]],
            row[COLUMN["fallback_used"]],
            row[COLUMN["cold_load"]],
            row[COLUMN["eval_duration_ns"]],
        )
        node = row[COLUMN["node_id"]] or ""
        for period in (3600, DAY_S):
            start = int(ts // period) * period
            targets = [(rollups["trace", period], (start, model, node))]
            targets.extend((rollups["tag", period], (start, tag, model)) for tag in tags)
            for table, key in targets:
                acc = table.get(key)
                if acc is None:
                    table[key] = [*counters, ts]
                else:
                    for i, value in enumerate(counters):
                        acc[i] += value
                    acc[-1] = max(acc[-1], ts)
        if status == "completed":
            day = int(ts // DAY_S)
            for metric, value in ((METRIC_LATENCY, latency), (METRIC_TTFT, ttft)):
                if value is not None:
                    key4 = (model, metric, day, measures.histogram_bucket(value))
                    hist[key4] = hist.get(key4, 0) + 1
    return rollups, hist
