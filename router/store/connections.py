"""The store's two SQLite connections: the writer and the read-only reader.

Owns how each is opened and closed (the writer in WAL mode, the reader ``query_only`` with a large
cache), ``transaction`` (``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error),
``StoreClosedError``, and ``Database``, which every part of ``TraceStore`` holds: the two
connections, the write lock and the fetch helpers every query uses. Writes go only to the
writer, which nothing else uses; queries run only on the reader, so a long read can never leave a
statement open on the writer ("cannot commit transaction - SQL statements in progress"). WAL
lets both run at once.

Never decides what is written or asked: the schema, the writer and the queries do.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from .counters import Source, counters_query

_WRITER_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=5000",
)
_READER_PRAGMAS = (
    "PRAGMA busy_timeout=5000",
    "PRAGMA query_only=ON",
    "PRAGMA cache_size=-65536",
    "PRAGMA mmap_size=268435456",
    "PRAGMA temp_store=MEMORY",
)


class StoreClosedError(RuntimeError):
    """A query was made on a store that is not open."""


@contextlib.asynccontextmanager
async def transaction(conn: aiosqlite.Connection) -> AsyncIterator[None]:
    """One write transaction: committed when the block ends, rolled back if anything raises."""
    await conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        await conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            await conn.execute("ROLLBACK")
        raise


class Database:
    """The writer and reader connections of one database file, and reads on the reader.

    Every part of the store holds the same ``Database``: the writer, retention and the queries.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self.write_lock = asyncio.Lock()
        """Held around every write on the writer connection (batches and prune chunks)."""

    async def open_writer(self) -> aiosqlite.Connection:
        self._writer = await aiosqlite.connect(self.path, isolation_level=None)
        for pragma in _WRITER_PRAGMAS:
            await self._writer.execute(pragma)
        return self._writer

    async def open_reader(self) -> None:
        self._reader = await aiosqlite.connect(self.path, isolation_level=None)
        for pragma in _READER_PRAGMAS:
            await self._reader.execute(pragma)
        self._reader.row_factory = sqlite3.Row

    async def close(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
        self._reader = self._writer = None

    def writer(self) -> aiosqlite.Connection:
        return _open(self._writer)

    def reader(self) -> aiosqlite.Connection:
        return _open(self._reader)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(row) for row in await self.fetch_rows(sql, params)]

    async def fetch_rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        async with self.reader().execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def counters(
        self,
        source: Source,
        groups: Sequence[tuple[str, str, str]],
        since: float,
        until: float,
        raw_filter: tuple[str, Sequence[Any]] = ("", ()),
        rollup_filter: tuple[str, Sequence[Any]] = ("", ()),
        daily: bool = True,
    ) -> list[dict[str, Any]]:
        """``COUNTER_FIELDS`` per group over ``[since, until)``: see ``counters_query``."""
        query = counters_query(source, groups, since, until, raw_filter, rollup_filter, daily)
        if query is None:
            return []
        return await self.fetch(*query)


def _open(conn: aiosqlite.Connection | None) -> aiosqlite.Connection:
    if conn is None:
        raise StoreClosedError("trace store is not open")
    return conn
