"""The connection pool of one origin (scheme, host, port): bounded, keep-alive, LIFO.

Owns ``Origin``: the idle connections (the freshest reused first; expired ones closed, oldest
first), the bound on connections that exist or are being opened (``total``), the queue of
requests waiting for a slot (each handed a released connection, or a freed slot to connect in),
opening connections (TLS for https; a connect timeout that does not count the event loop's
stalls, ``router.http_client.stalls``), and the request heads built once per (method, path,
extra headers).

Never reads or writes request bytes (the connection does) and never retries a request (the client
does). It sees the client only as ``PoolSettings``, the limits this module declares.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
import time
from collections import deque
from typing import Protocol

from .connection import Connection
from .errors import ConnectError, ConnectTimeout, PoolTimeout
from .stalls import Stalls

STALL_GRACE = 6.0
"""A connect timeout waits out the loop's stalls, up to this many times the timeout in all."""


class PoolSettings(Protocol):
    """The limits and shared request bytes a pool reads from its client (live: ``closed``)."""

    @property
    def max_connections(self) -> int: ...
    @property
    def keepalive_expiry(self) -> float: ...
    @property
    def high_water(self) -> int: ...
    @property
    def common_headers(self) -> bytes: ...
    @property
    def closed(self) -> bool: ...
    @property
    def stalls(self) -> Stalls: ...


