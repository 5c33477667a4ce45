"""The batched background writer: how traces reach the database without touching the request path.

Owns ``BatchWriter``, the part of ``TraceStore`` behind ``record``, ``flush``, ``stats`` and
``dropped``: ``record`` only appends to a bounded in-memory buffer; a background task (``_run``)
wakes when a batch is full or every ``flush_interval_s``, writes batches, each in one transaction
on the writer connection (traces, tags, rollup and histogram increments, ``executemany``), and
prunes every ``prune_interval_s``. A failed batch is logged and retried once; if it fails again its
rows are counted as dropped (``stats()``), never lost silently, and the router carries on.

Never blocks the event loop, never raises from ``record``, and never reads through the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from router.traces import TraceRecord

from .connections import Database, transaction
from .retention import Retention
from .rollups import UPSERT_HIST, UPSERTS, increments
from .rows import COLUMN, TRACE_COLUMNS, Pending, trace_row

log = logging.getLogger("herd.store")

_INSERT_TRACE = (
    f"INSERT INTO request_traces (id, {', '.join(TRACE_COLUMNS)}) "
    f"VALUES (?, {', '.join('?' for _ in TRACE_COLUMNS)})"
)
_INSERT_TAG = "INSERT OR IGNORE INTO trace_tags (tag, timestamp, trace_id) VALUES (?, ?, ?)"
_TS = COLUMN["timestamp"]
DROP_REPORT_PERIOD_S = 60.0


class BatchWriter:
    """The trace buffer, the writer task draining it, and the writer's counters."""

    def __init__(
        self,
        db: Database,
        retention: Retention,
        batch_size: int,
        flush_interval_s: float,
        max_buffer: int,
        prune_interval_s: float,
    ) -> None:
        if batch_size < 1 or max_buffer < batch_size:
            raise ValueError("need 1 <= batch_size <= max_buffer")
        self.db = db
        self.retention = retention
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.max_buffer = max_buffer
        self.prune_interval_s = prune_interval_s
        self._buffer: deque[Pending] = deque()
        self._drain_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._last_prune = 0.0
        self._written = 0
        self._dropped_overflow = 0
        self._dropped_errors = 0
        self._write_errors = 0
        self._last_error: str | None = None
        self._writer_error: str | None = None
        self._last_drop_report = -DROP_REPORT_PERIOD_S

    def start(self) -> None:
        """Start the writer task (the store is open and pruned)."""
        self._closing = False
        self._last_prune = time.monotonic()
        self._task = asyncio.create_task(self._run(), name="trace-store-writer")

    async def stop(self) -> None:
        """Stop the writer task after its current batch, then write what is still buffered."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    @property
    def writer_error(self) -> str | None:
        """Why the writer last failed (a batch dropped, an iteration raised); ``None`` once a
        batch was written again. The router's health shows it while it is set."""
        return self._writer_error

    def record(self, trace: TraceRecord) -> None:
        """Queue one trace for writing. O(1), never awaits, never raises."""
        if len(self._buffer) >= self.max_buffer:
            self._dropped_overflow += 1
            if self._dropped_overflow == 1 or self._dropped_overflow % 1000 == 0:
                log.warning(
                    "trace buffer full, dropping traces",
                    extra={"dropped": self._dropped_overflow, "max_buffer": self.max_buffer},
                )
            return
        try:
            self._buffer.append(
                (trace_row(trace), tuple(dict.fromkeys(str(t) for t in trace.tags)))
            )
        except (TypeError, ValueError) as exc:
            self._dropped_errors += 1
            log.error(
                "trace not serialisable, dropped",
                extra={"request_id": getattr(trace, "request_id", None), "error": str(exc)},
            )
            return
        if len(self._buffer) >= self.batch_size:
            self._wake.set()

    async def flush(self) -> None:
        """Write every buffered trace now (tests, shutdown)."""
        await self._drain()

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.flush_interval_s)
            self._wake.clear()
            try:
                await self._drain()
                if time.monotonic() - self._last_prune >= self.prune_interval_s:
                    self._last_prune = time.monotonic()
                    await self.retention.prune(time.time())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the writer must outlive any single failure
                self._writer_error = f"{type(exc).__name__}: {exc}"
                log.exception("trace writer iteration failed")

    async def _drain(self) -> None:
        # One drainer at a time, so flush() also waits for a batch the writer task already took.
        # Bounded: each pass removes up to batch_size rows and new rows are capped by max_buffer.
        async with self._drain_lock:
            for _ in range(self.max_buffer // self.batch_size + 2):
                if not self._buffer:
                    return
                n = min(self.batch_size, len(self._buffer))
                batch = [self._buffer.popleft() for _ in range(n)]
                await self._write_batch(batch)

    async def _write_batch(self, batch: list[Pending]) -> None:
        for attempt in (1, 2):
            try:
                async with self.db.write_lock:
                    await self._insert(batch)
                self._written += len(batch)
                self._writer_error = None
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._write_errors += 1
                self._last_error = f"{type(exc).__name__}: {exc}"
                if attempt == 1:
                    log.info(
                        "trace batch write failed, retrying once",
                        extra={"rows": len(batch), "error": self._last_error},
                    )
                    await asyncio.sleep(0.05)
        self._dropped_errors += len(batch)
        self._writer_error = f"a batch of {len(batch)} traces was dropped: {self._last_error}"
        now = time.monotonic()
        if now - self._last_drop_report < DROP_REPORT_PERIOD_S:
            return  # counted (stats, health, /metrics); not one console line per batch
        self._last_drop_report = now
        log.error(
            "trace batch dropped after retry (reported at most once a minute)",
            extra={
                "rows": len(batch),
                "error": self._last_error,
                "request_ids": [row[0] for row, _ in batch[:10]],
                "dropped_total": self._dropped_errors,
            },
        )

    async def _insert(self, batch: Sequence[Pending]) -> None:
        rollups, hist = increments(batch)
        conn = self.db.writer()
        async with transaction(conn):
            async with conn.execute("SELECT coalesce(max(id), 0) FROM request_traces") as cur:
                row = await cur.fetchone()
            first = (int(row[0]) if row else 0) + 1
            traces = [(first + i, *row) for i, (row, _) in enumerate(batch)]
            tags = [
                (tag, row[_TS], first + i)
                for i, (row, row_tags) in enumerate(batch)
                for tag in row_tags
            ]
            await conn.executemany(_INSERT_TRACE, traces)
            if tags:
                await conn.executemany(_INSERT_TAG, tags)
            for key, rollup in rollups.items():
                if rollup:
                    await conn.executemany(UPSERTS[key], [(*k, *v) for k, v in rollup.items()])
            if hist:
                await conn.executemany(UPSERT_HIST, [(*k, n) for k, n in hist.items()])

    def stats(self) -> dict[str, Any]:
        """Writer health: ``buffered, written, dropped_overflow, dropped_errors, write_errors,
        pruned, last_error``."""
        return {
            "buffered": len(self._buffer),
            "written": self._written,
            "dropped_overflow": self._dropped_overflow,
            "dropped_errors": self._dropped_errors,
            "write_errors": self._write_errors,
            "pruned": self.retention.pruned,
            "last_error": self._last_error,
        }

    @property
    def dropped(self) -> int:
        """Rows that never reached the database (buffer overflow or a batch failing twice)."""
        return self._dropped_overflow + self._dropped_errors
