"""The simulator's request/response machinery: ``Call`` (one request as a handler sees it) and
``Exchange``, the ASGI response that runs a handler under a disconnect watch with faults applied.

Every Ollama and OpenAI endpoint answers through ``Exchange``: when the client goes away
mid-generation (or while waiting for a slot or a load) the handler is cancelled at once, its slot
released, and the record's outcome becomes ``"cancelled"``. Headers go out with the first chunk, as
in Ollama, so errors met while queueing or loading still get a proper HTTP status. Typed engine
errors are translated here, once, to ``{"error": ...}`` or OpenAI's error object.

Owns fault execution and the per-request record's outcome. It must never decide reply content,
model physics or routes, and never logs per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from .engine import BadRequest, Engine, SimError
from .faults import Fault
from .framing import JSON, NDJSON, SSE, Head, Item, dumps, line, sse

if TYPE_CHECKING:
    from .server import Simulator

log = logging.getLogger("herd.sim")

Handler = Callable[["Call"], AsyncIterator[Item]]
Dialect = Literal["ollama", "openai", "anthropic"]
"""Which API's error shape and stream framing a request gets."""


class Drop(Exception):
    """Raised when the connection could not be aborted from inside (non-uvicorn servers)."""


@dataclass
class Call:
    """One request as a handler sees it."""

    sim: Simulator
    request: Request
    body: dict[str, Any]
    record: dict[str, Any]
    dialect: Dialect = "ollama"

    @property
    def openai(self) -> bool:
        """Whether the reply speaks SSE rather than NDJSON (the OpenAI and Anthropic APIs)."""
        return self.dialect != "ollama"

    @property
    def engine(self) -> Engine:
        return self.sim.engine


