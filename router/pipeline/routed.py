"""An answer that has begun: its final headers, its first line, the rest as it streams.

Owns ``Routed``: what a front end renders (headers, the parsed answer or the NDJSON lines, a
failure after the first byte as one Ollama error line) and its end (``close``), which it reports
through the ``Finisher`` the pipeline handed it. When the node of an NDJSON stream fails after
the first byte and the pipeline handed it a ``Resume`` callback, the answer goes on where it
broke off, on the node that callback found (the rules are ``resumption``'s); the failed attempt
is then reported as ``retried``. Never chooses nodes or records traces itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from herd_contract.model_names import normalize
from router.http_client import HTTPError
from router.pipeline import resumption
from router.pipeline.attempt import Attempt, Finisher
from router.pipeline.framing import Framing
from router.pipeline.request import InferenceRequest
from router.traces import TraceRecord, TraceStatus

log = logging.getLogger("herd.dispatch")

Resume = Callable[[InferenceRequest, frozenset[str]], Awaitable["Routed | None"]]
"""The pipeline's way to go on with an answer: the continued request and the nodes to leave out
give the continuation once it has begun on another node, or None when none took it."""


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
        resume: Resume | None = None,
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
        self._resume = resume
        self._streamed: resumption.Streamed | None = None
        self._broken: str | None = None
        """Why the current node's stream broke off (before ``_go_on`` decides what follows)."""
        self._part_started = self._last_line_at = clock()
        """When the current node's first and latest lines came (how long its part streamed)."""

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

        A node failure after the first byte (the connection failed, the stream ended before its
        ``done`` line, or the reaper stopped it) goes on on another node when it may
        (``_go_on``), else ends the iteration with one Ollama error line (``{"error": ...}``) so
        every front end can render it in its own format; a failure the node itself reports is
        passed on as it came.
        """
        yield self.first
        if self._lines is None:
            return
        part: list[bytes] | None = [self.first] if self._resume is not None else None
        joiner: resumption.Joiner | None = None
        while True:
            async for line in self._stream(part, joiner):
                yield line
            failure, self._broken = self._broken, None
            if failure is None:
                return
            joiner = await self._go_on(failure, part) if part is not None else None
            if joiner is None:
                self.error = failure
                yield error_line(failure)
                return
            part = []

    async def _stream(
        self, part: list[bytes] | None, joiner: resumption.Joiner | None
    ) -> AsyncIterator[bytes]:
        """The current node's lines (through ``joiner`` when it continues the answer), kept in
        ``part`` when it may be resumed; a node failure is left in ``self._broken``."""
        assert self._lines is not None
        slot = self._attempt.slot
        clock = self._clock
        framing = self._framing
        is_error, is_done = framing.is_error, framing.is_done
        try:
            async for line in self._lines:
                now = clock()
                slot.touch(now)
                if part is not None:
                    self._last_line_at = now
                if is_error(line):
                    self.error = framing.error_text(line)
                    yield line
                    return
                if is_done(line):
                    self.final = framing.final(line)
                    # The node's slot is free once it sent its last line: the next request
                    # may start there while this one still reaches its client.
                    slot.release(ok=True)
                    if joiner is not None and self.final is not None:
                        line = joiner.done_line(self.final, self._elapsed_ns())
                elif joiner is not None:
                    joined = joiner.line(line)
                    if joined is None:
                        continue
                    line = joined
                if part is not None:
                    part.append(line)
                yield line
            if self.final is None:
                self._broken = "the node closed the stream before it was done"
        except asyncio.CancelledError:
            if not slot.reaped:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            self._broken = f"request stalled: no progress for {self._reaper_timeout_s:g}s"
            self.trace.reaped = True
        except HTTPError as exc:
            self._broken = f"the node failed mid-stream: {exc or type(exc).__name__}"

    def _elapsed_ns(self) -> int:
        return int((time.perf_counter() - self.request.started) * 1e9)

    async def _go_on(self, failure: str, part: list[bytes]) -> resumption.Joiner | None:
        """Continue the answer on another node after ``failure``; the joiner of the
        continuation's lines, or None (the stream ends with the error) when it may not or no
        node took it."""
        assert self._resume is not None
        kind = self.request.kind
        streamed = self._streamed or resumption.Streamed(kind)
        self._streamed = streamed
        tokens_before = streamed.tokens
        streamed.add_part(part, self._last_line_at - self._part_started)
        refusal = (
            resumption.request_refusal(kind, self.request.body)
            or streamed.refusal()
            or (
                f"resumed {resumption.MAX_RESUMES} times already"
                if len(self.trace.resumed_from) >= resumption.MAX_RESUMES
                else None
            )
        )
        failed = self._attempt.choice.node_id
        extra = {"request_id": self.request.request_id, "node_id": failed}
        if refusal is not None:
            log.info("%s on %s, not resumed: %s", failure, failed, refusal, extra=extra)
            return None
        self._attempt.slot.release(ok=False)
        if self._attempt.response is not None:
            await self._attempt.response.aclose()
            self._attempt.response = None
        continuation = await self._resume(self._continued(streamed), self._left_out())
        if continuation is None:
            log.info("%s on %s, no node took the rest", failure, failed, extra=extra)
            return None
        self.trace.completion_tokens = streamed.tokens - tokens_before
        self._adopt(continuation, failure)
        log.info(
            "%s on %s: the answer goes on on %s after %d tokens",
            failure,
            failed,
            continuation.node_id,
            streamed.tokens,
            extra=extra,
        )
        return resumption.Joiner(kind, streamed)

    def _continued(self, streamed: resumption.Streamed) -> InferenceRequest:
        """The request that continues this answer (same id, arrival and client)."""
        request = self.request
        _, body = resumption.continued_request(request.kind, request.body, streamed)
        if self.model != normalize(request.model):
            body["model"] = self.model  # a fallback served it: the rest comes from the same
        return dataclasses.replace(
            request, kind="chat", model=self.model, body=body, native=None, client_gone=None
        )

    def _left_out(self) -> frozenset[str]:
        return frozenset({*self.trace.resumed_from, self.node_id})

    def _adopt(self, continuation: Routed, failure: str) -> None:
        """Record the failed attempt as ``retried`` and go on with the continuation's node,
        trace and lines (its first line included)."""
        failed = self.trace
        failed.error_message = f"{failure}; the answer went on on {continuation.node_id}"
        failed.resumed_on = continuation.node_id
        self._finish("retried", None)
        trace = continuation.trace
        trace.kind = self.request.kind
        trace.original_model = failed.original_model
        trace.fallback_used, trace.fallback_reason = failed.fallback_used, failed.fallback_reason
        trace.time_to_first_token_ms = failed.time_to_first_token_ms
        trace.resumed_from = [*failed.resumed_from, failed.node_id or ""]
        self._attempt, self.trace, self._finish = (
            continuation._attempt,
            trace,
            continuation._finish,
        )
        self._part_started = self._last_line_at = continuation._part_started
        self._lines = _after(continuation.first, continuation._lines)
        self.final = None

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


async def _after(first: bytes, rest: AsyncIterator[bytes] | None) -> AsyncIterator[bytes]:
    yield first
    if rest is not None:
        async for line in rest:
            yield line


def error_line(message: str) -> bytes:
    return json.dumps({"error": message}).encode() + b"\n"
