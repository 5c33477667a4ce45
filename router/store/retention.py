"""Retention: how long traces, rollups and histogram days are kept, and the prune that enforces it.

Owns ``Retention``, the part of ``TraceStore`` holding ``retention_days`` and running ``prune``:
raw traces and their tags are deleted in chunks of ``PRUNE_CHUNK`` rows (each under a short hold of
the write lock, so batches and queries run in between), rollup buckets and histogram days once they
lie wholly before the cutoff. Runs on the writer connection only.

Never decides when to prune (the writer task and ``open`` do) and never touches rows inside the
retention window.
"""

from __future__ import annotations

import asyncio
import logging

from .connections import Database
from .rollups import DAY_S, ROLLUP_TABLES

log = logging.getLogger("herd.store")

PRUNE_CHUNK = 5_000
MAX_PRUNE_CHUNKS = 100_000
"""Bounds the prune loop: 500M rows, far beyond any real table."""


class Retention:
    """Retention of traces, and the pruning of everything older."""

    def __init__(self, db: Database, retention_days: int) -> None:
        if retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        self.db = db
        self.retention_days = retention_days
        self.pruned = 0
        """Rows deleted since the store opened."""

    def set_retention_days(self, days: int) -> None:
        """Change retention at run time; the next prune (or an explicit one) applies it."""
        if days < 1:
            raise ValueError("retention_days must be at least 1")
        self.retention_days = days

    async def prune(self, now: float) -> int:
        """Delete traces older than the retention, in chunks (short write locks). Returns rows."""
        cutoff = now - self.retention_days * DAY_S
        deleted = 0
        conn = self.db.writer()
        for table, sql in (
            (
                "request_traces",
                "DELETE FROM request_traces WHERE id IN "
                "(SELECT id FROM request_traces WHERE timestamp < ? LIMIT ?)",
            ),
            (
                "trace_tags",
                "DELETE FROM trace_tags WHERE (tag, timestamp, trace_id) IN "
                "(SELECT tag, timestamp, trace_id FROM trace_tags WHERE timestamp < ? LIMIT ?)",
            ),
        ):
            for _ in range(MAX_PRUNE_CHUNKS):
                async with self.db.write_lock:
                    cur = await conn.execute(sql, (cutoff, PRUNE_CHUNK))
                    count = cur.rowcount
                    await cur.close()
                if table == "request_traces":
                    deleted += count
                if count < PRUNE_CHUNK:
                    break
                await asyncio.sleep(0)  # let batches and queries in between chunks
        async with self.db.write_lock:
            # Rollup buckets go once they lie wholly before the cutoff.
            for table, period in ROLLUP_TABLES:
                await conn.execute(
                    f"DELETE FROM {table} WHERE period_start < ?",
                    (int(cutoff // period) * period,),
                )
            await conn.execute("DELETE FROM latency_hist WHERE day < ?", (int(cutoff // DAY_S),))
        if deleted:
            self.pruned += deleted
            log.info("pruned old traces", extra={"rows": deleted, "cutoff": cutoff})
        return deleted
