"""An answer that has begun: its final headers, its first line, the rest as it streams.

Owns ``Routed``: what a front end renders (headers, the parsed answer or the NDJSON lines, a
failure after the first byte as one Ollama error line) and its end (``close``), which it reports
through the ``Finisher`` the pipeline handed it. Never chooses nodes or records traces itself.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from router.http_client import HTTPError
from router.pipeline.attempt import Attempt, Finisher
from router.pipeline.framing import Framing
from router.pipeline.request import InferenceRequest
from router.traces import TraceRecord, TraceStatus


class Routed:
    """An answer that has begun. Headers are final; the body is complete or still streaming."""

    def __init__(
        self,
        request: InferenceRequest,
        attempt: Attempt,
        trace: TraceRecord,
        first: bytes,
        lines: AsyncIterator[bytes] | None,
        *,
        framing: Framing,
        finish: Finisher,
        clock: Callable[[], float],
        reaper_timeout_s: float,
    ) -> None:
        self.request = request
        self._attempt = attempt
        self.trace = trace
        self.first = first
        self._lines = lines
        self._framing = framing
        self._finish = finish
        self._clock = clock
        self._reaper_timeout_s = reaper_timeout_s
        self.final: dict[str, Any] | None = None
        self.error: str | None = None
        self._closed = False

    @property
    def node_id(self) -> str:
        return self._attempt.choice.node_id

    @property
    def model(self) -> str:
        return self._attempt.model

    @property
    def native(self) -> bool:
        """Whether the node's own compatibility endpoint answered: the body is already in the
        client's format (SSE events or one JSON object) and passes through."""
        return self._framing.native

    @property
    def complete(self) -> bool:
        return self._lines is None

    def headers(self) -> dict[str, str]:
        headers = {
            "X-Fleet-Node": self.node_id,
            "X-Fleet-Score": f"{self._attempt.choice.estimate_s:.2f}",
            "X-Fleet-Retries": str(self.trace.retry_count),
            "X-Request-Id": self.request.request_id,
        }
        if self.trace.fallback_used:
            headers["X-Fleet-Fallback"] = self.model
        return headers

    def json(self) -> Any:
        """The complete non-streaming answer, parsed."""
        return json.loads(self.first)

    async def lines(self) -> AsyncIterator[bytes]:
        """Every chunk of the answer (NDJSON lines, or a native answer's SSE events): the first,
        then the rest as they arrive.

        A node failure after the first byte ends the iteration with one Ollama error line
        (``{"error": ...}``) so every front end can render it in its own format; a failure the
        node itself reports is passed on as it came.
        """
        yield self.first
        if self._lines is None:
            return
        slot = self._attempt.slot
        clock = self._clock
        framing = self._framing
        is_error, is_done = framing.is_error, framing.is_done
        try:
            async for line in self._lines:
                slot.touch(clock())
                if is_error(line):
                    self.error = framing.error_text(line)
                    yield line
                    return
                if is_done(line):
                    self.final = framing.final(line)
                    # The node's slot is free once it sent its last line: the next request
                    # may start there while this one still reaches its client.
                    slot.release(ok=True)
                yield line
            if self.final is None:
                self.error = "the node closed the stream before it was done"
                yield error_line(self.error)
        except asyncio.CancelledError:
            if not slot.reaped:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            self.error = f"request stalled: no progress for {self._reaper_timeout_s:g}s"
            self.trace.reaped = True
            yield error_line(self.error)
        except HTTPError as exc:
            self.error = f"the node failed mid-stream: {exc or type(exc).__name__}"
            yield error_line(self.error)

    async def close(self, disconnected: bool = False) -> None:
        """Release the slot and record the trace (through the finisher); idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._attempt.response is not None:
            await self._attempt.response.aclose()
        if disconnected and self.final is None and self.error is None:
            status: TraceStatus = "client_disconnected"
        elif self.error is not None:
            status = "failed" if self.trace.reaped else "incomplete"
            self.trace.error_message = self.error
        else:
            status = "completed"
        self._finish(status, self.final)


def error_line(message: str) -> bytes:
    return json.dumps({"error": message}).encode() + b"\n"
