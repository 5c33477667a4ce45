"""Benchmark-run persistence: the ``benchmark_runs`` table, written and read back.

Owns ``BenchmarkRuns``, the part of ``TraceStore`` behind ``save_benchmark_run`` (insert or
update, on the writer under the write lock) and ``list_benchmark_runs`` / ``get_benchmark_run``
(on the reader, ``params`` and ``results`` decoded from JSON, ``{}`` when unreadable).

Never runs a benchmark (``router.benchmarks`` does) and never touches the traces.
"""

from __future__ import annotations

import json
from typing import Any

from .connections import Database


class BenchmarkRuns:
    """Saved benchmark runs: their parameters, status and results."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def save_benchmark_run(
        self,
        started_at: float,
        status: str,
        params: dict[str, Any] | None = None,
        results: dict[str, Any] | None = None,
        finished_at: float | None = None,
        run_id: int | None = None,
    ) -> int:
        """Insert a run (``run_id`` None) or update it; returns its id."""
        conn = self.db.writer()
        values = (
            started_at,
            finished_at,
            status,
            json.dumps(params or {}, default=str),
            json.dumps(results or {}, default=str),
        )
        async with self.db.write_lock:
            if run_id is None:
                cur = await conn.execute(
                    "INSERT INTO benchmark_runs (started_at, finished_at, status, params, results) "
                    "VALUES (?, ?, ?, ?, ?)",
                    values,
                )
                new_id = cur.lastrowid
                await cur.close()
                return int(new_id or 0)
            cur = await conn.execute(
                "UPDATE benchmark_runs SET started_at = ?, finished_at = ?, status = ?, "
                "params = ?, results = ? WHERE id = ?",
                (*values, run_id),
            )
            found = cur.rowcount
            await cur.close()
            if not found:
                raise KeyError(f"no benchmark run {run_id}")
            return run_id

    async def list_benchmark_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """Newest first: ``{id, started_at, finished_at, status, params, results}``."""
        rows = await self.db.fetch(
            "SELECT * FROM benchmark_runs ORDER BY started_at DESC, id DESC LIMIT ?",
            (max(1, min(int(limit), 1000)),),
        )
        return [_benchmark(row) for row in rows]

    async def get_benchmark_run(self, run_id: int) -> dict[str, Any] | None:
        rows = await self.db.fetch("SELECT * FROM benchmark_runs WHERE id = ?", (run_id,))
        return _benchmark(rows[0]) if rows else None


def _benchmark(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("params", "results"):
        try:
            out[key] = json.loads(out[key] or "{}")
        except ValueError:
            out[key] = {}
    return out
