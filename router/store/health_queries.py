"""Health queries: the counts over a window that the health checks read.

Owns ``HealthQueries``, the part of ``TraceStore`` behind ``health_counts`` (attempts per status,
retries, fallbacks, context protection, reaped streams, cold loads, timeouts, image and speech jobs
per status; shaped by
``shapes.shape_health_counts``) and ``fallback_reasons``. Runs on the reader connection only.

Never judges the counts (``router.health`` does) and never writes.
"""

from __future__ import annotations

import time
from typing import Any

from router.store import shapes

from .connections import Database


class HealthQueries:
    """Counts of what went wrong, or nearly, over a window."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def fallback_reasons(self, since: float, until: float | None = None) -> dict[str, int]:
        """Fallback attempts per reason in ``[since, until)`` (``unspecified`` without one)."""
        until = time.time() if until is None else until
        rows = await self.db.fetch_rows(
            "SELECT coalesce(fallback_reason, 'unspecified'), count(*) "
            "FROM request_traces INDEXED BY ix_traces_timestamp "
            "WHERE timestamp >= ? AND timestamp < ? AND fallback_used = 1 "
            "GROUP BY fallback_reason",
            (since, until),
        )
        return {reason: int(n) for reason, n in rows}

    async def health_counts(self, since: float, until: float | None = None) -> dict[str, Any]:
        """Counts over ``[since, until)`` for the health checks. See
        ``shapes.shape_health_counts``."""
        until = time.time() if until is None else until
        params = (since, until)
        window = "INDEXED BY ix_traces_timestamp WHERE timestamp >= ? AND timestamp < ?"
        status_rows = await self.db.fetch(
            f"SELECT status, count(*) AS n FROM request_traces {window} GROUP BY status", params
        )
        flags = await self.db.fetch(
            f"""
            SELECT sum(retry_count) AS retries,
                sum(retry_count > 0) AS retried_requests,
                sum(fallback_used) AS fallbacks,
                sum(context_protected) AS context_protected,
                sum(reaped) AS reaped,
                sum(cold_load) AS cold_loads,
                sum(error_message LIKE '%timeout%' OR error_message LIKE '%timed out%')
                    AS timeouts
            FROM request_traces {window}
            """,
            params,
        )
        cold = await self.db.fetch(
            f"SELECT node_id, model, count(*) AS n FROM request_traces {window} AND cold_load = 1 "
            "GROUP BY node_id, model",
            params,
        )
        media = await self.db.fetch(
            f"SELECT kind, status, count(*) AS n, max(error_message) AS error "
            f"FROM request_traces {window} AND kind IN ('image', 'transcribe') "
            "GROUP BY kind, status",
            params,
        )
        return shapes.shape_health_counts(
            status_rows, flags[0] if flags else {}, cold, since, until, media
        )
