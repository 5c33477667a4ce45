"""A response whose headers arrived, and its body as the consumer reads it.

Owns ``Response``: status, headers, the chunks the connection appended and not yet consumed, the
wake-up of a consumer waiting for more, ``aiter_raw``/``aread`` (each step joins whatever arrived
and resumes a paused connection), the decoded views (``content``, ``text``, ``json()``) and
``aclose``, which, before the body's end, closes the connection.

Never reads from a socket and never parses HTTP: whatever reads them (the connection) feeds it
through its public feeding methods (``attach``, ``start``, ``feed``, ``finish``, ``fail``) and is
seen from here only as a ``BodySource``, the flow control this module declares.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Protocol

from .errors import HTTPError, ResponseClosed
from .headers import Headers


class BodySource(Protocol):
    """What feeds a response's body, as the response sees it: flow control and the end."""

    @property
    def paused(self) -> bool:
        """Reading is paused because the consumer is behind."""

    def resume(self) -> None:
        """The consumer caught up: read again."""

    def end(self, reusable: bool) -> None:
        """The consumer is done with the response (before its end: close the connection)."""


class HTTPStatusError(HTTPError):
    """``raise_for_status`` on a 4xx/5xx response."""

    def __init__(self, message: str, response: Response) -> None:
        super().__init__(message)
        self.response = response


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
        self._conn: BodySource | None = None
        self._content: bytes | None = None
        self._user_closed = False

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}] {self.method} {self.url}>"

    # --- fed by the connection (inside its protocol callbacks) ---

    def attach(self, source: BodySource | None) -> None:
        """``source`` now feeds this response (``None``: nothing does any more)."""
        self._conn = source

    def fed_by(self, source: BodySource) -> bool:
        return self._conn is source

    def start(self, status_code: int, headers: Headers) -> None:
        """The final response's headers arrived."""
        self.status_code = status_code
        self.headers = headers
        self._wake()

    def feed(self, chunk: bytes) -> int:
        """A body chunk arrived; the bytes now waiting for the consumer."""
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        self._wake()
        return self._buffered

    def finish(self) -> None:
        """The body is complete."""
        self._complete = True
        self._wake()

    def fail(self, error: BaseException) -> None:
        if self._error is None and not self._complete:
            self._error = error
        self._wake()

    @property
    def error(self) -> BaseException | None:
        return self._error

    async def wait(self) -> None:
        """Until something is fed (headers, a chunk, the end or a failure)."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        try:
            await waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # --- the body, for the consumer ---

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
                if conn is not None and conn.paused:
                    conn.resume()
                return chunk
            if self._error is not None:
                raise self._error
            if self._complete:
                raise StopAsyncIteration
            if self._user_closed:
                raise ResponseClosed("the response was closed")
            await self.wait()

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
            conn.end(reusable=False)
