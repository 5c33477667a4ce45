"""A small asynchronous HTTP/1.1 client for the router's hot path: pooled keep-alive connections.

Owns the sockets to the nodes: one bounded, LIFO keep-alive pool per origin, responses parsed by
``httptools`` (llhttp) straight from an ``asyncio.Protocol``, bodies handed to the consumer as
they arrive with backpressure (reading pauses while the consumer is behind). A connection goes
back to the pool only once its response was completely received and the server allowed
keep-alive; a response closed early closes its connection, which is how a node learns to stop
generating. A request that finds its reused connection already closed by the server, before any
response byte, is sent once more on a fresh connection; never after a response byte arrived.

Never knows about Ollama, routing or retries across nodes (``router.upstream`` does), never
follows redirects, never decodes content encodings, never sends ``HEAD`` (bodies are framed by
llhttp, which cannot be told a response has none), and never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import json
import ssl as ssl_module
import time
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from httptools import HttpParserError, HttpResponseParser

__all__ = [
    "Client",
    "ConnectError",
    "ConnectTimeout",
    "HTTPError",
    "HTTPStatusError",
    "Headers",
    "PoolTimeout",
    "ProtocolError",
    "ReadTimeout",
    "RemoteProtocolError",
    "Response",
    "ResponseClosed",
    "TimeoutException",
]


# --- errors ---------------------------------------------------------------------------------------


class HTTPError(Exception):
    """Anything that went wrong talking HTTP to a server."""


class ConnectError(HTTPError):
    """No connection could be made (refused, unreachable, name not resolved)."""


class TimeoutException(HTTPError):
    """A timeout: connecting, waiting for a pool slot, or waiting for response bytes."""


class ConnectTimeout(TimeoutException):
    pass


class ReadTimeout(TimeoutException):
    pass


class PoolTimeout(TimeoutException):
    pass


class RemoteProtocolError(HTTPError):
    """The server closed or reset the connection before the response was complete."""


class ProtocolError(HTTPError):
    """The server sent something that is not a valid HTTP/1.1 response."""


class ResponseClosed(HTTPError):
    """The body of a response was read after the response was closed."""


class HTTPStatusError(HTTPError):
    """``raise_for_status`` on a 4xx/5xx response."""

    def __init__(self, message: str, response: Response) -> None:
        super().__init__(message)
        self.response = response


class _StaleConnection(Exception):
    """A reused connection turned out closed before any response byte: send again, fresh."""


# --- responses ------------------------------------------------------------------------------------


class Headers(Mapping[str, str]):
    """Response headers as received; case-insensitive lookups, the mapping built on first use."""

    __slots__ = ("_map", "raw")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = raw
        self._map: dict[str, str] | None = None

    def _mapping(self) -> dict[str, str]:
        if self._map is None:
            mapping: dict[str, str] = {}
            for name, value in self.raw:
                key = name.decode("latin-1").lower()
                text = value.decode("latin-1")
                mapping[key] = f"{mapping[key]}, {text}" if key in mapping else text
            self._map = mapping
        return self._map

    def __getitem__(self, name: str) -> str:
        return self._mapping()[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._mapping()

    def __iter__(self) -> Iterator[str]:
        return iter(self._mapping())

    def __len__(self) -> int:
        return len(self._mapping())

    def multi_items(self) -> list[tuple[str, str]]:
        return [(n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in self.raw]

    def __repr__(self) -> str:
        return f"Headers({self.multi_items()!r})"


class Response:
    """A response whose headers arrived; its body is read with ``aiter_raw()`` or ``aread()``.

    Always ``aclose()`` it: closing before the body ended closes the connection.
    """

    __slots__ = (
        "_buffered",
        "_chunks",
        "_complete",
        "_conn",
        "_content",
        "_error",
        "_low_water",
        "_user_closed",
        "_waiter",
        "headers",
        "method",
        "status_code",
        "url",
    )

    def __init__(self, method: str, url: str, low_water: int) -> None:
        self.method = method
        self.url = url
        self.status_code = 0
        self.headers = Headers([])
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._low_water = low_water
        self._complete = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._conn: _Connection | None = None
        self._content: bytes | None = None
        self._user_closed = False

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}] {self.method} {self.url}>"

    # --- called by the connection (inside the protocol callbacks) ---

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _fail(self, error: BaseException) -> None:
        if self._error is None and not self._complete:
            self._error = error
        self._wake()

    # --- the body, for the consumer ---

    async def _wait(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        try:
            await waiter
        finally:
            self._waiter = None

    def aiter_raw(self) -> Response:
        """The body's bytes as they arrive (whatever arrived since the last step, joined)."""
        return self

    aiter_bytes = aiter_raw

    def __aiter__(self) -> Response:
        return self

    async def __anext__(self) -> bytes:
        while True:
            chunks = self._chunks
            if chunks:
                chunk = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                chunks.clear()
                self._buffered = 0
                conn = self._conn
                if conn is not None and conn._paused:
                    conn._resume()
                return chunk
            if self._error is not None:
                raise self._error
            if self._complete:
                raise StopAsyncIteration
            if self._user_closed:
                raise ResponseClosed("the response was closed")
            await self._wait()

    async def aread(self) -> bytes:
        """The whole body (also kept as ``content``)."""
        if self._content is not None:
            return self._content
        parts: list[bytes] = []
        async for chunk in self:
            parts.append(chunk)
        self._content = parts[0] if len(parts) == 1 else b"".join(parts)
        return self._content

    @property
    def content(self) -> bytes:
        if self._content is None:
            raise RuntimeError("the body was not read: await response.aread() first")
        return self._content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def raise_for_status(self) -> Response:
        if self.status_code >= 400:
            raise HTTPStatusError(f"HTTP {self.status_code} from {self.url}", self)
        return self

    async def aclose(self) -> None:
        """Done with the response: before the body's end, this closes the connection."""
        self.close()

    def close(self) -> None:
        self._user_closed = True
        conn = self._conn
        if conn is not None:
            conn._end(reusable=False)


