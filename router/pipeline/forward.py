"""One attempt on one node: send the request in the backend's terms, wait for the first byte, and
hand back the answer once it has begun.

Owns ``Forwarder``. Per backend kind: an Ollama gets its native API or its own compatibility
endpoint (``router.backends.ollama``) with the context window the choice asked for and a first-byte
timeout from the expected time; an OpenAI-compatible server gets the translation
(``router.backends.openai``) and its SSE is read back as Ollama NDJSON; image and speech jobs go to
the node's job gateway (``router.backends.media``) and come back whole, except images of an Ollama's
own image models, sent to that Ollama in its shape (``router.backends.ollama_images``); Ollama's own
``/api/generate`` for such a model goes to that Ollama as is. A failure before the first byte raises
``AttemptFailed`` (the pipeline retries elsewhere); after it, the ``Routed`` answer goes on on
another node through the pipeline's ``Resume`` callback when the ``resume_streams`` toggle is on
and its stream is Ollama's NDJSON (``resumption``), else ends the stream with an error. When an
answer ends, ``Forwarder`` releases its slot, learns the node's speed from Ollama's durations
(or, for another backend, how long the job took) and records the trace.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from herd_contract.model_names import normalize
from router.backends import media, ollama, ollama_images
from router.backends import openai as openai_backend
from router.config import RouterSettings, RuntimeToggles
from router.http_client import HTTPError, Response
from router.latency import as_int
from router.native import NativeCall
from router.pipeline.attempt import Attempt
from router.pipeline.breakers import first_byte_timeout
from router.pipeline.candidates import Ranker
from router.pipeline.context_window import apply_num_ctx, max_context, strip_smaller_num_ctx
from router.pipeline.framing import NDJSON, Framing, native_framing, parse_line
from router.pipeline.journal import TraceJournal
from router.pipeline.request import InferenceRequest
from router.pipeline.routed import Resume, Routed
from router.traces import TraceRecord, TraceStatus
from router.upstream import AttemptFailed, Upstream, iter_lines


class Forwarder:
    """Forward one attempt to its node and see its answer to the end (slot, speeds, trace)."""

    def __init__(
        self,
        settings: RouterSettings,
        clock: Callable[[], float],
        ranker: Ranker,
        upstream: Upstream,
        journal: TraceJournal,
        ollama_version: Callable[[str], str],
        resume: Resume | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.ranker = ranker
        self.upstream = upstream
        self.journal = journal
        self.ollama_version = ollama_version
        """A node's reported Ollama version: whether it speaks a compatibility API itself."""
        self.resume = resume
        """How an NDJSON stream whose node failed mid-stream goes on elsewhere (the pipeline's)."""

    @property
    def toggles(self) -> RuntimeToggles:
        return self.settings.toggles

    async def forward(
        self, request: InferenceRequest, attempt: Attempt, trace: TraceRecord
    ) -> Routed:
        """Send ``request`` to the attempt's node; the answer once it has begun (a whole answer
        is already closed). ``AttemptFailed`` when the node fails before its first byte."""
        task = asyncio.current_task()
        attempt.slot.on_reap = task.cancel if task is not None else None
        backend = attempt.choice.backend
        if request.kind in ("image", "transcribe"):
            return await self._forward_job(request, attempt, trace, _body(request, attempt, None))
        if backend == "openai":
            return await self._forward_openai(
                request, attempt, trace, _body(request, attempt, None)
            )
        return await self._forward_ollama(request, attempt, trace)

    async def _forward_ollama(
        self, request: InferenceRequest, attempt: Attempt, trace: TraceRecord
    ) -> Routed:
        choice = attempt.choice
        native = ollama.chosen_native(
            request.native, self.ollama_version(choice.node_id), choice.num_ctx is not None
        )
        body = _body(request, attempt, native)
        if self.toggles.context_protection:
            if choice.num_ctx is not None:
                records = [record for record, _ in self.ranker.registry.routable()]
                maximum = max_context(records, attempt.model)
                apply_num_ctx(body, min(choice.num_ctx, maximum or choice.num_ctx))
                trace.context_protected = True
            elif strip_smaller_num_ctx(body, choice.loaded_context):
                trace.context_protected = True
        call = ollama.call(request.kind, body, native)
        framing = native_framing(call.native) if call.native is not None else NDJSON
        expected_s = choice.estimate_s - choice.breakdown.get("queue", 0.0)
        timeout_s = first_byte_timeout(
            expected_s, self.settings.first_byte_timeout_min_s, self.settings.first_byte_timeout_s
        )
        if choice.backend == "image" or attempt.slot.ahead:
            # An image model on its Ollama sends nothing before the image; a request sent ahead
            # waits in the node's own queue behind answers whose length nobody knows.
            timeout_s = self.settings.first_byte_timeout_s
        response = await self.upstream.open(
            choice.ollama_url, call.path, call.payload, first_byte_timeout_s=timeout_s
        )
        attempt.response = response
        streaming = request.stream and request.kind in ("chat", "generate")
        if not streaming:
            raw = (await self._read_whole(request, attempt, trace, response)).strip()
            if choice.backend == "image":  # Ollama 0.14 streams image progress all the same
                raw = raw.rsplit(b"\n", 1)[-1]
            parsed = parse_line(raw) if raw else None
            if parsed is None or (framing.is_error(raw) if framing.native else "error" in parsed):
                message = framing.error_text(raw) if parsed else "the node sent an empty answer"
                raise AttemptFailed(message, retryable=True, status=502, kind="stream_error")
            final = framing.final(raw) or {}
            return await self._completed(request, attempt, trace, raw, final, framing)
        return await self._begin_stream(request, attempt, trace, framing.chunks(response), framing)

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
        """An image or transcription job on a node's job gateway (an image on a node's Ollama
        when its image models serve it); the whole answer at once."""
        token = self.settings.fleet_token
        on_ollama = request.kind == "image" and attempt.choice.adapter == "ollama"
        if on_ollama:
            path, headers, payload = ollama_images.image_request(body)
        elif request.kind == "image":
            path, headers, payload = media.image_request(body, token)
        else:
            path, headers, payload = media.transcribe_request(body, token)
        response = await self.upstream.open(attempt.choice.ollama_url, path, payload, headers)
        attempt.response = response
        generation = response.headers.get("x-generation-time")
        raw = await self._read_whole(request, attempt, trace, response)
        if on_ollama:
            try:
                png, fields = ollama_images.image_answer(raw)
            except ollama_images.NoImage as exc:
                raise AttemptFailed(str(exc), True, 502, "stream_error") from None
            return await self._completed(request, attempt, trace, png, fields)
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
            resume=self.resume if self.toggles.resume_streams and not framing.native else None,
        )

    # --- when the answer ends ------------------------------------------------------------------

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
            wall_s = self.clock() - attempt.slot.started_at
            node_id = attempt.choice.node_id
            if attempt.choice.adapter:
                self.ranker.observe_job(node_id, attempt.model, _job_seconds(final, wall_s))
            elif final:
                self.ranker.observe(node_id, attempt.model, final, wall_s)
            if trace.kind in ("chat", "generate"):
                self.ranker.remember_session(attempt.choice.session_key, attempt.choice.node_id)
        self.journal.record(trace)


def _body(request: InferenceRequest, attempt: Attempt, native: NativeCall | None) -> dict[str, Any]:
    """A copy of the body to send (the native call's when there is one), naming the model the
    router chose when it is not the client's (a fallback), else keeping the client's spelling."""
    body = dict(native.body if native is not None else request.body)
    renamed = attempt.model != normalize(request.model)
    body["model"] = attempt.model if renamed else body.get("model", attempt.model)
    return body


def _job_seconds(final: dict[str, Any] | None, wall_s: float) -> float:
    """How long a backend job took: the backend's own figure (an image's generation time, a
    transcript's seconds) when it gave one, else the wall clock from dispatch to the end."""
    for key in ("generation_time_s", "seconds"):
        value = (final or {}).get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
    return wall_s


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
