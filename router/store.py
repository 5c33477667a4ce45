"""The trace store: every routing decision in SQLite (``<data dir>/latency.db``), and its queries.

Owns the ``request_traces`` table (one row per attempt, the shape of ``TraceRecord``), the
``trace_tags`` lookup, ``benchmark_runs``, the schema version, retention, and the aggregate queries
behind the dashboard and the health checks.

Writes never touch the request path: ``record()`` only appends to a bounded in-memory buffer; a
background task writes batches, each in one transaction (``executemany``), on a connection used by
nothing else. Queries use a second, read-only connection, so a long read can never leave a
statement open on the writer ("cannot commit transaction - SQL statements in progress"). WAL mode
lets both run at once. A failed batch is logged and retried once; if it fails again the rows are
counted as dropped (``stats()``), never lost silently, and the router carries on.

Never blocks the event loop, never raises from ``record()``, never shapes responses: the pure
post-processing lives in ``router.analytics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import sqlite3
import time
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import aiosqlite

from router import analytics
from router.traces import TraceRecord

log = logging.getLogger("herd.store")

SCHEMA_VERSION = 1
DAY_S = 86_400
PRUNE_CHUNK = 5_000
MAX_PRUNE_CHUNKS = 100_000
"""Bounds the prune loop: 500M rows, far beyond any real table."""

TRACE_COLUMNS: tuple[str, ...] = (
    "request_id",
    "model",
    "original_model",
    "node_id",
    "status",
    "timestamp",
    "kind",
    "api",
    "stream",
    "score",
    "scores_breakdown",
    "latency_ms",
    "time_to_first_token_ms",
    "prompt_tokens",
    "completion_tokens",
    "eval_duration_ns",
    "load_duration_ns",
    "retry_count",
    "fallback_used",
    "fallback_reason",
    "context_protected",
    "cold_load",
    "reaped",
    "http_status",
    "tags",
    "client_ip",
    "error_message",
)

_ROLLUP_COLUMNS = (
    ",\n".join(
        f"            {name} {'REAL' if name.endswith('_sum') else 'INTEGER'} NOT NULL DEFAULT 0"
        for name in analytics.COUNTER_FIELDS
    )
    + ",\n            last_used REAL NOT NULL DEFAULT 0"
)

_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """
        CREATE TABLE IF NOT EXISTS request_traces (
            id INTEGER PRIMARY KEY,
            request_id TEXT NOT NULL,
            model TEXT NOT NULL,
            original_model TEXT NOT NULL,
            node_id TEXT,
            status TEXT NOT NULL,
            timestamp REAL NOT NULL,
            kind TEXT NOT NULL DEFAULT 'chat',
            api TEXT NOT NULL DEFAULT 'ollama',
            stream INTEGER NOT NULL DEFAULT 1,
            score REAL,
            scores_breakdown TEXT NOT NULL DEFAULT '{}',
            latency_ms REAL,
            time_to_first_token_ms REAL,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            eval_duration_ns INTEGER,
            load_duration_ns INTEGER,
            retry_count INTEGER NOT NULL DEFAULT 0,
            fallback_used INTEGER NOT NULL DEFAULT 0,
            fallback_reason TEXT,
            context_protected INTEGER NOT NULL DEFAULT 0,
            cold_load INTEGER NOT NULL DEFAULT 0,
            reaped INTEGER NOT NULL DEFAULT 0,
            http_status INTEGER,
            tags TEXT NOT NULL DEFAULT '[]',
            client_ip TEXT,
            error_message TEXT
        )
        """,
        "CREATE INDEX IF NOT EXISTS ix_traces_timestamp ON request_traces(timestamp)",
        "CREATE INDEX IF NOT EXISTS ix_traces_model_ts ON request_traces(model, timestamp)",
        "CREATE INDEX IF NOT EXISTS ix_traces_node_ts ON request_traces(node_id, timestamp)",
        "CREATE INDEX IF NOT EXISTS ix_traces_status_ts ON request_traces(status, timestamp)",
        "CREATE INDEX IF NOT EXISTS ix_traces_request_id ON request_traces(request_id)",
        """
        CREATE TABLE IF NOT EXISTS trace_tags (
            tag TEXT NOT NULL,
            timestamp REAL NOT NULL,
            trace_id INTEGER NOT NULL,
            PRIMARY KEY (tag, timestamp, trace_id)
        ) WITHOUT ROWID
        """,
        "CREATE INDEX IF NOT EXISTS ix_trace_tags_ts ON trace_tags(timestamp)",
        """
        CREATE TABLE IF NOT EXISTS benchmark_runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at REAL NOT NULL,
            finished_at REAL,
            status TEXT NOT NULL,
            params TEXT NOT NULL DEFAULT '{}',
            results TEXT NOT NULL DEFAULT '{}'
        )
        """,
        "CREATE INDEX IF NOT EXISTS ix_benchmark_started ON benchmark_runs(started_at)",
        f"""
        CREATE TABLE IF NOT EXISTS trace_rollup (
            period_start INTEGER NOT NULL,
            model TEXT NOT NULL,
            node_id TEXT NOT NULL,
{_ROLLUP_COLUMNS},
            PRIMARY KEY (period_start, model, node_id)
        ) WITHOUT ROWID
        """,
        f"""
        CREATE TABLE IF NOT EXISTS trace_rollup_daily (
            period_start INTEGER NOT NULL,
            model TEXT NOT NULL,
            node_id TEXT NOT NULL,
{_ROLLUP_COLUMNS},
            PRIMARY KEY (period_start, model, node_id)
        ) WITHOUT ROWID
        """,
        f"""
        CREATE TABLE IF NOT EXISTS tag_rollup (
            period_start INTEGER NOT NULL,
            tag TEXT NOT NULL,
            model TEXT NOT NULL,
{_ROLLUP_COLUMNS},
            PRIMARY KEY (period_start, tag, model)
        ) WITHOUT ROWID
        """,
        f"""
        CREATE TABLE IF NOT EXISTS tag_rollup_daily (
            period_start INTEGER NOT NULL,
            tag TEXT NOT NULL,
            model TEXT NOT NULL,
{_ROLLUP_COLUMNS},
            PRIMARY KEY (period_start, tag, model)
        ) WITHOUT ROWID
        """,
        """
        CREATE TABLE IF NOT EXISTS latency_hist (
            model TEXT NOT NULL,
            metric INTEGER NOT NULL,
            day INTEGER NOT NULL,
            bucket INTEGER NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (model, metric, day, bucket)
        ) WITHOUT ROWID
        """,
        "CREATE INDEX IF NOT EXISTS ix_latency_hist_day ON latency_hist(day)",
    ),
}

_INSERT_TRACE = (
    f"INSERT INTO request_traces (id, {', '.join(TRACE_COLUMNS)}) "
    f"VALUES (?, {', '.join('?' for _ in TRACE_COLUMNS)})"
)
_INSERT_TAG = "INSERT OR IGNORE INTO trace_tags (tag, timestamp, trace_id) VALUES (?, ?, ?)"

_COUNTER_SET = ", ".join(
    [f"{c} = {c} + excluded.{c}" for c in analytics.COUNTER_FIELDS]
    + ["last_used = max(last_used, excluded.last_used)"]
)
_COUNTER_NAMES = ", ".join([*analytics.COUNTER_FIELDS, "last_used"])
_COUNTER_MARKS = ", ".join("?" for _ in [*analytics.COUNTER_FIELDS, "last_used"])


def _upsert(table: str, keys: str) -> str:
    return (
        f"INSERT INTO {table} (period_start, {keys}, {_COUNTER_NAMES}) "
        f"VALUES (?, ?, ?, {_COUNTER_MARKS}) "
        f"ON CONFLICT (period_start, {keys}) DO UPDATE SET {_COUNTER_SET}"
    )


_UPSERTS = {
    ("trace", 3600): _upsert("trace_rollup", "model, node_id"),
    ("trace", DAY_S): _upsert("trace_rollup_daily", "model, node_id"),
    ("tag", 3600): _upsert("tag_rollup", "tag, model"),
    ("tag", DAY_S): _upsert("tag_rollup_daily", "tag, model"),
}
_UPSERT_HIST = (
    "INSERT INTO latency_hist (model, metric, day, bucket, n) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (model, metric, day, bucket) DO UPDATE SET n = n + excluded.n"
)
METRIC_LATENCY = 0
METRIC_TTFT = 1
EXACT_PERCENTILE_WINDOW_S = 2 * DAY_S
"""Windows up to this long get exact percentiles from raw rows; longer ones use the histogram."""


def _raw_counters(p: str = "") -> str:
    """SQL computing ``analytics.COUNTER_FIELDS`` from raw trace rows (column prefix ``p``)."""
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
    [f"sum({c}) AS {c}" for c in analytics.COUNTER_FIELDS] + ["max(last_used) AS last_used"]
)


class _Source(NamedTuple):
    raw_from: str
    ts: str
    prefix: str
    rollup: str
    rollup_daily: str


_TRACES = _Source(
    "request_traces INDEXED BY ix_traces_timestamp",
    "timestamp",
    "",
    "trace_rollup",
    "trace_rollup_daily",
)
_TAGS = _Source(
    "trace_tags g INDEXED BY ix_trace_tags_ts JOIN request_traces t ON t.id = g.trace_id",
    "g.timestamp",
    "t.",
    "tag_rollup",
    "tag_rollup_daily",
)


class LatencyRow(NamedTuple):
    """One completed attempt, as the latency history is seeded with."""

    node_id: str
    model: str
    latency_ms: float | None
    ttft_ms: float | None
    completion_tokens: int | None
    eval_duration_ns: int | None


class StoreClosedError(RuntimeError):
    """A query was made on a store that is not open."""


def _row(trace: TraceRecord) -> tuple[Any, ...]:
    """A trace as the tuple of ``TRACE_COLUMNS`` values (JSON text, 0/1 flags)."""
    return (
        trace.request_id,
        trace.model,
        trace.original_model,
        trace.node_id,
        trace.status,
        float(trace.timestamp),
        trace.kind,
        trace.api,
        int(bool(trace.stream)),
        trace.score,
        json.dumps(trace.scores_breakdown, separators=(",", ":")),
        trace.latency_ms,
        trace.time_to_first_token_ms,
        trace.prompt_tokens,
        trace.completion_tokens,
        trace.eval_duration_ns,
        trace.load_duration_ns,
        int(trace.retry_count),
        int(bool(trace.fallback_used)),
        trace.fallback_reason,
        int(bool(trace.context_protected)),
        int(bool(trace.cold_load)),
        int(bool(trace.reaped)),
        trace.http_status,
        json.dumps(list(trace.tags), separators=(",", ":")),
        trace.client_ip,
        trace.error_message,
    )


_TS = TRACE_COLUMNS.index("timestamp")
_Pending = tuple[tuple[Any, ...], tuple[str, ...]]
"""A buffered trace: its column values and its distinct tags."""


_I = {name: i for i, name in enumerate(TRACE_COLUMNS)}


_Rollups = dict[tuple[str, int], dict[tuple[int, str, str], list[float]]]
_Hist = dict[tuple[str, int, int, int], int]


def _rollups(batch: Sequence[_Pending]) -> tuple[_Rollups, _Hist]:
    """Aggregate a batch into rollup increments (traces and tags, hourly and daily, keyed like
    ``_UPSERTS``) and daily histogram increments."""
    rollups: _Rollups = {key: {} for key in _UPSERTS}
    hist: _Hist = {}
    for row, tags in batch:
        ts = row[_I["timestamp"]]
        model = row[_I["model"]]
        status = row[_I["status"]]
        latency = row[_I["latency_ms"]]
        ttft = row[_I["time_to_first_token_ms"]]
        counters = analytics.trace_counters(
            status,
            row[_I["prompt_tokens"]],
            row[_I["completion_tokens"]],
            latency,
            ttft,
            row[_I["retry_count"]],
            row[_I["fallback_used"]],
            row[_I["cold_load"]],
            row[_I["eval_duration_ns"]],
        )
        node = row[_I["node_id"]] or ""
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
                    key4 = (model, metric, day, analytics.histogram_bucket(value))
                    hist[key4] = hist.get(key4, 0) + 1
    return rollups, hist


def _split(since: float, until: float, period: int) -> tuple[tuple[int, int] | None, list]:
    """``[since, until)`` as whole ``period``s (or None) and the partial ranges either side."""
    first = math.ceil(since / period) * period
    last = math.floor(until / period) * period
    if first >= last:
        return None, [(since, until)] if since < until else []
    edges = [(a, b) for a, b in ((since, first), (last, until)) if a < b]
    return (first, last), edges


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
        self._buffer: deque[_Pending] = deque()
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

    # -- life cycle --------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the directory, open both connections, migrate, prune, start the writer."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await aiosqlite.connect(self.path, isolation_level=None)
        await self._writer.execute("PRAGMA journal_mode=WAL")
        await self._writer.execute("PRAGMA synchronous=NORMAL")
        await self._writer.execute("PRAGMA busy_timeout=5000")
        await self._migrate(self._writer)
        self._reader = await aiosqlite.connect(self.path, isolation_level=None)
        for pragma in (
            "PRAGMA busy_timeout=5000",
            "PRAGMA query_only=ON",
            "PRAGMA cache_size=-65536",
            "PRAGMA mmap_size=268435456",
            "PRAGMA temp_store=MEMORY",
        ):
            await self._reader.execute(pragma)
        self._reader.row_factory = sqlite3.Row
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
        for conn in (self._reader, self._writer):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
        self._reader = self._writer = None

    async def __aenter__(self) -> TraceStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _migrate(self, conn: aiosqlite.Connection) -> None:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
        )
        async with conn.execute("SELECT coalesce(max(version), 0) FROM schema_version") as cur:
            row = await cur.fetchone()
        current = int(row[0]) if row else 0
        for version in sorted(v for v in _MIGRATIONS if v > current):
            await conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _MIGRATIONS[version]:
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (version, time.time()),
                )
                await conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):
                    await conn.execute("ROLLBACK")
                raise

    # -- writes ------------------------------------------------------------------------------

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
            self._buffer.append((_row(trace), tuple(dict.fromkeys(str(t) for t in trace.tags))))
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
                    await self.prune(time.time())
            except asyncio.CancelledError:
                raise
            except Exception:  # the writer must outlive any single failure
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

    async def _write_batch(self, batch: list[_Pending]) -> None:
        for attempt in (1, 2):
            try:
                async with self._write_lock:
                    await self._insert(batch)
                self._written += len(batch)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._write_errors += 1
                self._last_error = f"{type(exc).__name__}: {exc}"
                if attempt == 1:
                    log.warning(
                        "trace batch write failed, retrying once",
                        extra={"rows": len(batch), "error": self._last_error},
                    )
                    await asyncio.sleep(0.05)
        self._dropped_errors += len(batch)
        log.error(
            "trace batch dropped after retry",
            extra={
                "rows": len(batch),
                "error": self._last_error,
                "request_ids": [row[0] for row, _ in batch[:10]],
                "dropped_total": self._dropped_errors,
            },
        )

    async def _insert(self, batch: Sequence[_Pending]) -> None:
        rollups, hist = _rollups(batch)
        conn = self._conn(self._writer)
        await conn.execute("BEGIN IMMEDIATE")
        try:
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
            for key, increments in rollups.items():
                if increments:
                    await conn.executemany(_UPSERTS[key], [(*k, *v) for k, v in increments.items()])
            if hist:
                await conn.executemany(_UPSERT_HIST, [(*k, n) for k, n in hist.items()])
            await conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):
                await conn.execute("ROLLBACK")
            raise

    def set_retention_days(self, days: int) -> None:
        """Change retention at run time; the next prune (or an explicit one) applies it."""
        if days < 1:
            raise ValueError("retention_days must be at least 1")
        self.retention_days = days

    async def prune(self, now: float) -> int:
        """Delete traces older than the retention, in chunks (short write locks). Returns rows."""
        cutoff = now - self.retention_days * DAY_S
        deleted = 0
        conn = self._conn(self._writer)
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
                async with self._write_lock:
                    cur = await conn.execute(sql, (cutoff, PRUNE_CHUNK))
                    count = cur.rowcount
                    await cur.close()
                if table == "request_traces":
                    deleted += count
                if count < PRUNE_CHUNK:
                    break
                await asyncio.sleep(0)  # let batches and queries in between chunks
        async with self._write_lock:
            # Rollup buckets go once they lie wholly before the cutoff.
            for table, period in (
                ("trace_rollup", 3600),
                ("tag_rollup", 3600),
                ("trace_rollup_daily", DAY_S),
                ("tag_rollup_daily", DAY_S),
            ):
                await conn.execute(
                    f"DELETE FROM {table} WHERE period_start < ?",
                    (int(cutoff // period) * period,),
                )
            await conn.execute("DELETE FROM latency_hist WHERE day < ?", (int(cutoff // DAY_S),))
        if deleted:
            self._pruned += deleted
            log.info("pruned old traces", extra={"rows": deleted, "cutoff": cutoff})
        return deleted

    def stats(self) -> dict[str, Any]:
        """Writer health: ``buffered, written, dropped_overflow, dropped_errors, write_errors,
        pruned, last_error``."""
        return {
            "buffered": len(self._buffer),
            "written": self._written,
            "dropped_overflow": self._dropped_overflow,
            "dropped_errors": self._dropped_errors,
            "write_errors": self._write_errors,
            "pruned": self._pruned,
            "last_error": self._last_error,
        }

    @property
    def dropped(self) -> int:
        """Rows that never reached the database (buffer overflow or a batch failing twice)."""
        return self._dropped_overflow + self._dropped_errors

    # -- queries -----------------------------------------------------------------------------

    def _conn(self, conn: aiosqlite.Connection | None) -> aiosqlite.Connection:
        if conn is None:
            raise StoreClosedError("trace store is not open")
        return conn

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(row) for row in await self._fetch_rows(sql, params)]

    async def _fetch_rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        async with self._conn(self._reader).execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def count(self) -> int:
        rows = await self._fetch("SELECT count(*) AS n FROM request_traces")
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
        rows = await self._fetch(sql, [*params, limit])
        return [analytics.decode_trace_row(row) for row in rows]

    async def _counters(
        self,
        source: _Source,
        groups: Sequence[tuple[str, str, str]],
        since: float,
        until: float,
        raw_filter: tuple[str, Sequence[Any]] = ("", ()),
        rollup_filter: tuple[str, Sequence[Any]] = ("", ()),
        daily: bool = True,
    ) -> list[dict[str, Any]]:
        """``COUNTER_FIELDS`` per group over ``[since, until)``, exact and cheap: whole UTC days
        from the daily rollup (when ``daily``), whole hours from the hourly rollup, and the partial
        hours at either end from raw rows.

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
            days, rest = _split(since, until, DAY_S)
        if days is not None:
            rollup(source.rollup_daily, days)
        for start, end in rest:
            hours, edges = _split(start, end, 3600)
            if hours is not None:
                rollup(source.rollup, hours)
            for a, b in edges:
                parts.append(
                    f"SELECT {raw_select}, {_raw_counters(source.prefix)} FROM {source.raw_from} "
                    f"WHERE {source.ts} >= ? AND {source.ts} < ? {raw_filter[0]} GROUP BY {names}"
                )
                params.extend([a, b, *raw_filter[1]])
        if not parts:
            return []
        if len(parts) == 1:
            return await self._fetch(parts[0], params)
        union = " UNION ALL ".join(parts)
        return await self._fetch(
            f"SELECT {names}, {_SUM_COUNTERS} FROM ({union}) GROUP BY {names}", params
        )

    async def usage(
        self, since: float, until: float | None = None, tz_offset_s: int = 0
    ) -> dict[str, Any]:
        """Usage per node, model and day in ``[since, until)``: see ``analytics.shape_usage``.

        Days are UTC shifted by ``tz_offset_s`` (whole hours are exact; a rollup hour belongs to
        the day its start falls in)."""
        until = time.time() if until is None else until
        off = int(tz_offset_s)
        rows = await self._counters(
            _TRACES,
            (
                (
                    "day",
                    f"CAST((timestamp + {off}) / 86400 AS INTEGER)",
                    f"(period_start + {off}) / 86400",
                ),
                ("node_id", "node_id", "nullif(node_id, '')"),
                ("model", "model", "model"),
            ),
            since,
            until,
            daily=off % DAY_S == 0,
        )
        return analytics.shape_usage(rows, since, until, off)

    async def _exact_percentiles(
        self, column: str, since: float, until: float, quantiles: Sequence[float]
    ) -> dict[str, dict[str, float | None]]:
        """Nearest-rank percentiles of ``column`` per model from raw rows (one sort)."""
        rank_terms = " OR ".join(
            f"rn = min(n, max(1, CAST({q!r} * n AS INTEGER) "
            f"+ ({q!r} * n > CAST({q!r} * n AS INTEGER))))"
            for q in quantiles
        )
        rows = await self._fetch(
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
                if analytics.nearest_rank(row["n"], q) == row["rn"]:
                    found.append({"model": row["model"], "q": q, "value": row["value"]})
        return analytics.group_percentiles(found)

    async def _histogram_percentiles(
        self, since: float, until: float, quantiles: Sequence[float]
    ) -> tuple[dict[str, dict[str, float | None]], dict[str, dict[str, float | None]]]:
        """Approximate percentiles per model for long windows: whole days from the daily
        histogram, the partial days at either end bucketed from raw rows."""
        first_day = math.ceil(since / DAY_S)
        last_day = math.floor(until / DAY_S)
        counts: dict[tuple[str, int], dict[int, int]] = {}
        rows = await self._fetch_rows(
            "SELECT model, metric, bucket, sum(n) FROM latency_hist "
            "WHERE day >= ? AND day < ? GROUP BY model, metric, bucket",
            (first_day, last_day),
        )
        for model, metric, bucket, n in rows:
            counts.setdefault((model, metric), {})[bucket] = n
        for start, end in ((since, first_day * DAY_S), (last_day * DAY_S, until)):
            if start >= end:
                continue
            raw = await self._fetch_rows(
                "SELECT model, latency_ms, time_to_first_token_ms "
                "FROM request_traces INDEXED BY ix_traces_timestamp "
                "WHERE timestamp >= ? AND timestamp < ? AND status = 'completed'",
                (start, end),
            )
            for model, latency, ttft in raw:
                for metric, value in ((METRIC_LATENCY, latency), (METRIC_TTFT, ttft)):
                    if value is not None:
                        hist = counts.setdefault((model, metric), {})
                        bucket = analytics.histogram_bucket(value)
                        hist[bucket] = hist.get(bucket, 0) + 1
        latency: dict[str, dict[str, float | None]] = {}
        ttft_out: dict[str, dict[str, float | None]] = {}
        for (model, metric), hist in counts.items():
            target = latency if metric == METRIC_LATENCY else ttft_out
            target[model] = analytics.histogram_percentiles(hist, quantiles)
        return latency, ttft_out

    async def model_stats(
        self,
        since: float,
        until: float | None = None,
        quantiles: Sequence[float] = analytics.DEFAULT_QUANTILES,
    ) -> list[dict[str, Any]]:
        """Per model: counters, latency and TTFT percentiles, per-node speed. See
        ``analytics.shape_model_stats``. Percentiles are exact for windows up to two days and
        from the log histogram (about 2.5%) beyond."""
        until = time.time() if until is None else until
        model_rows = await self._counters(_TRACES, (("model", "model", "model"),), since, until)
        node_rows = await self._counters(
            _TRACES,
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
        return analytics.shape_model_stats(
            model_rows, node_rows, latency, ttft, quantiles, percentiles_exact=exact
        )

    async def tag_stats(self, since: float, until: float | None = None) -> list[dict[str, Any]]:
        """Per tag (app): counters and the models used. See ``analytics.shape_tag_stats``."""
        until = time.time() if until is None else until
        rows = await self._counters(
            _TAGS, (("tag", "g.tag", "tag"), ("model", "t.model", "model")), since, until
        )
        per_tag: dict[str, dict[str, Any]] = {}
        for row in rows:
            acc = per_tag.setdefault(row["tag"], {"tag": row["tag"]})
            for key in analytics.COUNTER_FIELDS:
                acc[key] = acc.get(key, 0) + (row[key] or 0)
        return analytics.shape_tag_stats(per_tag.values(), rows)

    async def tag_daily(
        self,
        since: float,
        until: float | None = None,
        tags: Iterable[str] | None = None,
        tz_offset_s: int = 0,
    ) -> dict[str, Any]:
        """Per tag and day in ``[since, until)``, days filled: ``{"days", "series"}``."""
        until = time.time() if until is None else until
        off = int(tz_offset_s)
        raw_filter: tuple[str, Sequence[Any]] = ("", ())
        rollup_filter: tuple[str, Sequence[Any]] = ("", ())
        if tags is not None:
            wanted = list(tags)
            if not wanted:
                return analytics.shape_tag_daily([], since, until, off)
            marks = ", ".join("?" for _ in wanted)
            raw_filter = (f"AND g.tag IN ({marks})", wanted)
            rollup_filter = (f"AND tag IN ({marks})", wanted)
        rows = await self._counters(
            _TAGS,
            (
                ("tag", "g.tag", "tag"),
                (
                    "day",
                    f"CAST((g.timestamp + {off}) / 86400 AS INTEGER)",
                    f"(period_start + {off}) / 86400",
                ),
            ),
            since,
            until,
            raw_filter,
            rollup_filter,
            daily=off % DAY_S == 0,
        )
        return analytics.shape_tag_daily(rows, since, until, off)

    async def hourly_trends(self, now: float, hours: int = 24) -> dict[str, Any]:
        """The last ``hours`` hours (1..720), every hour present. See ``analytics.shape_hourly``."""
        hours = max(1, min(int(hours), 720))
        start = analytics.hour_starts(now, hours)[0]
        rows = await self._counters(
            _TRACES,
            (
                ("hour", "CAST(timestamp / 3600 AS INTEGER) * 3600", "period_start"),
                ("model", "model", "model"),
            ),
            start,
            start + hours * 3600,
            daily=False,
        )
        return analytics.shape_hourly(rows, now, hours)

    async def node_model_usage(
        self, since: float, until: float | None = None
    ) -> list[dict[str, Any]]:
        """Per node and model in ``[since, until)``: ``{node_id, model, requests, completed,
        errors, prompt_tokens, completion_tokens, last_used}``, busiest first."""
        until = time.time() if until is None else until
        rows = await self._counters(
            _TRACES,
            (("node_id", "node_id", "nullif(node_id, '')"), ("model", "model", "model")),
            since,
            until,
        )
        out = [
            {
                "node_id": row["node_id"],
                "model": row["model"],
                "requests": int(row["requests"] or 0),
                "completed": int(row["completed"] or 0),
                "errors": int(row["errors"] or 0),
                "prompt_tokens": int(row["prompt_tokens"] or 0),
                "completion_tokens": int(row["completion_tokens"] or 0),
                "last_used": row["last_used"],
            }
            for row in rows
        ]
        out.sort(key=lambda r: (-r["requests"], r["node_id"] or "", r["model"]))
        return out

    async def fallback_reasons(self, since: float, until: float | None = None) -> dict[str, int]:
        """Fallback attempts per reason in ``[since, until)`` (``unspecified`` without one)."""
        until = time.time() if until is None else until
        rows = await self._fetch_rows(
            "SELECT coalesce(fallback_reason, 'unspecified'), count(*) "
            "FROM request_traces INDEXED BY ix_traces_timestamp "
            "WHERE timestamp >= ? AND timestamp < ? AND fallback_used = 1 "
            "GROUP BY fallback_reason",
            (since, until),
        )
        return {reason: int(n) for reason, n in rows}

    async def ttft_p50(self, since: float, until: float | None = None) -> float | None:
        """Fleet-wide median time to first token of completed requests (exact up to two days,
        from the histogram beyond)."""
        until = time.time() if until is None else until
        if until - since <= EXACT_PERCENTILE_WINDOW_S:
            where = (
                "FROM request_traces INDEXED BY ix_traces_timestamp WHERE timestamp >= ? "
                "AND timestamp < ? AND status = 'completed' AND time_to_first_token_ms IS NOT NULL"
            )
            counted = await self._fetch_rows(f"SELECT count(*) {where}", (since, until))
            n = int(counted[0][0])
            if n == 0:
                return None
            rows = await self._fetch_rows(
                f"SELECT time_to_first_token_ms {where} ORDER BY time_to_first_token_ms "
                "LIMIT 1 OFFSET ?",
                (since, until, analytics.nearest_rank(n, 0.5) - 1),
            )
            return float(rows[0][0]) if rows else None
        hist: dict[int, int] = {}
        first_day = math.ceil(since / DAY_S)
        last_day = math.floor(until / DAY_S)
        for bucket, n in await self._fetch_rows(
            "SELECT bucket, sum(n) FROM latency_hist WHERE metric = ? AND day >= ? AND day < ? "
            "GROUP BY bucket",
            (METRIC_TTFT, first_day, last_day),
        ):
            hist[bucket] = hist.get(bucket, 0) + int(n)
        for start, end in ((since, first_day * DAY_S), (last_day * DAY_S, until)):
            if start < end:
                for (value,) in await self._fetch_rows(
                    "SELECT time_to_first_token_ms FROM request_traces "
                    "INDEXED BY ix_traces_timestamp WHERE timestamp >= ? AND timestamp < ? "
                    "AND status = 'completed' AND time_to_first_token_ms IS NOT NULL",
                    (start, end),
                ):
                    bucket = analytics.histogram_bucket(value)
                    hist[bucket] = hist.get(bucket, 0) + 1
        return analytics.histogram_percentiles(hist, (0.5,))["p50"]

    async def health_counts(self, since: float, until: float | None = None) -> dict[str, Any]:
        """Counts over ``[since, until)`` for the health checks. See
        ``analytics.shape_health_counts``."""
        until = time.time() if until is None else until
        params = (since, until)
        window = "INDEXED BY ix_traces_timestamp WHERE timestamp >= ? AND timestamp < ?"
        status_rows = await self._fetch(
            f"SELECT status, count(*) AS n FROM request_traces {window} GROUP BY status", params
        )
        flags = await self._fetch(
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
        cold = await self._fetch(
            f"SELECT node_id, model, count(*) AS n FROM request_traces {window} AND cold_load = 1 "
            "GROUP BY node_id, model",
            params,
        )
        return analytics.shape_health_counts(
            status_rows, flags[0] if flags else {}, cold, since, until
        )

    async def recent_latencies(self, since: float, limit: int = 50_000) -> list[LatencyRow]:
        """Completed attempts since ``since``, oldest first, to seed the latency history."""
        rows = await self._fetch_rows(
            """
            SELECT node_id, model, latency_ms, time_to_first_token_ms, completion_tokens,
                eval_duration_ns
            FROM (
                SELECT * FROM request_traces
                WHERE timestamp >= ? AND status = 'completed' AND node_id IS NOT NULL
                ORDER BY timestamp DESC LIMIT ?
            ) ORDER BY timestamp
            """,
            (since, limit),
        )
        return [LatencyRow(*tuple(row)) for row in rows]

    # -- benchmark runs ----------------------------------------------------------------------

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
        conn = self._conn(self._writer)
        values = (
            started_at,
            finished_at,
            status,
            json.dumps(params or {}, default=str),
            json.dumps(results or {}, default=str),
        )
        async with self._write_lock:
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
        rows = await self._fetch(
            "SELECT * FROM benchmark_runs ORDER BY started_at DESC, id DESC LIMIT ?",
            (max(1, min(int(limit), 1000)),),
        )
        return [_benchmark(row) for row in rows]

    async def get_benchmark_run(self, run_id: int) -> dict[str, Any] | None:
        rows = await self._fetch("SELECT * FROM benchmark_runs WHERE id = ?", (run_id,))
        return _benchmark(rows[0]) if rows else None


def _benchmark(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("params", "results"):
        try:
            out[key] = json.loads(out[key] or "{}")
        except ValueError:
            out[key] = {}
    return out