async def _abort_connection(scope: Scope) -> None:
    """Close the client's TCP connection abruptly (uvicorn's transport), or raise ``Drop``."""
    raw_send = scope.get("sim.raw_send")
    cycle = getattr(raw_send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise Drop("connection dropped by fault")
    transport.abort()
    for _ in range(50):
        if getattr(cycle, "disconnected", True):
            return
        await asyncio.sleep(0)


def _error_body(dialect: Dialect, status: int, message: str) -> dict[str, Any]:
    if dialect == "ollama":
        return {"error": message}
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
    if dialect == "anthropic":
        kind = "overloaded_error" if status == 503 else kind
        return {"type": "error", "error": {"type": kind, "message": message}}
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


class Exchange:
    """An ASGI response running ``producer`` under a disconnect watch, with faults applied."""

    def __init__(
        self,
        call: Call,
        producer: AsyncIterator[Item],
        fault: Fault | None,
    ) -> None:
        self.call = call
        self.producer = producer
        self.fault = fault
        self.record = call.record
        self.recorder = call.sim.recorder
        self.finished = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        run = asyncio.ensure_future(self._run(scope, send))
        watch = asyncio.ensure_future(self._watch(receive))
        try:
            await asyncio.wait({run, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not run.done():
                run.cancel()
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Drop):
                await run
            with contextlib.suppress(asyncio.CancelledError):
                await watch
        if not self.finished:
            self.record["client_gone"] = True
            self.recorder.finish(self.record, "cancelled")
        if run.done() and not run.cancelled() and isinstance(run.exception(), Drop):
            raise Drop("connection dropped by fault")

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    async def _start(self, send: Send, head: Head, length: int | None) -> None:
        headers = [(b"content-type", head.media_type.encode())]
        if length is not None:
            headers.append((b"content-length", str(length).encode()))
        await send({"type": "http.response.start", "status": head.status, "headers": headers})
        self.record["status"] = head.status

    async def _body(self, send: Send, data: bytes, more: bool = True) -> None:
        await send({"type": "http.response.body", "body": data, "more_body": more})

    async def _drop(self, scope: Scope) -> None:
        self.finished = True
        self.recorder.finish(self.record, "dropped")
        await _abort_connection(scope)

    def _error_line(self, head: Head, message: str) -> bytes:
        if head.media_type == SSE and self.call.dialect == "anthropic":
            return b"event: error\n" + sse(_error_body("anthropic", 500, message))
        if head.media_type == SSE:
            return sse(_error_body("openai", 500, message))
        return line({"error": message})

    async def _run(self, scope: Scope, send: Send) -> None:
        fault = self.fault
        kind = fault.kind if fault else None
        openai = self.call.openai
        if fault is not None and kind == "http_error":
            body = dumps(_error_body(self.call.dialect, fault.status, fault.message))
            await self._start(send, Head(fault.status, JSON, False), len(body))
            await self._body(send, body, more=False)
            self.finished = True
            self.recorder.finish(self.record, "error", fault.message)
            return
        if kind == "drop_before_first_chunk":
            await self._drop(scope)
            return
        if kind == "hang":
            self.record["outcome"] = "hung"
            wanted = self.call.body.get("stream")
            streaming = bool(wanted) if openai else wanted is not False
            media = (SSE if openai else NDJSON) if streaming else JSON
            await self._start(send, Head(200, media, streaming), None)
            await asyncio.Event().wait()  # until the client goes away and we are cancelled
            return
        head: Head | None = None
        started = False
        chunks = 0
        try:
            async for item in self.producer:
                if isinstance(item, Head):
                    head = item
                    continue
                assert head is not None, "a handler yields its Head first"
                if not started:
                    if kind == "slow" and fault is not None and head.status < 400:
                        await asyncio.sleep(max(fault.delay_s, 0.0))
                    if kind == "midstream_error" and fault is not None and head.status < 400:
                        if not head.streaming:
                            await self._fail_whole(send, fault.status, fault.message)
                            return
                        if fault.after_chunks == 0:
                            await self._start(send, head, None)
                            await self._body(send, self._error_line(head, fault.message), False)
                            self._finish_error(fault.message)
                            return
                    if kind == "drop_after_first_chunk" and not head.streaming:
                        await self._start(send, head, len(item))
                        await self._body(send, item[: max(len(item) // 2, 1)])
                        self.record["chunks_sent"] = 1
                        await self._drop(scope)
                        return
                    await self._start(send, head, None if head.streaming else len(item))
                    started = True
                elif kind == "slow" and fault is not None and fault.chunk_delay_s > 0:
                    await asyncio.sleep(fault.chunk_delay_s)
                await self._body(send, item)
                chunks += 1
                self.record["chunks_sent"] = chunks
                if kind == "drop_after_first_chunk":
                    await self._drop(scope)
                    return
                if (
                    kind == "midstream_error"
                    and fault is not None
                    and head.streaming
                    and chunks >= fault.after_chunks
                ):
                    await self._body(send, self._error_line(head, fault.message), False)
                    self._finish_error(fault.message)
                    return
        except SimError as exc:
            if not started:
                await self._fail_whole(send, exc.status, exc.message)
            else:
                assert head is not None
                await self._body(send, self._error_line(head, exc.message), False)
                self._finish_error(exc.message)
            return
        except (asyncio.CancelledError, Drop):
            raise
        except Exception as exc:
            log.exception("simulator handler failed")
            if not started:
                await self._fail_whole(send, 500, f"simulator error: {exc}")
                return
            raise
        finally:
            with contextlib.suppress(Exception):
                await self.producer.aclose()  # type: ignore[attr-defined]
        if not started:
            head = head or Head(200, JSON, False)
            await self._start(send, head, None if head.streaming else 0)
        await self._body(send, b"", more=False)
        self.finished = True
        assert head is not None
        if head.status >= 400:
            self.recorder.finish(self.record, "error")
        else:
            self.recorder.finish(self.record, "completed")

    async def _fail_whole(self, send: Send, status: int, message: str) -> None:
        body = dumps(_error_body(self.call.dialect, status, message))
        await self._start(send, Head(status, JSON, False), len(body))
        await self._body(send, body, more=False)
        self._finish_error(message)

    def _finish_error(self, message: str) -> None:
        self.finished = True
        self.recorder.finish(self.record, "error", message)


def model_field(body: dict[str, Any]) -> str:
    model = body.get("model") or body.get("name")
    if not isinstance(model, str) or not model.strip():
        raise BadRequest("model is required")
    return model


async def refuse(problem: SimError) -> AsyncIterator[Item]:
    raise problem
    yield  # pragma: no cover - makes this an async generator
