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
from typing import Any, Literal, Protocol

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from .engine import BadRequest, Engine, SimError
from .faults import Fault
from .framing import JSON, NDJSON, SSE, Head, Item, dumps, line, sse
from .records import Recorder

log = logging.getLogger("herd.sim")

Handler = Callable[["Call"], AsyncIterator[Item]]
Dialect = Literal["ollama", "openai", "anthropic"]
"""Which API's error shape and stream framing a request gets."""


class Backing(Protocol):
    """What a call needs of the simulator serving it (``server.Simulator`` provides it)."""

    engine: Engine
    recorder: Recorder


class Drop(Exception):
    """Raised when the connection could not be aborted from inside (non-uvicorn servers)."""


@dataclass
class Call:
    """One request as a handler sees it."""

    sim: Backing
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
        self.head: Head | None = None
        self.started = False
        self.chunks = 0

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
        """The reply: a fault that answers instead of the handler, else the handler's items
        relayed with the fault applied, then the end of the body and the record's outcome."""
        if await self._fault_instead_of_reply(scope, send):
            return
        try:
            ended = await self._relay(scope, send)
        except SimError as exc:
            await self._fail(send, exc.status, exc.message)
            return
        except (asyncio.CancelledError, Drop):
            raise
        except Exception as exc:
            log.exception("simulator handler failed")
            if self.started:
                raise
            await self._fail_whole(send, 500, f"simulator error: {exc}")
            return
        finally:
            with contextlib.suppress(Exception):
                await self.producer.aclose()  # type: ignore[attr-defined]
        if not ended:
            await self._complete(send)

    async def _fault_instead_of_reply(self, scope: Scope, send: Send) -> bool:
        """Faults that act before the handler answers: an HTTP error, a dropped connection, a
        reply that never comes. True when one did."""
        fault = self.fault
        if fault is None:
            return False
        if fault.kind == "http_error":
            await self._fail_whole(send, fault.status, fault.message)
            return True
        if fault.kind == "drop_before_first_chunk":
            await self._drop(scope)
            return True
        if fault.kind == "hang":
            self.record["outcome"] = "hung"
            openai = self.call.openai
            wanted = self.call.body.get("stream")
            streaming = bool(wanted) if openai else wanted is not False
            media = (SSE if openai else NDJSON) if streaming else JSON
            await self._start(send, Head(200, media, streaming), None)
            await asyncio.Event().wait()  # until the client goes away and we are cancelled
            return True
        return False

    async def _relay(self, scope: Scope, send: Send) -> bool:
        """Send the handler's items on, applying the fault; True when the fault ended the reply."""
        fault = self.fault
        async for item in self.producer:
            if isinstance(item, Head):
                self.head = item
                continue
            assert self.head is not None, "a handler yields its Head first"
            if not self.started:
                if await self._fault_at_first_chunk(scope, send, self.head, item):
                    return True
                await self._start(send, self.head, None if self.head.streaming else len(item))
                self.started = True
            elif fault is not None and fault.kind == "slow" and fault.chunk_delay_s > 0:
                await asyncio.sleep(fault.chunk_delay_s)
            await self._body(send, item)
            self.chunks += 1
            self.record["chunks_sent"] = self.chunks
            if await self._fault_after_chunk(scope, send, self.head):
                return True
        return False

    async def _fault_at_first_chunk(
        self, scope: Scope, send: Send, head: Head, item: bytes
    ) -> bool:
        """A slow start, an error in place of the answer, or half an answer and a drop; True when
        the fault ended the reply."""
        fault = self.fault
        if fault is None:
            return False
        if fault.kind == "slow" and head.status < 400:
            await asyncio.sleep(max(fault.delay_s, 0.0))
        if fault.kind == "midstream_error" and head.status < 400:
            if not head.streaming:
                await self._fail_whole(send, fault.status, fault.message)
                return True
            if fault.after_chunks == 0:
                await self._start(send, head, None)
                await self._body(send, self._error_line(head, fault.message), False)
                self._finish_error(fault.message)
                return True
        if fault.kind == "drop_after_first_chunk" and not head.streaming:
            await self._start(send, head, len(item))
            await self._body(send, item[: max(len(item) // 2, 1)])
            self.record["chunks_sent"] = 1
            await self._drop(scope)
            return True
        return False

    async def _fault_after_chunk(self, scope: Scope, send: Send, head: Head) -> bool:
        """A drop after the first chunk, or an error line after ``after_chunks`` chunks."""
        fault = self.fault
        if fault is None:
            return False
        if fault.kind == "drop_after_first_chunk":
            await self._drop(scope)
            return True
        if fault.kind == "midstream_error" and head.streaming and self.chunks >= fault.after_chunks:
            await self._body(send, self._error_line(head, fault.message), False)
            self._finish_error(fault.message)
            return True
        return False

    async def _complete(self, send: Send) -> None:
        head = self.head or Head(200, JSON, False)
        if not self.started:
            await self._start(send, head, None if head.streaming else 0)
        await self._body(send, b"", more=False)
        self.finished = True
        self.recorder.finish(self.record, "error" if head.status >= 400 else "completed")

    async def _fail(self, send: Send, status: int, message: str) -> None:
        """A handler's error: a whole error reply before anything was sent, else an error line."""
        if not self.started or self.head is None:
            await self._fail_whole(send, status, message)
            return
        await self._body(send, self._error_line(self.head, message), False)
        self._finish_error(message)

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
