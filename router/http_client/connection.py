"""One keep-alive TCP connection: an ``asyncio.Protocol`` whose bytes ``httptools`` parses.

Owns ``_Connection``: writing a request and waiting for its response's headers (``send``), the
llhttp callbacks that fill the ``Response`` (headers, body chunks, completion), backpressure
(reading pauses once ``high_water`` bytes wait unconsumed and resumes when the consumer catches
up), the first-byte and between-bytes timeouts (one timer, re-armed lazily; a paused read is the
consumer's delay, never a stall), and how the connection ends: reusable only when the response
was completely received and the server allowed keep-alive. A reused connection found closed
before any response byte fails with ``_StaleConnection``, so the client may send once more.

Never opens connections or decides which to use (the pool does), and never retries.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from httptools import HttpParserError, HttpResponseParser

from .errors import ProtocolError, ReadTimeout, RemoteProtocolError, _StaleConnection
from .headers import Headers

if TYPE_CHECKING:
    from .pool import _Origin
    from .response import Response


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
            self.close()
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
                self.close()

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
        self._response = response
        response._conn = self
        if self._closed or transport is None or transport.is_closing():
            response._fail(
                _StaleConnection()
                if self._reused
                else RemoteProtocolError("the connection closed before the request was sent")
            )
            self._end(reusable=False)
            raise response._error  # type: ignore[misc]
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