class Origin:
    """The connections to one (scheme, host, port): idle ones LIFO, a bound, and waiters."""

    __slots__ = (
        "client",
        "connections",
        "heads",
        "host",
        "host_header",
        "idle",
        "port",
        "server_hostname",
        "ssl",
        "total",
        "waiters",
    )

    def __init__(
        self, client: PoolSettings, scheme: str, host: str, port: int, netloc: str
    ) -> None:
        self.client = client
        self.host = host
        self.port = port
        self.host_header = netloc
        self.ssl: ssl_module.SSLContext | None = (
            ssl_module.create_default_context() if scheme == "https" else None
        )
        self.server_hostname = host if scheme == "https" else None
        self.idle: list[Connection] = []
        self.connections: set[Connection] = set()
        self.total = 0
        """Connections that exist or are being opened (idle + busy + connecting)."""
        self.waiters: deque[asyncio.Future[Connection | None]] = deque()
        self.heads: dict[tuple[str, str, bytes], bytes] = {}

    def head(self, method: str, path: str, extra: bytes) -> bytes:
        """The request head up to (not including) ``Content-Length``, built once per shape."""
        key = (method, path, extra)
        head = self.heads.get(key)
        if head is None:
            if len(self.heads) > 256:
                self.heads.clear()
            head = (
                f"{method} {path} HTTP/1.1\r\nHost: {self.host_header}\r\n".encode()
                + self.client.common_headers
                + extra
            )
            self.heads[key] = head
        return head

    async def acquire(self, fresh: bool, connect_timeout: float, pool_timeout: float) -> Connection:
        client = self.client
        idle = self.idle
        if idle and not fresh:
            now = time.monotonic()
            conn = idle.pop()
            conn.in_pool = False
            if now - conn.idle_since < client.keepalive_expiry:
                conn.reused = True
                return conn
            # The freshest idle connection expired, so every older one did too.
            self._retire(conn)
            self._drop_all_idle()
        elif fresh and idle and self.total >= client.max_connections:
            self._retire(idle.pop(0))
        if self.total < client.max_connections:
            self.total += 1
            return await self._connect(connect_timeout)
        waiter: asyncio.Future[Connection | None] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            async with asyncio.timeout(pool_timeout):
                try:
                    got = await waiter
                except BaseException:
                    if waiter.done() and not waiter.cancelled():
                        self._give_back(waiter.result())
                    else:
                        waiter.cancel()
                    raise
        except TimeoutError:
            raise PoolTimeout(
                f"no connection to {self.host_header} free within {pool_timeout:g}s"
            ) from None
        if got is None:  # a slot was handed over: open a connection in it
            return await self._connect(connect_timeout)
        if fresh:
            got.close()
            return await self._connect(connect_timeout)
        got.reused = True
        return got

    async def _connect(self, timeout: float) -> Connection:
        """Open a connection in a slot already counted in ``total`` (freed again on failure)."""
        loop = asyncio.get_running_loop()
        try:
            _transport, conn = await self._open_within(loop, timeout)
        except TimeoutError:
            self._free_slot()
            raise ConnectTimeout(
                f"could not connect to {self.host_header} within {timeout:g}s"
            ) from None
        except OSError as exc:
            self._free_slot()
            raise ConnectError(f"cannot connect to {self.host_header}: {exc}") from None
        except BaseException:
            self._free_slot()
            raise
        if self.client.closed:
            conn.close()
            self._free_slot()
            raise ConnectError("the client is closed")
        return conn

    async def _open_within(
        self, loop: asyncio.AbstractEventLoop, timeout: float
    ) -> tuple[asyncio.BaseTransport, Connection]:
        """Open the TCP (and TLS) connection, allowing ``timeout`` seconds of the server's time:
        seconds in which this process's loop stalled do not count (at most ``STALL_GRACE`` times
        ``timeout`` in all), so a router too busy to notice an accepted connection does not call
        it a timeout."""
        stalls = self.client.stalls
        started = loop.time()
        mark = stalls.watch()
        handle: asyncio.TimerHandle | None = None
        try:
            async with asyncio.timeout(None) as scope:

                def due() -> None:
                    nonlocal handle
                    now = loop.time()
                    waited = now - started - stalls.since(mark)
                    if waited >= timeout or now - started >= STALL_GRACE * timeout:
                        scope.reschedule(now)
                    else:
                        handle = loop.call_at(now + timeout - waited, due)

                handle = loop.call_at(started + timeout, due)
                try:
                    return await loop.create_connection(
                        lambda: Connection(self, loop, self.client.high_water),
                        self.host,
                        self.port,
                        ssl=self.ssl,
                        server_hostname=self.server_hostname,
                    )
                finally:
                    handle.cancel()
        finally:
            stalls.unwatch()

    def release(self, conn: Connection, reusable: bool) -> None:
        if reusable and not self.client.closed:
            if self._hand_over(conn):
                return
            conn.idle_since = now = time.monotonic()
            conn.in_pool = True
            idle = self.idle
            idle.append(conn)
            expiry = self.client.keepalive_expiry
            while len(idle) > 1 and now - idle[0].idle_since >= expiry:
                self._retire(idle.pop(0))
            return
        conn.close()
        self._free_slot()

    def opened(self, conn: Connection) -> None:
        self.connections.add(conn)

    def lost(self, conn: Connection) -> None:
        self.connections.discard(conn)
        if conn.in_pool:
            self._forget_idle(conn)

    def _forget_idle(self, conn: Connection) -> None:
        """An idle connection was closed by the server."""
        conn.in_pool = False
        try:
            self.idle.remove(conn)
        except ValueError:
            return
        self._free_slot()

    def _give_back(self, got: Connection | None) -> None:
        if got is None:
            self._free_slot()
        else:
            self.release(got, reusable=not got.closed)

    def _hand_over(self, got: Connection | None) -> bool:
        """Give a released connection (or, None, a freed slot) to the first live waiter."""
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(got)
                return True
        return False

    def _free_slot(self) -> None:
        """A connection is gone: hand its slot to a waiter, or shrink the count."""
        if not self._hand_over(None):
            self.total -= 1

    def _retire(self, conn: Connection) -> None:
        """Close a connection taken out of the idle list; its slot is gone, not handed over."""
        conn.in_pool = False
        conn.close()
        self.total -= 1

    def _drop_all_idle(self) -> None:
        for conn in self.idle:
            self._retire(conn)
        self.idle.clear()

    def close(self) -> None:
        self._drop_all_idle()
        for conn in list(self.connections):
            conn.close()
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(PoolTimeout("the client was closed"))