# --- connections ----------------------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """One TCP connection and its parser; serves one response at a time."""

    __slots__ = (
        "_body_started",
        "_closed",
        "_first_byte_timeout",
        "_framed",
        "_got_bytes",
        "_high_water",
        "_idle_since",
        "_in_pool",
        "_keep_alive",
        "_last",
        "_loop",
        "_origin",
        "_parser",
        "_paused",
        "_raw_headers",
        "_read_timeout",
        "_response",
        "_reused",
        "_time",
        "_timeout",
        "_timer",
        "_transport",
    )

    def __init__(self, origin: _Origin, loop: asyncio.AbstractEventLoop) -> None:
        self._origin = origin
        self._loop = loop
        self._time = loop.time
        self._transport: asyncio.Transport | None = None
        self._parser = HttpResponseParser(self)
        self._response: Response | None = None
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._closed = False
        self._in_pool = False
        self._reused = False
        self._idle_since = 0.0
        self._got_bytes = False
        self._framed = False
        self._keep_alive = False
        self._body_started = False
        self._paused = False
        self._timer: asyncio.TimerHandle | None = None
        self._timeout = 0.0
        self._first_byte_timeout = 0.0
        self._read_timeout = 0.0
        self._last = 0.0
        self._high_water = origin.client.high_water

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._origin.connections.add(self)

    def data_received(self, data: bytes) -> None:
        response = self._response
        if response is None:  # bytes nobody asked for: this connection cannot be trusted
            self._closed = True
            if self._transport is not None:
                self._transport.close()
            return
        self._got_bytes = True
        self._last = self._time()
        try:
            self._parser.feed_data(data)
        except HttpParserError as exc:
            if self._response is response:
                response._fail(ProtocolError(f"invalid HTTP response: {exc}"))
                self._end(reusable=False)
            else:  # garbage after a complete response
                self._closed = True
                if self._transport is not None:
                    self._transport.close()

    def eof_received(self) -> bool:
        return False  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._origin.connections.discard(self)
        if self._in_pool:
            self._origin.forget_idle(self)
            return
        response = self._response
        if response is None:
            return
        if response.status_code and not self._framed and exc is None:
            # A body delimited by the end of the connection: this is its normal end.
            response._complete = True
            response._wake()
            self._end(reusable=False)
            return
        if self._reused and not self._got_bytes:
            response._fail(_StaleConnection())
        elif exc is not None:
            response._fail(RemoteProtocolError(f"connection to the server lost: {exc}"))
        else:
            response._fail(
                RemoteProtocolError("the server closed the connection before the response ended")
            )
        self._end(reusable=False)

    # --- httptools callbacks ---

    def on_message_begin(self) -> None:
        if self._response is None:  # a second answer to one request: stop parsing
            raise ProtocolError("a response nobody asked for")
        self._raw_headers = []
        self._framed = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw_headers.append((name, value))
        lowered = name.lower()
        if lowered == b"content-length" or (
            lowered == b"transfer-encoding" and b"chunked" in value.lower()
        ):
            self._framed = True

    def on_headers_complete(self) -> None:
        response = self._response
        if response is None:
            return
        status = self._parser.get_status_code()
        if status < 200:  # an interim 1xx response: its headers are not the final ones
            return
        response.status_code = status
        response.headers = Headers(self._raw_headers)
        self._keep_alive = self._parser.should_keep_alive()
        if status == 204 or status == 304:
            self._framed = True
        response._wake()

    def on_body(self, body: bytes) -> None:
        response = self._response
        if response is None:
            return
        if not self._body_started:
            self._first_body_byte()
        response._chunks.append(body)
        response._buffered += len(body)
        if response._buffered > self._high_water and not self._paused:
            self._paused = True
            self._transport.pause_reading()  # type: ignore[union-attr]
        response._wake()

    def on_message_complete(self) -> None:
        response = self._response
        if response is None or not response.status_code:
            return  # the end of an interim 1xx response
        response._complete = True
        response._wake()
        self._end(reusable=self._keep_alive)

    # --- the request cycle ---

    def _first_body_byte(self) -> None:
        self._body_started = True
        if self._read_timeout != self._timeout:
            self._timeout = self._read_timeout
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_at(self._last + self._timeout, self._on_timer)

    async def send(
        self, data: bytes, response: Response, first_byte_timeout: float, read_timeout: float
    ) -> None:
        """Write a request and wait for its response's headers (or fail)."""
        transport = self._transport
        if self._closed or transport is None or transport.is_closing():
            self._response = response
            response._conn = self
            response._fail(
                _StaleConnection()
                if self._reused
                else RemoteProtocolError("the connection closed before the request was sent")
            )
            self._end(reusable=False)
            raise response._error  # type: ignore[misc]
        self._response = response
        response._conn = self
        self._got_bytes = False
        self._body_started = False
        self._first_byte_timeout = first_byte_timeout
        self._read_timeout = read_timeout
        self._timeout = first_byte_timeout
        self._last = self._time()
        self._timer = self._loop.call_at(self._last + first_byte_timeout, self._on_timer)
        transport.write(data)
        try:
            while not response.status_code:
                if response._error is not None:
                    raise response._error
                await response._wait()
        except BaseException:
            if response._conn is self:
                self._end(reusable=False)
            raise

    def _on_timer(self) -> None:
        self._timer = None
        response = self._response
        if response is None:
            return
        now = self._time()
        if self._paused:  # the consumer is behind, not the server: not a stall
            self._timer = self._loop.call_at(now + self._timeout, self._on_timer)
            return
        deadline = self._last + self._timeout
        if now >= deadline - 0.001:
            what = "between response bytes" if self._body_started else "for the first byte"
            message = f"no response from the server {what} for {self._timeout:g}s"
            response._fail(ReadTimeout(message))
            self._end(reusable=False)
        else:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _resume(self) -> None:
        self._paused = False
        self._last = self._time()
        if self._transport is not None and not self._closed:
            self._transport.resume_reading()

    def _end(self, reusable: bool) -> None:
        """The current response is over (complete, failed or abandoned): release the connection."""
        response = self._response
        if response is None:
            return
        self._response = None
        response._conn = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._paused:
            self._paused = False
            if reusable and not self._closed:
                self._transport.resume_reading()  # type: ignore[union-attr]
        self._origin.release(self, reusable and not self._closed)

    def close(self) -> None:
        self._closed = True
        if self._transport is not None:
            self._transport.close()


