"""Trace queries: the rows themselves, newest first and filtered, and the latency seed.

Owns ``TraceQueries``, the part of ``TraceStore`` behind ``count``, ``traces`` (every column,
decoded by ``shapes.decode_trace_row``), ``recent_runs`` (completed attempts to seed the
latency history) and ``recent_jobs`` (completed image and transcription jobs with their time, to
seed the job times of those backends). Runs on the reader connection only.

Never aggregates (the counter and percentile queries do) and never writes.
"""

from __future__ import annotations

from typing import Any

from router.store import shapes

from .connections import Database
from .rows import TRACE_COLUMNS, RunRow


class TraceQueries:
    """Raw trace rows, read back."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def count(self) -> int:
        rows = await self.db.fetch("SELECT count(*) AS n FROM request_traces")
        return int(rows[0]["n"])

    async def traces(
        self,
        limit: int = 100,
        model: str | None = None,
        node_id: str | None = None,
        status: str | None = None,
        tag: str | None = None,
        since: float | None = None,
    ) -> list[dict[str, Any]]:
        """The newest traces first, filtered; each a dict of every column (plus ``id``), with
        ``scores_breakdown`` a dict, ``tags`` a list and flags as booleans. Callers validate
        ``limit`` (1..1000); it is clamped here as well."""
        limit = max(1, min(int(limit), 1000))
        where: list[str] = []
        params: list[Any] = []
        source = "request_traces t"
        if tag is not None:
            source = "trace_tags g JOIN request_traces t ON t.id = g.trace_id"
            where.append("g.tag = ?")
            params.append(tag)
            order = "g.timestamp DESC, g.trace_id DESC"
            if since is not None:
                where.append("g.timestamp >= ?")
                params.append(since)
        else:
            order = "t.timestamp DESC, t.id DESC"
            if since is not None:
                where.append("t.timestamp >= ?")
                params.append(since)
        for column, value in (("model", model), ("node_id", node_id), ("status", status)):
            if value is not None:
                where.append(f"t.{column} = ?")
                params.append(value)
        sql = (
            f"SELECT t.id, {', '.join('t.' + c for c in TRACE_COLUMNS)} FROM {source}"
            + (f" WHERE {' AND '.join(where)}" if where else "")
            + f" ORDER BY {order} LIMIT ?"
        )
        rows = await self.db.fetch(sql, [*params, limit])
        return [shapes.decode_trace_row(row) for row in rows]

    async def recent_runs(self, since: float, limit: int = 50_000) -> list[RunRow]:
        """Completed attempts since ``since``, oldest first, to seed the speed history."""
        rows = await self.db.fetch_rows(
            """
            SELECT node_id, model, completion_tokens, eval_duration_ns, load_duration_ns
            FROM (
                SELECT * FROM request_traces
                WHERE timestamp >= ? AND status = 'completed' AND node_id IS NOT NULL
                ORDER BY timestamp DESC LIMIT ?
            ) ORDER BY timestamp
            """,
            (since, limit),
        )
        return [RunRow(*tuple(row)) for row in rows]

    async def recent_jobs(self, since: float, limit: int = 10_000) -> list[tuple[str, str, float]]:
        """Completed image and transcription jobs since ``since``, oldest first: ``(node_id,
        model, seconds)``."""
        rows = await self.db.fetch_rows(
            """
            SELECT node_id, model, latency_ms / 1000.0 FROM (
                SELECT * FROM request_traces
                WHERE timestamp >= ? AND status = 'completed' AND node_id IS NOT NULL
                  AND kind IN ('image', 'transcribe') AND latency_ms > 0
                ORDER BY timestamp DESC LIMIT ?
            ) ORDER BY timestamp
            """,
            (since, limit),
        )
        return [(str(node), str(model), float(seconds)) for node, model, seconds in rows]
