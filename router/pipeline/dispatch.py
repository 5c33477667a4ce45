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
import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from herd_contract.model_names import normalize
from router.backends import media, placement
from router.backends import openai as openai_backend
from router.config import RouterSettings, RuntimeToggles
from router.errors import (
    BadRequest,
    ClientGone,
    HerdError,
    NoCapacity,
    NotFound,
    UpstreamFailure,
)
from router.http_client import HTTPError, Response
from router.latency import as_int
from router.native import NativeCall, upstream_for
from router.pipeline.attempt import Attempt, Failures
from router.pipeline.breakers import Breakers, first_byte_timeout
from router.pipeline.candidates import Choice, Ranker, Ranking, estimate_prompt_tokens
from router.pipeline.context_window import (
    CONTEXT_FALLBACK,
    apply_num_ctx,
    fallback_allowed,
    holds_prompt,
    loaded_too_small,
    max_context,
    same_family_loaded,
    strip_smaller_num_ctx,
    too_long,
)
from router.pipeline.framing import NDJSON, Framing, native_framing, parse_line
from router.pipeline.journal import TraceJournal
from router.pipeline.pulls import PullCoordinator
from router.pipeline.request import Api, InferenceRequest, RequestKind
from router.pipeline.routed import Routed
from router.pipeline.wait_line import WaitLine
from router.queues import QueueBoard, QueueFull
from router.traces import TraceRecord, TraceStatus
from router.upstream import AttemptFailed, Upstream, iter_lines

log = logging.getLogger("herd.dispatch")

UPSTREAM_PATHS: dict[str, str] = {
    "chat": "/api/chat",
    "generate": "/api/generate",
    "embed": "/api/embed",
    "embeddings": "/api/embeddings",
}


