"""``TraceStore``: the one object the router holds for its traces, composed of the store's parts.

Owns the store's life cycle and its public surface. Its parts share one ``Database`` (the writer
and reader connections): ``BatchWriter`` (the buffer and writer task, with ``Retention``),
``TraceQueries``, ``UsageQueries``, ``LatencyQueries``, ``HealthQueries`` and ``BenchmarkRuns``.
``open`` creates the directory, opens the writer, migrates, opens the reader, prunes and starts
the writer task; ``close`` stops the task, writes what is still buffered and closes both
connections. Every query is one of its parts' methods, exposed here under the same name.

Never blocks the event loop and never shapes responses.
"""

from __future__ import annotations

import time
from pathlib import Path

from .benchmarks import BenchmarkRuns
from .connections import Database
from .health_queries import HealthQueries
from .latency_queries import LatencyQueries
from .retention import Retention
from .schema import migrate
from .trace_queries import TraceQueries
from .usage_queries import UsageQueries
from .writer import BatchWriter


class TraceStore:
    """Batched trace writes, retention and analytics queries over one SQLite file."""

    def __init__(
        self,
        path: Path,
        retention_days: int = 30,
        batch_size: int = 256,
        flush_interval_s: float = 0.1,
        max_buffer: int = 50_000,
        prune_interval_s: float = 3_600.0,
    ) -> None:
        self.path = Path(path).expanduser()
        self.db = Database(self.path)
        self.retention = Retention(self.db, retention_days)
        self.writer = BatchWriter(
            self.db, self.retention, batch_size, flush_interval_s, max_buffer, prune_interval_s
        )
        trace_queries = TraceQueries(self.db)
        usage_queries = UsageQueries(self.db)
        latency_queries = LatencyQueries(self.db)
        health_queries = HealthQueries(self.db)
        benchmark_runs = BenchmarkRuns(self.db)
        # Writes and life of the writer.
        self.record = self.writer.record
        self.flush = self.writer.flush
        self.stats = self.writer.stats
        self.prune = self.retention.prune
        self.set_retention_days = self.retention.set_retention_days
        # Reads.
        self.count = trace_queries.count
        self.traces = trace_queries.traces
        self.recent_runs = trace_queries.recent_runs
        self.recent_jobs = trace_queries.recent_jobs
        self.usage = usage_queries.usage
        self.tag_stats = usage_queries.tag_stats
        self.tag_daily = usage_queries.tag_daily
        self.hourly_trends = usage_queries.hourly_trends
        self.node_model_usage = usage_queries.node_model_usage
        self.model_stats = latency_queries.model_stats
        self.ttft_p50 = latency_queries.ttft_p50
        self.health_counts = health_queries.health_counts
        self.fallback_reasons = health_queries.fallback_reasons
        self.save_benchmark_run = benchmark_runs.save_benchmark_run
        self.list_benchmark_runs = benchmark_runs.list_benchmark_runs
        self.get_benchmark_run = benchmark_runs.get_benchmark_run

    @property
    def retention_days(self) -> int:
        return self.retention.retention_days

    @property
    def dropped(self) -> int:
        """Rows that never reached the database (buffer overflow or a batch failing twice)."""
        return self.writer.dropped

    @property
    def writer_error(self) -> str | None:
        return self.writer.writer_error

    async def open(self) -> None:
        """Create the directory, open both connections, migrate, prune, start the writer."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await migrate(await self.db.open_writer())
        await self.db.open_reader()
        await self.retention.prune(time.time())
        self.writer.start()

    async def close(self) -> None:
        """Write everything still buffered, stop the writer, close both connections."""
        await self.writer.stop()
        await self.db.close()

    async def __aenter__(self) -> TraceStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
