"""The trace store's schema: its tables, indexes and migrations.

Owns ``SCHEMA_VERSION``, the DDL of ``request_traces`` (its columns in the order of
``rows.TRACE_COLUMNS``), ``trace_tags``, ``benchmark_runs``, the hourly and daily rollups and
``latency_hist``, and ``migrate``, which brings a database up to date, one transaction per version.

Never reads or writes trace rows, and never opens a connection: it is handed the writer's.
"""

from __future__ import annotations

import time

import aiosqlite

from router import measures

from .connections import transaction

SCHEMA_VERSION = 3

_ROLLUP_COLUMNS = (
    ",\n".join(
        f"            {name} {'REAL' if name.endswith('_sum') else 'INTEGER'} NOT NULL DEFAULT 0"
        for name in measures.COUNTER_FIELDS
    )
    + ",\n            last_used REAL NOT NULL DEFAULT 0"
)

MIGRATIONS: dict[int, tuple[str, ...]] = {
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
    2: (
        # every node weighed for the attempt, with its score or why it was rejected
        "ALTER TABLE request_traces ADD COLUMN candidates TEXT NOT NULL DEFAULT '[]'",
    ),
    3: (
        # a stream whose node failed mid-stream and went on on another node
        "ALTER TABLE request_traces ADD COLUMN resumed_on TEXT",
        "ALTER TABLE request_traces ADD COLUMN resumed_from TEXT NOT NULL DEFAULT '[]'",
    ),
}


async def migrate(conn: aiosqlite.Connection) -> None:
    """Apply every migration newer than the database's recorded version, in order."""
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version "
        "(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    async with conn.execute("SELECT coalesce(max(version), 0) FROM schema_version") as cur:
        row = await cur.fetchone()
    current = int(row[0]) if row else 0
    for version in sorted(v for v in MIGRATIONS if v > current):
        async with transaction(conn):
            for statement in MIGRATIONS[version]:
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                (version, time.time()),
            )