class Pipeline:
    """Route a request: rank, take a slot, forward, retry elsewhere, record every attempt."""

    def __init__(
        self,
        settings: RouterSettings,
        clock: Callable[[], float],
        queues: QueueBoard,
        ranker: Ranker,
        upstream: Upstream,
        pulls: PullCoordinator,
        journal: TraceJournal,
        breakers: Breakers,
        *,
        ollama_version: Callable[[str], str] = lambda node_id: "",
    ) -> None:
        self.settings = settings
        self.breakers = breakers
        self.clock = clock
        self.queues = queues
        self.ranker = ranker
        self.upstream = upstream
        self.pulls = pulls
        self.journal = journal
        self.ollama_version = ollama_version
        """A node's reported Ollama version: whether it speaks a compatibility API itself."""
        self.line = WaitLine(ranker, queues, settings.max_queue_per_model)
        """Where requests wait for the best node (late binding)."""

    @property
    def toggles(self) -> RuntimeToggles:
        return self.settings.toggles

    # --- entry points -------------------------------------------------------------------------

    async def open(self, request: InferenceRequest) -> Routed:
        """Route ``request`` and return once the answer has begun (or raise a ``HerdError``).

        When the client leaves first (``request.client_gone`` is set), routing stops at once
        wherever it is (waiting in a queue, or for a node's first byte, whose request is closed),
        the slot is freed, the trace says ``client_disconnected`` and ``ClientGone`` is raised.
        """
        if request.client_gone is None:
            return await self._open_traced(request)
        work = asyncio.ensure_future(self._open_traced(request))
        gone = asyncio.ensure_future(request.client_gone.wait())
        try:
            await asyncio.wait((work, gone), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            gone.cancel()
            work.cancel()
            raise
        gone.cancel()
        if not work.done():
            request.left = True
            work.cancel()
        try:
            routed = await work
        except asyncio.CancelledError:
            if not request.left:
                raise
            routed = None
        if request.left or request.client_gone.is_set():
            if routed is not None:
                await routed.close(disconnected=True)
            elif not request.left_traced:
                self._record_left_while_queued(request)
            error = ClientGone("the client disconnected before the answer began")
            error.traced = True
            raise error
        assert routed is not None
        return routed

    def _record_left_while_queued(self, request: InferenceRequest) -> None:
        self._record(
            TraceRecord(
                request_id=request.request_id,
                model=normalize(request.model),
                original_model=normalize(request.model),
                node_id=None,
                status="client_disconnected",
                timestamp=request.received_at,
                kind=request.kind,
                api=request.api,
                stream=request.stream,
                tags=list(request.tags),
                client_ip=request.client_ip,
                latency_ms=round((time.perf_counter() - request.started) * 1000, 3),
                error_message="the client left while the request waited for a slot",
            )
        )

    async def _open_traced(self, request: InferenceRequest) -> Routed:
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
        failures = Failures()
        unknown: list[str] = []
        self.ranker.demand.note(primary, self.clock())
        for position, model in enumerate(wanted):
            excluded = self.breakers.blocked()
            pulled = False
            while retries <= self.toggles.max_retries:
                ranking = self.ranker.rank(model, request, excluded)
                self.check_window(model, request, ranking)
                substitute = self.substitute(model, request, ranking) if position == 0 else None
                if substitute is not None:
                    stand_in, stand_in_ranking, why = substitute
                    result = await self._try_ranked(
                        request, stand_in, stand_in_ranking, retries, primary, why, failures, None
                    )
                    if isinstance(result, Routed):
                        return result
                    last_failure = result[1]
                    retries += 1
                # Models wait in the router's line for the best node; other backends' jobs go
                # straight to their queue (their choices are not estimated by the scorer).
                wait_line: frozenset[str] | None = (
                    None if request.kind in ("image", "transcribe") else frozenset(excluded)
                )
                if not ranking.choices and ranking.blocked:
                    # Busy models hold the memory it needs: wait on that node as Ollama would,
                    # rather than refusing (its queue and the reaper still bound the wait).
                    ranking.choices = ranking.blocked[:1]
                    wait_line = None
                if not ranking.choices:
                    pullable = request.kind not in ("image", "transcribe")
                    if (
                        not ranking.known_anywhere
                        and self.toggles.auto_pull
                        and pullable
                        and not pulled
                    ):
                        pulled = True
                        if await self.pulls.ensure(model):
                            continue
                    if not ranking.known_anywhere:
                        unknown.append(model)
                    break
                reason = "fallback_models" if position > 0 else None
                result = await self._try_ranked(
                    request, model, ranking, retries, primary, reason, failures, wait_line
                )
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
        rejection = self._rejection(request, primary, wanted, unknown, last_failure, retries)
        if failures.pending is not None:
            self._record_final_failure(request, failures, rejection)
        raise rejection

    def check_window(self, model: str, request: InferenceRequest, ranking: Ranking) -> None:
        """Refuse a prompt longer than the model's whole context, rather than let it be cut."""
        if not self.toggles.context_protection or not ranking.choices:
            return
        if ranking.choices[0].num_ctx is None:
            return  # it fits the window it will run in
        records = [record for record, _ in self.ranker.registry.routable()]
        why = too_long(model, estimate_prompt_tokens(request.body), max_context(records, model))
        if why is not None:
            raise BadRequest(why)

    def substitute(
        self, model: str, request: InferenceRequest, ranking: Ranking
    ) -> tuple[str, Ranking, str] | None:
        """Another model to try first, and why: a loaded model of the same family whose window
        holds a prompt the requested model's loaded window does not (when the client allowed
        fallbacks), or a VRAM stand-in when the requested model is not loaded anywhere."""
        toggles = self.toggles
        if (
            toggles.context_protection
            and ranking.choices
            and loaded_too_small(ranking.choices[0])
            and fallback_allowed(request, toggles.context_fallback)
        ):
            larger = self._larger_window_model(model, request)
            if larger is not None:
                return (*larger, CONTEXT_FALLBACK)
        if toggles.vram_fallback and not ranking.any_hot:
            stand_in = self.ranker.vram_substitute(model, request, ranking)
            if stand_in is not None:
                return (*stand_in, "vram_fallback")
        return None

    def _larger_window_model(
        self, model: str, request: InferenceRequest
    ) -> tuple[str, Ranking] | None:
        """The same-family model, loaded with a window that holds the prompt, expected to finish
        first."""
        records = [record for record, _ in self.ranker.registry.routable()]
        best: tuple[float, str, Ranking] | None = None
        for name in same_family_loaded(records, model):
            candidate = self.ranker.rank(name, request, set())
            fitting = [c for c in candidate.choices if holds_prompt(c)]
            if fitting and (best is None or fitting[0].estimate_s < best[0]):
                candidate.choices = fitting
                best = (fitting[0].estimate_s, name, candidate)
        return (best[1], best[2]) if best else None

    async def _try_ranked(
        self,
        request: InferenceRequest,
        model: str,
        ranking: Ranking,
        retries: int,
        original: str,
        fallback_reason: str | None,
        failures: Failures,
        wait_line: frozenset[str] | None,
    ) -> Routed | tuple[str, AttemptFailed]:
        """One attempt: through the wait line (``wait_line`` holds the nodes to exclude), or
        straight onto the ranking's first queue with room when ``wait_line`` is None."""
        waiting = time.perf_counter()
        if wait_line is None:
            attempt = await self._take_slot(ranking.choices, model, request.started)
        else:
            attempt = await self._wait_for_node(request, model, wait_line)
        self.journal.metrics.waited(model, time.perf_counter() - waiting)
        trace = self._new_trace(request, attempt, original, retries, fallback_reason)
        trace.candidates = ranking.explain(attempt.choice.node_id)
        self.breakers.attempting(attempt.choice.node_id)
        try:
            routed = await self._forward(request, attempt, trace)
        except AttemptFailed as failure:
            self._count_failure(attempt.choice.node_id, failure)
            return self._attempt_failed(request, attempt, trace, failure, failures)
        except asyncio.CancelledError:
            if not attempt.slot.reaped:
                await self._abandon(attempt)
                if request.left:
                    self._record_left_waiting(request, trace, failures)
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
            return self._attempt_failed(request, attempt, trace, stalled, failures)
        except BaseException:
            await self._abandon(attempt)
            raise
        self.breakers.succeeded(attempt.choice.node_id)
        self._record_retried(failures)
        return routed

    def _count_failure(self, node_id: str, failure: AttemptFailed) -> None:
        if self.breakers.failed(node_id, failure.kind):
            log.warning(
                "circuit open for %s after %d failures before the first byte (last: %s)",
                node_id,
                self.breakers.threshold,
                failure.message,
                extra={"node_id": node_id, "console": True},
            )

    def _record_left_waiting(
        self, request: InferenceRequest, trace: TraceRecord, failures: Failures
    ) -> None:
        """The client left while this attempt waited for the node's first byte."""
        self._record_retried(failures)
        trace.status = "client_disconnected"
        trace.latency_ms = round((time.perf_counter() - request.started) * 1000, 3)
        trace.error_message = "the client left before the node's first byte"
        request.left_traced = True
        self._record(trace)

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
        failures: Failures,
    ) -> tuple[str, AttemptFailed]:
        """Release the attempt's slot and keep its trace: ``retried`` when another attempt
        follows, the final ``failed`` row otherwise (recorded now when it cannot be retried)."""
        attempt.slot.release(ok=False)
        trace.status = "retried"
        trace.error_message = failure.message
        trace.http_status = failure.status
        trace.latency_ms = round((time.perf_counter() - request.started) * 1000, 3)
        self._record_retried(failures)
        failures.tried.append((attempt.choice.node_id, failure.message))
        failures.pending = trace
        if not failure.retryable:
            self._record_final_failure(request, failures, None)
        log.info(
            "attempt on %s failed: %s",
            attempt.choice.node_id,
            failure.message,
            extra={"request_id": request.request_id, "node_id": attempt.choice.node_id},
        )
        return attempt.choice.node_id, failure

    def _record_retried(self, failures: Failures) -> None:
        """Another attempt follows the last failed one: its trace says ``retried``."""
        if failures.pending is not None:
            self._record(failures.pending)
            failures.pending = None

    def _record_final_failure(
        self, request: InferenceRequest, failures: Failures, error: HerdError | None
    ) -> None:
        """The last failed attempt's trace becomes the request's ``failed`` row: its node, every
        node tried and why, the whole time taken, and the retries made."""
        trace = failures.pending
        assert trace is not None
        failures.pending = None
        trace.status = "failed"
        attempts = len(failures.tried)
        if attempts > 1:
            trace.error_message = f"failed on {attempts} nodes: {failures.summary()}"
        trace.retry_count = attempts - 1
        trace.latency_ms = round((time.perf_counter() - request.started) * 1000, 3)
        if error is not None:
            trace.http_status = error.status
            error.traced = True
        self._record(trace)

    async def _take_slot(self, choices: list[Choice], model: str, started: float) -> Attempt:
        """A slot on the best candidate whose queue has room; 503 when every queue is full."""
        for choice in choices:
            queue = self.queues.queue(choice.node_id, model, choice.concurrency)
            try:
                slot = await queue.acquire()
            except QueueFull:
                continue
            return Attempt(choice=choice, model=model, slot=slot, started=started)
        raise NoCapacity(f"every queue for {model} is full; try again shortly", retry_after_s=2)

    async def _wait_for_node(
        self, request: InferenceRequest, model: str, excluded: frozenset[str]
    ) -> Attempt:
        """Late binding: wait in the model's line until the best node can take the request."""
        try:
            result = await self.line.take(model, request, excluded)
        except QueueFull:
            raise NoCapacity(
                f"the wait line for {model} is full; try again shortly", retry_after_s=2
            ) from None
        if isinstance(result, Ranking):
            if result.blocked:  # busy models hold the memory: wait at that node, as Ollama does
                return await self._take_slot(result.blocked[:1], model, request.started)
            raise NoCapacity(
                f"no node can serve {model} right now: "
                + self.ranker.explain_rejections(model, request),
                retry_after_s=5,
            )
        choice, slot = result
        return Attempt(choice=choice, model=model, slot=slot, started=request.started)

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
            score=round(choice.estimate_s, 4),
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
        native = self._native_call(request, attempt)
        body = dict(native.body if native is not None else request.body)
        body["model"] = (
            attempt.model
            if attempt.model != normalize(request.model)
            else body.get("model", attempt.model)
        )
        task = asyncio.current_task()
        attempt.slot.on_reap = task.cancel if task is not None else None
        backend = attempt.choice.backend
        if backend in ("image", "stt"):
            return await self._forward_job(request, attempt, trace, body)
        if backend == "openai":
            return await self._forward_openai(request, attempt, trace, body)
        if self.toggles.context_protection:
            if attempt.choice.num_ctx is not None:
                records = [record for record, _ in self.ranker.registry.routable()]
                maximum = max_context(records, attempt.model)
                apply_num_ctx(body, min(attempt.choice.num_ctx, maximum or attempt.choice.num_ctx))
                trace.context_protected = True
            elif strip_smaller_num_ctx(body, attempt.choice.loaded_context):
                trace.context_protected = True
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        path = native.api.path if native is not None else UPSTREAM_PATHS[request.kind]
        framing = native_framing(native.api) if native is not None else NDJSON
        choice = attempt.choice
        expected_s = choice.estimate_s - choice.breakdown.get("queue", 0.0)
        timeout_s = first_byte_timeout(
            expected_s, self.settings.first_byte_timeout_min_s, self.settings.first_byte_timeout_s
        )
        response = await self.upstream.open(
            choice.ollama_url, path, payload, first_byte_timeout_s=timeout_s
        )
        attempt.response = response
        streaming = request.stream and request.kind in ("chat", "generate")
        if not streaming:
            raw = (await self._read_whole(request, attempt, trace, response)).strip()
            parsed = parse_line(raw) if raw else None
            if parsed is None or (framing.is_error(raw) if framing.native else "error" in parsed):
                message = framing.error_text(raw) if parsed else "the node sent an empty answer"
                raise AttemptFailed(message, retryable=True, status=502, kind="stream_error")
            final = framing.final(raw) or {}
            return await self._completed(request, attempt, trace, raw, final, framing)
        return await self._begin_stream(request, attempt, trace, framing.chunks(response), framing)

    def _native_call(self, request: InferenceRequest, attempt: Attempt) -> NativeCall | None:
        """The request for the node's own compatibility endpoint when its Ollama has one (see
        ``router.native``); ``None`` sends the translation to ``/api/chat``, also when the prompt
        needs a larger context window, which only ``/api/chat`` can ask for."""
        if attempt.choice.backend != "ollama" or attempt.choice.num_ctx is not None:
            return None
        return upstream_for(request.native, self.ollama_version(attempt.choice.node_id))

    async def _begin_stream(
        self,
        request: InferenceRequest,
        attempt: Attempt,
        trace: TraceRecord,
        lines: AsyncIterator[bytes],
        framing: Framing = NDJSON,
    ) -> Routed:
        """Wait for the first chunk; the answer has begun once it came without an error."""
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
        if framing.is_error(first):
            raise AttemptFailed(
                framing.error_text(first), retryable=True, status=502, kind="stream_error"
            )
        trace.time_to_first_token_ms = (time.perf_counter() - request.started) * 1000
        attempt.slot.touch(self.clock())
        routed = self._routed(request, attempt, trace, first, lines, framing)
        if framing.is_done(first):
            routed.final = framing.final(first)
        return routed

    async def _read_whole(
        self, request: InferenceRequest, attempt: Attempt, trace: TraceRecord, response: Response
    ) -> bytes:
        """A whole (non-streaming) answer; its arrival is the first token for the trace."""
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
        return raw

    async def _completed(
        self,
        request: InferenceRequest,
        attempt: Attempt,
        trace: TraceRecord,
        raw: bytes,
        final: dict[str, Any],
        framing: Framing = NDJSON,
    ) -> Routed:
        """A whole answer, its slot released and its trace recorded."""
        routed = self._routed(request, attempt, trace, raw, None, framing)
        routed.final = final
        await routed.close()
        return routed

    async def _forward_job(
        self,
        request: InferenceRequest,
        attempt: Attempt,
        trace: TraceRecord,
        body: dict[str, Any],
    ) -> Routed:
        """An image or transcription job on a node's job gateway; the whole answer at once."""
        token = self.settings.fleet_token
        if request.kind == "image":
            path, headers, payload = media.image_request(body, token)
        else:
            path, headers, payload = media.transcribe_request(body, token)
        response = await self.upstream.open(attempt.choice.ollama_url, path, payload, headers)
        attempt.response = response
        generation = response.headers.get("x-generation-time")
        raw = await self._read_whole(request, attempt, trace, response)
        if request.kind == "image":
            if not raw.startswith(b"\x89PNG"):
                raise AttemptFailed("the node sent an image that is not a PNG", True, 502)
            final: dict[str, Any] = {"generation_time_s": _float(generation)}
        else:
            parsed = media.transcript(raw)
            if parsed is None:
                raise AttemptFailed("the node sent no transcript", True, 502, "stream_error")
            final = parsed
        return await self._completed(request, attempt, trace, raw, final)

    async def _forward_openai(
        self,
        request: InferenceRequest,
        attempt: Attempt,
        trace: TraceRecord,
        body: dict[str, Any],
    ) -> Routed:
        """An Ollama-native request on an OpenAI-compatible server, its answer mapped back."""
        payload = json.dumps(
            openai_backend.request_body(request.kind, body), separators=(",", ":")
        ).encode()
        path = openai_backend.OPENAI_PATHS[request.kind]
        response = await self.upstream.open(attempt.choice.ollama_url, path, payload)
        attempt.response = response
        model = str(body["model"])
        streaming = request.stream and request.kind in ("chat", "generate")
        if not streaming:
            raw = await self._read_whole(request, attempt, trace, response)
            try:
                answer = openai_backend.whole_answer(
                    request.kind, model, json.loads(raw), _iso_now(), self._elapsed_ns(request)
                )
            except ValueError as exc:
                raise AttemptFailed(
                    f"the node's answer: {exc}", True, 502, "stream_error"
                ) from None
            line = json.dumps(answer, separators=(",", ":"), ensure_ascii=False).encode()
            return await self._completed(request, attempt, trace, line, answer)
        lines = self._ollama_lines(request, model, iter_lines(response))
        return await self._begin_stream(request, attempt, trace, lines)

    def _elapsed_ns(self, request: InferenceRequest) -> int:
        return int((time.perf_counter() - request.started) * 1e9)

    async def _ollama_lines(
        self, request: InferenceRequest, model: str, sse: AsyncIterator[bytes]
    ) -> AsyncIterator[bytes]:
        """An OpenAI SSE stream as Ollama NDJSON lines, ending with a ``done`` line."""
        stream = openai_backend.ChatStream(request.kind, model)
        async for raw in sse:
            for line in stream.feed(raw, _iso_now(), self._elapsed_ns(request)):
                yield line
            if stream.done:
                return
        yield stream.final(_iso_now(), self._elapsed_ns(request))

    def _routed(
        self,
        request: InferenceRequest,
        attempt: Attempt,
        trace: TraceRecord,
        first: bytes,
        lines: AsyncIterator[bytes] | None,
        framing: Framing = NDJSON,
    ) -> Routed:
        return Routed(
            request,
            attempt,
            trace,
            first,
            lines,
            framing=framing,
            finish=functools.partial(self._finish, attempt, trace),
            clock=self.clock,
            reaper_timeout_s=self.toggles.reaper_timeout_s,
        )

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
            trace.prompt_tokens = as_int(final.get("prompt_eval_count"))
            trace.completion_tokens = as_int(final.get("eval_count"))
            trace.eval_duration_ns = as_int(final.get("eval_duration"))
            trace.load_duration_ns = as_int(final.get("load_duration"))
        if ok:
            if final:
                wall_s = self.clock() - attempt.slot.started_at
                self.ranker.observe(attempt.choice.node_id, attempt.model, final, wall_s)
            if trace.kind in ("chat", "generate"):
                self.ranker.remember_session(attempt.choice.session_key, attempt.choice.node_id)
        self._record(trace)

    def _record(self, trace: TraceRecord) -> None:
        self.journal.record(trace)

    def record_rejection(
        self,
        request_id: str,
        model: str,
        kind: RequestKind,
        api: Api,
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
        """The error for a request no node served: the nodes failed, the model is of another kind
        (an image model on /api/chat), nobody has the model, or nobody can take it now."""
        wrong = placement.wrong_endpoint(self.ranker.kinds_serving(primary), request.kind)
        if wrong is not None:
            return BadRequest(f'model "{request.model}" cannot serve this request: {wrong}')
        if last_failure is not None:
            error: HerdError = UpstreamFailure(
                f"{last_failure.message} (after {retries} attempt{'s' if retries != 1 else ''})",
                status=502 if (last_failure.status or 502) >= 500 else last_failure.status,
            )
        elif len(unknown) == len(wanted):
            error = NotFound(f'model "{request.model}" not found, try pulling it first')
        elif request.kind in ("image", "transcribe"):
            error = NoCapacity(
                f"no node can serve {primary} right now: "
                + placement.explain(self.ranker.registry.records(), primary, request.kind),
                retry_after_s=5,
            )
        else:
            error = NoCapacity(
                f"no node can serve {primary} right now: "
                + self.ranker.explain_rejections(primary, request),
                retry_after_s=5,
            )
        return error


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
