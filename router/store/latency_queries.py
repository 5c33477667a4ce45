"""Latency queries: per-model statistics with latency and TTFT percentiles, and the fleet TTFT.

Owns ``LatencyQueries``, the part of ``TraceStore`` behind ``model_stats`` and ``ttft_p50``, and
how percentiles are found: exact (nearest rank over raw rows) for windows up to
``EXACT_PERCENTILE_WINDOW_S``, from the daily log histogram (about 2.5 %) beyond, the partial days
at either end bucketed from raw rows. Runs on the reader connection only.

Never shapes a response itself (``router.store.shapes`` does) and never writes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from router import measures
from router.store import shapes

from .connections import Database
from .counters import TRACES
from .rollups import DAY_S, METRIC_LATENCY, METRIC_TTFT

EXACT_PERCENTILE_WINDOW_S = 2 * DAY_S
"""Windows up to this long get exact percentiles from raw rows; longer ones use the histogram."""


def _whole_days(since: float, until: float) -> tuple[int, int, list[tuple[float, float]]]:
    """The UTC days wholly inside ``[since, until)`` (``first <= day < last``, read from the
    histogram) and the non-empty partial ranges at either end (read from raw rows)."""
    first_day = math.ceil(since / DAY_S)
    last_day = math.floor(until / DAY_S)
    ends = ((since, first_day * DAY_S), (last_day * DAY_S, until))
    return first_day, last_day, [(start, end) for start, end in ends if start < end]


class LatencyQueries:
    """Latency and TTFT percentiles over a window."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _exact_percentiles(
        self, column: str, since: float, until: float, quantiles: Sequence[float]
    ) -> dict[str, dict[str, float | None]]:
        """Nearest-rank percentiles of ``column`` per model from raw rows (one sort)."""
        rank_terms = " OR ".join(
            f"rn = min(n, max(1, CAST({q!r} * n AS INTEGER) "
            f"+ ({q!r} * n > CAST({q!r} * n AS INTEGER))))"
            for q in quantiles
        )
        rows = await self.db.fetch(
            f"""
            SELECT model, value, rn, n FROM (
                SELECT model, {column} AS value,
                    row_number() OVER (PARTITION BY model ORDER BY {column}) AS rn,
                    count(*) OVER (PARTITION BY model) AS n
                FROM request_traces INDEXED BY ix_traces_timestamp
                WHERE timestamp >= ? AND timestamp < ? AND status = 'completed'
                    AND {column} IS NOT NULL
            ) WHERE {rank_terms}
            """,
            (since, until),
        )
        found = []
        for row in rows:
            for q in quantiles:
                if measures.nearest_rank(row["n"], q) == row["rn"]:
                    found.append({"model": row["model"], "q": q, "value": row["value"]})
        return shapes.group_percentiles(found)

    async def _histogram_percentiles(
        self, since: float, until: float, quantiles: Sequence[float]
    ) -> tuple[dict[str, dict[str, float | None]], dict[str, dict[str, float | None]]]:
        """Approximate percentiles per model for long windows: whole days from the daily
        histogram, the partial days at either end bucketed from raw rows."""
        first_day, last_day, edges = _whole_days(since, until)
        counts: dict[tuple[str, int], dict[int, int]] = {}
        rows = await self.db.fetch_rows(
            "SELECT model, metric, bucket, sum(n) FROM latency_hist "
            "WHERE day >= ? AND day < ? GROUP BY model, metric, bucket",
            (first_day, last_day),
        )
        for model, metric, bucket, n in rows:
            counts.setdefault((model, metric), {})[bucket] = n
        for start, end in edges:
            raw = await self.db.fetch_rows(
                "SELECT model, latency_ms, time_to_first_token_ms "
                "FROM request_traces INDEXED BY ix_traces_timestamp "
                "WHERE timestamp >= ? AND timestamp < ? AND status = 'completed'",
                (start, end),
            )
            for model, latency_ms, ttft_ms in raw:
                for metric, value in ((METRIC_LATENCY, latency_ms), (METRIC_TTFT, ttft_ms)):
                    if value is not None:
                        hist = counts.setdefault((model, metric), {})
                        bucket = measures.histogram_bucket(value)
                        hist[bucket] = hist.get(bucket, 0) + 1
        latency: dict[str, dict[str, float | None]] = {}
        ttft_out: dict[str, dict[str, float | None]] = {}
        for (model, metric), hist in counts.items():
            target = latency if metric == METRIC_LATENCY else ttft_out
            target[model] = measures.histogram_percentiles(hist, quantiles)
        return latency, ttft_out

    async def model_stats(
        self,
        since: float,
        until: float | None = None,
        quantiles: Sequence[float] = measures.DEFAULT_QUANTILES,
    ) -> list[dict[str, Any]]:
        """Per model: counters, latency and TTFT percentiles, per-node speed. See
        ``shapes.shape_model_stats``. Percentiles are exact for windows up to two days and
        from the log histogram (about 2.5%) beyond."""
        until = time.time() if until is None else until
        model_rows = await self.db.counters(TRACES, (("model", "model", "model"),), since, until)
        node_rows = await self.db.counters(
            TRACES,
            (("model", "model", "model"), ("node_id", "node_id", "nullif(node_id, '')")),
            since,
            until,
        )
        exact = until - since <= EXACT_PERCENTILE_WINDOW_S
        if exact:
            latency = await self._exact_percentiles("latency_ms", since, until, quantiles)
            ttft = await self._exact_percentiles("time_to_first_token_ms", since, until, quantiles)
        else:
            latency, ttft = await self._histogram_percentiles(since, until, quantiles)
        return shapes.shape_model_stats(
            model_rows, node_rows, latency, ttft, quantiles, percentiles_exact=exact
        )

    async def ttft_p50(self, since: float, until: float | None = None) -> float | None:
        """Fleet-wide median time to first token of completed requests (exact up to two days,
        from the histogram beyond)."""
        until = time.time() if until is None else until
        if until - since <= EXACT_PERCENTILE_WINDOW_S:
            where = (
                "FROM request_traces INDEXED BY ix_traces_timestamp WHERE timestamp >= ? "
                "AND timestamp < ? AND status = 'completed' AND time_to_first_token_ms IS NOT NULL"
            )
            counted = await self.db.fetch_rows(f"SELECT count(*) {where}", (since, until))
            n = int(counted[0][0])
            if n == 0:
                return None
            rows = await self.db.fetch_rows(
                f"SELECT time_to_first_token_ms {where} ORDER BY time_to_first_token_ms "
                "LIMIT 1 OFFSET ?",
                (since, until, measures.nearest_rank(n, 0.5) - 1),
            )
            return float(rows[0][0]) if rows else None
        hist: dict[int, int] = {}
        first_day, last_day, edges = _whole_days(since, until)
        for bucket, n in await self.db.fetch_rows(
            "SELECT bucket, sum(n) FROM latency_hist WHERE metric = ? AND day >= ? AND day < ? "
            "GROUP BY bucket",
            (METRIC_TTFT, first_day, last_day),
        ):
            hist[bucket] = hist.get(bucket, 0) + int(n)
        for start, end in edges:
            for (value,) in await self.db.fetch_rows(
                "SELECT time_to_first_token_ms FROM request_traces "
                "INDEXED BY ix_traces_timestamp WHERE timestamp >= ? AND timestamp < ? "
                "AND status = 'completed' AND time_to_first_token_ms IS NOT NULL",
                (start, end),
            ):
                bucket = measures.histogram_bucket(value)
                hist[bucket] = hist.get(bucket, 0) + 1
        return measures.histogram_percentiles(hist, (0.5,))["p50"]