# --- the pool -------------------------------------------------------------------------------------


class _Origin:
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

    def __init__(self, client: Client, scheme: str, host: str, port: int, netloc: str) -> None:
        self.client = client
        self.host = host
        self.port = port
        self.host_header = netloc
        self.ssl: ssl_module.SSLContext | None = (
            ssl_module.create_default_context() if scheme == "https" else None
        )
        self.server_hostname = host if scheme == "https" else None
        self.idle: list[_Connection] = []
        self.connections: set[_Connection] = set()
        self.total = 0
        """Connections that exist or are being opened (idle + busy + connecting)."""
        self.waiters: deque[asyncio.Future[_Connection | None]] = deque()
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

    async def acquire(
        self, fresh: bool, connect_timeout: float, pool_timeout: float
    ) -> _Connection:
        client = self.client
        idle = self.idle
        if idle and not fresh:
            now = time.monotonic()
            conn = idle.pop()
            conn._in_pool = False
            if now - conn._idle_since < client.keepalive_expiry:
                conn._reused = True
                return conn
            # The freshest idle connection expired, so every older one did too.
            conn.close()
            self.total -= 1
            self._drop_all_idle()
        elif fresh and idle and self.total >= client.max_connections:
            oldest = idle.pop(0)
            oldest._in_pool = False
            oldest.close()
            self.total -= 1
        if self.total < client.max_connections:
            self.total += 1
            return await self._connect(connect_timeout)
        waiter: asyncio.Future[_Connection | None] = asyncio.get_running_loop().create_future()
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
        got._reused = True
        return got

    async def _connect(self, timeout: float) -> _Connection:
        """Open a connection in a slot already counted in ``total`` (freed again on failure)."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _transport, conn = await loop.create_connection(
                    lambda: _Connection(self, loop),
                    self.host,
                    self.port,
                    ssl=self.ssl,
                    server_hostname=self.server_hostname,
                )
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

    def release(self, conn: _Connection, reusable: bool) -> None:
        if reusable and not self.client.closed:
            waiters = self.waiters
            while waiters:
                waiter = waiters.popleft()
                if not waiter.done():
                    waiter.set_result(conn)
                    return
            conn._idle_since = now = time.monotonic()
            conn._in_pool = True
            idle = self.idle
            idle.append(conn)
            expiry = self.client.keepalive_expiry
            while len(idle) > 1 and now - idle[0]._idle_since >= expiry:
                oldest = idle.pop(0)
                oldest._in_pool = False
                oldest.close()
                self.total -= 1
            return
        conn.close()
        self._free_slot()

    def forget_idle(self, conn: _Connection) -> None:
        """An idle connection was closed by the server."""
        conn._in_pool = False
        try:
            self.idle.remove(conn)
        except ValueError:
            return
        self._free_slot()

    def _give_back(self, got: _Connection | None) -> None:
        if got is None:
            self._free_slot()
        else:
            self.release(got, reusable=not got._closed)

    def _free_slot(self) -> None:
        """A connection is gone: hand its slot to a waiter, or shrink the count."""
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.total -= 1

    def _drop_all_idle(self) -> None:
        for conn in self.idle:
            conn._in_pool = False
            conn.close()
            self.total -= 1
        self.idle.clear()

    def close(self) -> None:
        self._drop_all_idle()
        for conn in list(self.connections):
            conn.close()
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(PoolTimeout("the client was closed"))


# --- the client -----------------------------------------------------------------------------------


class Client:
    """Pooled HTTP/1.1 requests. ``stream`` leaves the body unread; ``request`` reads it."""

    def __init__(
        self,
        connect_timeout: float = 5.0,
        first_byte_timeout: float = 600.0,
        read_timeout: float | None = None,
        pool_timeout: float = 30.0,
        max_connections: int = 512,
        keepalive_expiry: float = 20.0,
        high_water: int = 1 << 20,
        low_water: int = 1 << 18,
        user_agent: str = "herd-router",
    ) -> None:
        self.connect_timeout = connect_timeout
        self.first_byte_timeout = first_byte_timeout
        self.read_timeout = first_byte_timeout if read_timeout is None else read_timeout
        self.pool_timeout = pool_timeout
        self.max_connections = max_connections
        self.keepalive_expiry = keepalive_expiry
        self.high_water = high_water
        self.low_water = min(low_water, high_water)
        self.common_headers = f"User-Agent: {user_agent}\r\n".encode()
        self.closed = False
        self._origins: dict[tuple[str, str], _Origin] = {}
        self._bases: dict[str, tuple[_Origin, str]] = {}

    def _base(self, base_url: str) -> tuple[_Origin, str]:
        """The pool for ``base_url`` (scheme://host[:port][/prefix]) and its path prefix."""
        base = self._bases.get(base_url)
        if base is None:
            parts = urlsplit(base_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"not an http(s) URL: {base_url!r}")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            netloc = parts.netloc.rpartition("@")[2]
            key = (parts.scheme, netloc.lower())
            origin = self._origins.get(key)
            if origin is None:
                origin = _Origin(self, parts.scheme, parts.hostname, port, netloc)
                self._origins[key] = origin
            if len(self._bases) > 4096:
                self._bases.clear()
            self._bases[base_url] = base = (origin, parts.path.rstrip("/"))
        return base

    async def stream(
        self,
        method: str,
        base_url: str,
        path: str,
        body: bytes = b"",
        headers: bytes = b"",
        timeout: float | None = None,
    ) -> Response:
        """Send a request and return once the response's headers arrived; the body is unread.

        ``headers`` are extra raw header lines (``b"Name: value\\r\\n"`` each); ``timeout``
        replaces every timeout of this request. Raises ``HTTPError`` subclasses.
        """
        if self.closed:
            raise ConnectError("the client is closed")
        if method == "HEAD":
            raise ValueError("HEAD is not supported")
        origin, prefix = self._base(base_url)
        head = origin.head(method, prefix + path if prefix else path, headers)
        if body or method not in ("GET", "DELETE", "OPTIONS"):
            data = b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)
        else:
            data = head + b"\r\n"
        if timeout is None:
            connect, pool = self.connect_timeout, self.pool_timeout
            first_byte, read = self.first_byte_timeout, self.read_timeout
        else:
            connect = pool = first_byte = read = timeout
        url = base_url + path
        fresh = False
        for _ in range(2):
            conn = await origin.acquire(fresh, connect, pool)
            response = Response(method, url, self.low_water)
            try:
                await conn.send(data, response, first_byte, read)
            except _StaleConnection:
                fresh = True  # the server had closed the pooled connection: once, on a new one
                continue
            return response
        raise RemoteProtocolError("the server closed a fresh connection before answering")

    async def request(
        self,
        method: str,
        base_url: str,
        path: str,
        body: bytes = b"",
        headers: bytes = b"",
        timeout: float | None = None,
    ) -> Response:
        """Send a request and read its whole body (``response.content``)."""
        response = await self.stream(method, base_url, path, body, headers, timeout)
        try:
            await response.aread()
        finally:
            response.close()
        return response

    def pool_stats(self, base_url: str) -> dict[str, int]:
        """Connections to ``base_url``: total (incl. connecting), idle, and requests waiting."""
        origin = self._base(base_url)[0]
        waiting = sum(1 for w in origin.waiters if not w.done())
        return {"total": origin.total, "idle": len(origin.idle), "waiting": waiting}

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self.closed = True
        for origin in self._origins.values():
            origin.close()
