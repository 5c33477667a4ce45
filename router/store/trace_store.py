"""``TraceStore``: the one object the router holds for its traces, and its life cycle.

Owns the store's settings (path, retention, batch size, flush and prune intervals, buffer bound),
its state, and ``open``/``close``: create the directory, open the writer, migrate, open the reader,
prune, start the writer task; on close, stop the task, write what is still buffered, close both
connections. Everything else comes from its parts: ``BatchWriter`` (with ``Retention``),
``TraceQueries``, ``UsageQueries``, ``LatencyQueries``, ``HealthQueries`` and ``BenchmarkRuns``.

Never blocks the event loop and never shapes responses.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from pathlib import Path

import aiosqlite

from .benchmarks import BenchmarkRuns
from .health_queries import HealthQueries
from .latency_queries import LatencyQueries
from .rows import Pending
from .schema import migrate
from .trace_queries import TraceQueries
from .usage_queries import UsageQueries
from .writer import DROP_REPORT_PERIOD_S, BatchWriter


class TraceStore(
    BatchWriter, TraceQueries, UsageQueries, LatencyQueries, HealthQueries, BenchmarkRuns
):
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
        if retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        if batch_size < 1 or max_buffer < batch_size:
            raise ValueError("need 1 <= batch_size <= max_buffer")
        self.path = Path(path).expanduser()
        self.retention_days = retention_days
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.max_buffer = max_buffer
        self.prune_interval_s = prune_interval_s
        self._buffer: deque[Pending] = deque()
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._drain_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._last_prune = 0.0
        self._written = 0
        self._dropped_overflow = 0
        self._dropped_errors = 0
        self._write_errors = 0
        self._pruned = 0
        self._last_error: str | None = None
        self._writer_error: str | None = None
        self._last_drop_report = -DROP_REPORT_PERIOD_S

    async def open(self) -> None:
        """Create the directory, open both connections, migrate, prune, start the writer."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await migrate(await self._open_writer())
        await self._open_reader()
        self._closing = False
        await self.prune(time.time())
        self._last_prune = time.monotonic()
        self._task = asyncio.create_task(self._run(), name="trace-store-writer")

    async def close(self) -> None:
        """Write everything still buffered, stop the writer, close both connections."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
        await self._close_connections()

    async def __aenter__(self) -> TraceStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
