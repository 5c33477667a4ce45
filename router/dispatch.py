"""The one pipeline every front end uses: choose a node, take a slot, forward, stream, record.

A front end hands in an ``InferenceRequest`` (already in Ollama's native shape, router-only fields
removed) and gets back a ``Routed`` answer whose headers are final: retries on other nodes, model
fallbacks, VRAM fallback and auto-pull all happen before the first byte reaches the client. After
that, a failure ends the stream with an error and the trace says ``incomplete``. The pipeline
never parses client formats (front ends translate) and never renders HTTP errors (it raises typed
``HerdError``s).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from router.candidates import Choice, Ranker, Ranking
from router.config import RuntimeToggles
from router.context import RouterContext
from router.errors import HerdError, NoCapacity, NotFound, UpstreamFailure
from router.http_client import HTTPError, Response
from router.model_names import normalize
from router.pulls import PullCoordinator
from router.queues import QueueFull, Slot
from router.traces import RequestKind, TraceRecord, TraceStatus
from router.upstream import AttemptFailed, Upstream, is_done_line, is_error_line, iter_lines

log = logging.getLogger("herd.dispatch")
request_log = logging.getLogger("herd.requests")
"""One JSON line per attempt in herd.jsonl (never on the console: it is the hot path)."""

UPSTREAM_PATHS: dict[str, str] = {
    "chat": "/api/chat",
    "generate": "/api/generate",
    "embed": "/api/embed",
    "embeddings": "/api/embeddings",
}


@dataclass(slots=True)
class InferenceRequest:
    kind: RequestKind
    model: str
    body: dict[str, Any]
    stream: bool
    api: Literal["ollama", "openai"] = "ollama"
    tags: list[str] = field(default_factory=list)
    fallback_models: list[str] = field(default_factory=list)
    client_ip: str | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    received_at: float = field(default_factory=time.time)
    started: float = field(default_factory=time.perf_counter)


@dataclass(slots=True)
class Attempt:
    choice: Choice
    model: str
    slot: Slot
    started: float
    """``perf_counter`` when the request arrived at the router."""
    response: Response | None = None


class Routed:
    """An answer that has begun. Headers are final; the body is complete or still streaming."""

    def __init__(
        self,
        pipeline: Pipeline,
        request: InferenceRequest,
        attempt: Attempt,
        trace: TraceRecord,
        first: bytes,
        lines: AsyncIterator[bytes] | None,
    ) -> None:
        self._pipeline = pipeline
        self.request = request
        self._attempt = attempt
        self.trace = trace
        self.first = first
        self._lines = lines
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
    def complete(self) -> bool:
        return self._lines is None

    def headers(self) -> dict[str, str]:
        headers = {
            "X-Fleet-Node": self.node_id,
            "X-Fleet-Score": f"{self._attempt.choice.score:.2f}",
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
        """Every NDJSON line of the answer: the first, then the rest as they arrive.

        A node failure after the first byte ends the iteration with one Ollama error line
        (``{"error": ...}``) so every front end can render it in its own format.
        """
        yield self.first
        if self._lines is None:
            return
        slot = self._attempt.slot
        clock = self._pipeline.ctx.clock
        try:
            async for line in self._lines:
                slot.touch(clock())
                if is_error_line(line):
                    self.error = _error_text(line)
                    yield line
                    return
                if is_done_line(line):
                    self.final = _parse(line)
                yield line
            if self.final is None:
                self.error = "the node closed the stream before it was done"
                yield _error_line(self.error)
        except asyncio.CancelledError:
            if not slot.reaped:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            self.error = (
                f"request stalled: no progress for {self._pipeline.toggles.reaper_timeout_s:g}s"
            )
            self.trace.reaped = True
            yield _error_line(self.error)
        except HTTPError as exc:
            self.error = f"the node failed mid-stream: {exc or type(exc).__name__}"
            yield _error_line(self.error)

    async def close(self, disconnected: bool = False) -> None:
        """Release the slot and record the trace; idempotent."""
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
        self._pipeline._finish(self._attempt, self.trace, status, self.final)


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _error_text(line: bytes) -> str:
    data = _parse(line) or {}
    return str(data.get("error", "the node reported an error"))


def _error_line(message: str) -> bytes:
    return json.dumps({"error": message}).encode() + b"\n"


class Pipeline:
    def __init__(self, ctx: RouterContext, upstream: Upstream, ranker: Ranker) -> None:
        self.ctx = ctx
        self.upstream = upstream
        self.ranker = ranker
        self.pulls = PullCoordinator(ctx, upstream, ranker)
        self.on_trace: list[Callable[[TraceRecord], None]] = []

    @property
    def toggles(self) -> RuntimeToggles:
        return self.ctx.settings.toggles

    # --- entry points -------------------------------------------------------------------------

    async def open(self, request: InferenceRequest) -> Routed:
        """Route ``request`` and return once the answer has begun (or raise a ``HerdError``)."""
        try:
            return await self._open(request)
        except HerdError as exc:
            if not exc.traced:
                self.record_rejection(
                    request.request_id,
                    request.model,
                    request.kind,
                    request.api,
                    exc,
                    request.client_ip,
                    request.tags,
                )
            raise

    async def _open(self, request: InferenceRequest) -> Routed:
        primary = normalize(request.model)
        wanted = [primary] + [normalize(m) for m in request.fallback_models if m.strip()]
        retries = 0
        last_failure: AttemptFailed | None = None
        unknown: list[str] = []
        for position, model in enumerate(wanted):
            excluded: set[str] = set()
            pulled = False
            while retries <= self.toggles.max_retries:
                ranking = self.ranker.rank(model, request, excluded)
                if position == 0 and self.toggles.vram_fallback and not ranking.any_hot:
                    substitute = self.ranker.vram_substitute(model, request, ranking)
                    if substitute is not None:
                        stand_in, stand_in_ranking = substitute
                        result = await self._try_ranked(
                            request, stand_in, stand_in_ranking, retries, primary, "vram_fallback"
                        )
                        if isinstance(result, Routed):
                            return result
                        last_failure = result[1]
                        retries += 1
                if not ranking.choices and ranking.blocked:
                    # Busy models hold the memory it needs: wait on that node as Ollama would,
                    # rather than refusing (its queue and the reaper still bound the wait).
                    ranking.choices = ranking.blocked[:1]
                if not ranking.choices:
                    if not ranking.known_anywhere and self.toggles.auto_pull and not pulled:
                        pulled = True
                        if await self.pulls.ensure(model, request):
                            continue
                    if not ranking.known_anywhere:
                        unknown.append(model)
                    break
                reason = "fallback_models" if position > 0 else None
                result = await self._try_ranked(request, model, ranking, retries, primary, reason)
                if isinstance(result, Routed):
                    return result
                failed_node, failure = result
                last_failure = failure
                excluded.add(failed_node)
                retries += 1
                if not failure.retryable:
                    error = UpstreamFailure(failure.message, status=failure.status or 502)
                    error.traced = True  # the failed attempt's trace says it
                    raise error
        raise self._rejection(request, primary, wanted, unknown, last_failure, retries)

    async def _try_ranked(
        self,
        request: InferenceRequest,
        model: str,
        ranking: Ranking,
        retries: int,
        original: str,
        fallback_reason: str | None,
    ) -> Routed | tuple[str, AttemptFailed]:
        attempt = await self._take_slot(ranking.choices, model, request.started)
        trace = self._new_trace(request, attempt, original, retries, fallback_reason)
        try:
            return await self._forward(request, attempt, trace)
        except AttemptFailed as failure:
            return self._attempt_failed(request, attempt, trace, failure)
        except asyncio.CancelledError:
            if not attempt.slot.reaped:
                await self._abandon(attempt)
                raise
            # The zombie reaper stopped an attempt that made no progress before its first byte:
            # nothing reached the client yet, so it is a failure like a timeout, and retryable.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            await self._abandon(attempt)
            trace.reaped = True
            stalled = AttemptFailed(
                f"no answer from the node for {self.toggles.reaper_timeout_s:g}s (reaped)",
                retryable=True,
                kind="timeout",
            )
            return self._attempt_failed(request, attempt, trace, stalled)
        except BaseException:
            await self._abandon(attempt)
            raise

    async def _abandon(self, attempt: Attempt) -> None:
        attempt.slot.release(ok=False)
        if attempt.response is not None:
            await attempt.response.aclose()
            attempt.response = None

    def _attempt_failed(
        self,
        request: InferenceRequest,
        attempt: Attempt,
        trace: TraceRecord,
        failure: AttemptFailed,
    ) -> tuple[str, AttemptFailed]:
        attempt.slot.release(ok=False)
        trace.status = "retried" if failure.retryable else "failed"
        trace.error_message = failure.message
        trace.http_status = failure.status
        trace.latency_ms = round((time.perf_counter() - request.started) * 1000, 3)
        self._record(trace)
        log.info(
            "attempt on %s failed: %s",
            attempt.choice.node_id,
            failure.message,
            extra={"request_id": request.request_id, "node_id": attempt.choice.node_id},
        )
        return attempt.choice.node_id, failure

    async def _take_slot(self, choices: list[Choice], model: str, started: float) -> Attempt:
        """A slot on the best candidate whose queue has room; 503 when every queue is full."""
        for choice in choices:
            queue = self.ctx.queues.queue(choice.node_id, model, choice.concurrency)
            try:
                slot = await queue.acquire()
            except QueueFull:
                continue
            return Attempt(choice=choice, model=model, slot=slot, started=started)
        raise NoCapacity(f"every queue for {model} is full; try again shortly", retry_after_s=2)

    def _new_trace(
        self,
        request: InferenceRequest,
        attempt: Attempt,
        original: str,
        retries: int,
        fallback_reason: str | None,
    ) -> TraceRecord:
        choice = attempt.choice
        return TraceRecord(
            request_id=request.request_id,
            model=attempt.model,
            original_model=original,
            node_id=choice.node_id,
            status="completed",
            timestamp=request.received_at,
            kind=request.kind,
            api=request.api,
            stream=request.stream,
            score=round(choice.score, 4),
            scores_breakdown={k: round(v, 4) for k, v in choice.breakdown.items()},
            retry_count=retries,
            fallback_used=attempt.model != original,
            fallback_reason=fallback_reason if attempt.model != original else None,
            cold_load=not choice.hot,
            tags=list(request.tags),
            client_ip=request.client_ip,
        )

    async def _forward(
        self, request: InferenceRequest, attempt: Attempt, trace: TraceRecord
    ) -> Routed:
        body = dict(request.body)
        body["model"] = (
            attempt.model
            if attempt.model != normalize(request.model)
            else body.get("model", attempt.model)
        )
        if self.toggles.context_protection and self._protect_context(body, attempt.choice):
            trace.context_protected = True
        task = asyncio.current_task()
        attempt.slot.on_reap = task.cancel if task is not None else None
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        path = UPSTREAM_PATHS[request.kind]
        response = await self.upstream.open(attempt.choice.ollama_url, path, payload)
        attempt.response = response
        streaming = request.stream and request.kind in ("chat", "generate")
        if not streaming:
            try:
                raw = await response.aread()
            except HTTPError as exc:
                raise AttemptFailed(
                    f"node failed while answering: {exc}", True, kind="dropped"
                ) from None
            finally:
                await response.aclose()
            attempt.response = None
            trace.time_to_first_token_ms = (time.perf_counter() - request.started) * 1000
            parsed = _parse(raw.strip()) if raw.strip() else None
            if parsed is None or "error" in parsed:
                message = str((parsed or {}).get("error", "the node sent an empty answer"))
                raise AttemptFailed(message, retryable=True, status=502, kind="stream_error")
            routed = Routed(self, request, attempt, trace, raw, None)
            routed.final = parsed
            self._finish(attempt, trace, "completed", parsed)
            routed._closed = True
            return routed
        lines = iter_lines(response)
        try:
            first = await anext(lines)
        except StopAsyncIteration:
            raise AttemptFailed(
                "the node closed the stream without answering", True, kind="dropped"
            ) from None
        except HTTPError as exc:
            raise AttemptFailed(
                f"node failed before answering: {exc}", True, kind="dropped"
            ) from None
        if is_error_line(first):
            raise AttemptFailed(_error_text(first), retryable=True, status=502, kind="stream_error")
        trace.time_to_first_token_ms = (time.perf_counter() - request.started) * 1000
        attempt.slot.touch(self.ctx.clock())
        routed = Routed(self, request, attempt, trace, first, lines)
        if is_done_line(first):
            routed.final = _parse(first)
        return routed

    def _protect_context(self, body: dict[str, Any], choice: Choice) -> bool:
        """Drop a ``num_ctx`` that would only force a reload of a big-enough loaded model."""
        options = body.get("options")
        if not isinstance(options, dict) or "num_ctx" not in options:
            return False
        loaded_ctx = choice.loaded_context
        wanted = options.get("num_ctx")
        if not loaded_ctx or not isinstance(wanted, int) or wanted == loaded_ctx:
            return False
        if wanted < loaded_ctx:
            body["options"] = {k: v for k, v in options.items() if k != "num_ctx"}
            return True
        return False

    # --- bookkeeping --------------------------------------------------------------------------

    def _finish(
        self,
        attempt: Attempt,
        trace: TraceRecord,
        status: TraceStatus,
        final: dict[str, Any] | None,
    ) -> None:
        ok = status == "completed"
        attempt.slot.release(ok=ok)
        trace.status = status
        trace.latency_ms = round((time.perf_counter() - attempt.started) * 1000, 3)
        if final:
            trace.prompt_tokens = _int(final.get("prompt_eval_count"))
            trace.completion_tokens = _int(final.get("eval_count"))
            trace.eval_duration_ns = _int(final.get("eval_duration"))
            trace.load_duration_ns = _int(final.get("load_duration"))
        if ok:
            tokens_per_s = trace.tokens_per_second
            self.ranker.observe(
                attempt.choice.node_id,
                attempt.model,
                trace.latency_ms,
                trace.time_to_first_token_ms,
                tokens_per_s,
            )
            if trace.kind in ("chat", "generate"):
                self.ranker.remember_session(attempt.choice.session_key, attempt.choice.node_id)
        self._record(trace)

    def _record(self, trace: TraceRecord) -> None:
        if self.ctx.store is not None:
            self.ctx.store.record(trace)
        if request_log.isEnabledFor(logging.INFO):
            request_log.info(
                "%s %s %s",
                trace.status,
                trace.model,
                trace.node_id or "-",
                extra={
                    "request_id": trace.request_id,
                    "model": trace.model,
                    "node_id": trace.node_id,
                    "status": trace.status,
                    "latency_ms": trace.latency_ms,
                    "ttft_ms": trace.time_to_first_token_ms,
                    "retries": trace.retry_count,
                    "tokens": trace.completion_tokens,
                    "error": trace.error_message,
                },
            )
        for listener in self.on_trace:
            listener(trace)
        if self.ctx.events is not None:
            self.ctx.events.changed()

    def record_rejection(
        self,
        request_id: str,
        model: str,
        kind: RequestKind,
        api: Literal["ollama", "openai"],
        error: HerdError,
        client_ip: str | None,
        tags: list[str] | None = None,
    ) -> None:
        """Trace a request refused before routing (bad input, unknown model, no capacity)."""
        error.traced = True
        self._record(
            TraceRecord(
                request_id=request_id,
                model=normalize(model) if model else "",
                original_model=normalize(model) if model else "",
                node_id=None,
                status="failed" if isinstance(error, UpstreamFailure) else "rejected",
                kind=kind,
                api=api,
                http_status=error.status,
                error_message=error.message,
                client_ip=client_ip,
                tags=tags or [],
                latency_ms=0.0,
            )
        )

    def _rejection(
        self,
        request: InferenceRequest,
        primary: str,
        wanted: list[str],
        unknown: list[str],
        last_failure: AttemptFailed | None,
        retries: int,
    ) -> HerdError:
        """The error for a request no node served: the nodes failed, nobody has the model, or
        nobody can take it now."""
        if last_failure is not None:
            error: HerdError = UpstreamFailure(
                f"{last_failure.message} (after {retries} attempt{'s' if retries != 1 else ''})",
                status=502 if (last_failure.status or 502) >= 500 else last_failure.status,
            )
        elif len(unknown) == len(wanted):
            error = NotFound(f'model "{request.model}" not found, try pulling it first')
        else:
            error = NoCapacity(
                f"no node can serve {primary} right now: "
                + self.ranker.explain_rejections(primary, request),
                retry_after_s=5,
            )
        return error


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
