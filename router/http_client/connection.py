"""One keep-alive TCP connection: an ``asyncio.Protocol`` whose bytes ``httptools`` parses.

Owns ``Connection``: writing a request and waiting for its response's headers (``send``), the
llhttp callbacks that fill the ``Response`` (headers, body chunks, completion), backpressure
(reading pauses once ``high_water`` bytes wait unconsumed and resumes when the consumer catches
up), the first-byte and between-bytes timeouts (one timer, re-armed lazily; a paused read is the
consumer's delay, never a stall), and how the connection ends: reusable only when the response
was completely received and the server allowed keep-alive. A reused connection found closed
before any response byte fails with ``StaleConnection``, so the client may send once more.

Never opens connections or decides which to use (the pool does), and never retries. It sees its
pool only as a ``ConnectionOwner``, the interface this module declares and the pool implements.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from httptools import HttpParserError, HttpResponseParser

from .errors import ProtocolError, ReadTimeout, RemoteProtocolError, StaleConnection
from .headers import Headers
from .response import Response


class ConnectionOwner(Protocol):
    """What a connection tells the pool it belongs to."""

    def opened(self, conn: Connection) -> None:
        """The TCP connection is up."""

    def lost(self, conn: Connection) -> None:
        """The TCP connection is gone (closed by either side)."""

    def release(self, conn: Connection, reusable: bool) -> None:
        """The current response is over; ``reusable``: the connection may serve another."""


class Connection(asyncio.Protocol):
    """One TCP connection and its parser; serves one response at a time."""

    __slots__ = (
        "_body_started",
        "_first_byte_timeout",
        "_framed",
        "_got_bytes",
        "_high_water",
        "_keep_alive",
        "_last",
        "_loop",
        "_owner",
        "_parser",
        "_paused",
        "_raw_headers",
        "_read_timeout",
        "_response",
        "_time",
        "_timeout",
        "_timer",
        "_transport",
        "closed",
        "idle_since",
        "in_pool",
        "reused",
    )

    def __init__(
        self, owner: ConnectionOwner, loop: asyncio.AbstractEventLoop, high_water: int
    ) -> None:
        self._owner = owner
        self._loop = loop
        self._time = loop.time
        self._transport: asyncio.Transport | None = None
        self._parser = HttpResponseParser(self)
        self._response: Response | None = None
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self.closed = False
        self.in_pool = False
        """Idle in its pool (the pool sets and clears it)."""
        self.reused = False
        """Served an earlier response (the pool sets it when handing it out again)."""
        self.idle_since = 0.0
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
        self._high_water = high_water

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._owner.opened(self)

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
                response.fail(ProtocolError(f"invalid HTTP response: {exc}"))
                self._end(reusable=False)
            else:  # garbage after a complete response
                self.close()

    def eof_received(self) -> bool:
        return False  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        was_idle = self.in_pool
        self._owner.lost(self)
        if was_idle:
            return
        response = self._response
        if response is None:
            return
        if response.status_code and not self._framed and exc is None:
            # A body delimited by the end of the connection: this is its normal end.
            response.finish()
            self._end(reusable=False)
            return
        if self.reused and not self._got_bytes:
            response.fail(StaleConnection())
        elif exc is not None:
            response.fail(RemoteProtocolError(f"connection to the server lost: {exc}"))
        else:
            response.fail(
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
        self._keep_alive = self._parser.should_keep_alive()
        if status == 204 or status == 304:
            self._framed = True
        response.start(status, Headers(self._raw_headers))

    def on_body(self, body: bytes) -> None:
        response = self._response
        if response is None:
            return
        if not self._body_started:
            self._first_body_byte()
        if response.feed(body) > self._high_water and not self._paused:
            self._paused = True
            self._transport.pause_reading()  # type: ignore[union-attr]

    def on_message_complete(self) -> None:
        response = self._response
        if response is None or not response.status_code:
            return  # the end of an interim 1xx response
        response.finish()
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
        response.attach(self)
        if self.closed or transport is None or transport.is_closing():
            error = (
                StaleConnection()
                if self.reused
                else RemoteProtocolError("the connection closed before the request was sent")
            )
            response.fail(error)
            self._end(reusable=False)
            raise error
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
                if response.error is not None:
                    raise response.error
                await response.wait()
        except BaseException:
            if response.fed_by(self):
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
            response.fail(ReadTimeout(message))
            self._end(reusable=False)
        else:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    # --- the response's BodySource ---

    @property
    def paused(self) -> bool:
        return self._paused

    def resume(self) -> None:
        self._paused = False
        self._last = self._time()
        if self._transport is not None and not self.closed:
            self._transport.resume_reading()

    def end(self, reusable: bool) -> None:
        self._end(reusable)

    def _end(self, reusable: bool) -> None:
        """The current response is over (complete, failed or abandoned): release the connection."""
        response = self._response
        if response is None:
            return
        self._response = None
        response.attach(None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._paused:
            self._paused = False
            if reusable and not self.closed:
                self._transport.resume_reading()  # type: ignore[union-attr]
        self._owner.release(self, reusable and not self.closed)

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()
