"""An ASGI response that streams a routed answer and always closes it, even on disconnect.

Starlette's ``StreamingResponse`` leaves an abandoned body iterator to the garbage collector; a
router must instead close the upstream request at once when its client goes away, so the node
stops generating. This response pumps the body in the request's task while a watcher waits for
``http.disconnect`` and cancels the pump; ``on_close(disconnected)`` runs in every case.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.types import Receive, Scope, Send


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
