"""An ASGI response that streams a routed answer and always closes it, even on disconnect.

Starlette's ``StreamingResponse`` leaves an abandoned body iterator to the garbage collector; a
router must instead close the upstream request at once when its client goes away, so the node
stops generating. This response pumps the body in the request's task while a watcher waits for
``http.disconnect`` and cancels the pump; ``on_close(disconnected)`` runs in every case.

Also the two bodies such a response streams for a client API other than Ollama's: ``translated``
(Ollama's lines through a stream translator) and ``passed_through`` (a node's own compatibility
events, with a failure the router noticed rendered by the front end).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from starlette.types import Receive, Scope, Send

from router.pipeline.routed import Routed
from router.upstream import is_error_line


class StreamTranslator(Protocol):
    """What every ``router.translate`` stream translator offers."""

    @property
    def failed(self) -> bool: ...

    def feed_line(self, line: bytes | str) -> bytes: ...

    def finish(self) -> bytes: ...


async def translated(routed: Routed, translator: StreamTranslator) -> AsyncIterator[bytes]:
    """Ollama's lines as the client's events; an upstream error ends the stream."""
    async for line in routed.lines():
        events = translator.feed_line(line)
        if events:
            yield events
        if translator.failed:
            return
    tail = translator.finish()
    if tail:
        yield tail


async def passed_through(routed: Routed, failure: Callable[[str], bytes]) -> AsyncIterator[bytes]:
    """A node's own events as they came; a failure the router noticed (an Ollama error line
    from the pipeline) ends the stream with ``failure(message)``."""
    async for event in routed.lines():
        if is_error_line(event):
            yield failure(routed.error or "the node failed mid-stream")
            return
        yield event


class RoutedStream:
    def __init__(
        self,
        body: AsyncIterator[bytes],
        on_close: Callable[[bool], Awaitable[None]],
        media_type: str,
        headers: dict[str, str],
        status: int = 200,
    ) -> None:
        self.body = body
        self.on_close = on_close
        self.status = status
        raw = [(b"content-type", media_type.encode())]
        raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        if media_type == "text/event-stream":
            raw += [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
        self.raw_headers = raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pump = asyncio.current_task()
        assert pump is not None
        disconnected = False

        async def watch() -> None:
            nonlocal disconnected
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    disconnected = True
                    pump.cancel()
                    return

        watcher = asyncio.create_task(watch())
        try:
            await send(
                {"type": "http.response.start", "status": self.status, "headers": self.raw_headers}
            )
            async for chunk in self.body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not disconnected:
                raise
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
        except OSError:
            disconnected = True  # the server noticed the client was gone while writing
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await self.on_close(disconnected)
