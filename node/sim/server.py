"""The simulator's HTTP edge: Ollama's API, its OpenAI-compatible API and the ``/_sim`` test hooks.

Owns request parsing, the exact response shapes (NDJSON chunks, SSE, single JSON objects), the
translation of the engine's typed errors to ``{"error": ...}`` (or OpenAI's error object on
``/v1``), fault injection and the per-request records. Physics live in ``engine``, reply content in
``replies``; this module only wires them to HTTP and never logs per request.

Every Ollama and OpenAI endpoint answers through ``Exchange``, an ASGI response that runs the
handler while watching for ``http.disconnect``: when the client goes away mid-generation (or while
waiting for a slot or a load) the handler is cancelled at once, its slot released, and the record's
outcome becomes ``"cancelled"``. Headers go out with the first chunk, as in Ollama, so errors met
while queueing or loading still get a proper HTTP status.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import struct
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from router.model_names import normalize

from . import replies
from .catalogue import CATALOGUE, GIB, ModelSpec, find_model
from .engine import (
    BadRequest,
    Engine,
    ModelNotFound,
    SimConfig,
    SimError,
    parse_keep_alive,
)
from .faults import Fault, FaultBook
from .records import Recorder

log = logging.getLogger("herd.sim")

NDJSON = "application/x-ndjson"
JSON = "application/json; charset=utf-8"
SSE = "text/event-stream"
FOREVER_S = 9_223_372_036.0
"""Ollama shows a model kept forever as expiring ~292 years from now (max int64 nanoseconds)."""
WARM_LOAD_S = 0.001
OVERHEAD_S = 0.0005


# --- small helpers ------------------------------------------------------------------------------


def ns(seconds: float) -> int:
    return round(seconds * 1e9)


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def line(obj: Any) -> bytes:
    return dumps(obj) + b"\n"


def sse(obj: Any) -> bytes:
    return b"data: " + dumps(obj) + b"\n\n"


def details_of(spec: ModelSpec) -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": spec.family,
        "families": [spec.family],
        "parameter_size": spec.parameter_size,
        "quantization_level": spec.quantization,
    }


@dataclass
class Head:
    """The status line and content type, sent together with the first body chunk."""

    status: int
    media_type: str
    streaming: bool


Item = Head | bytes
Handler = Callable[["Call"], AsyncIterator[Item]]


class Drop(Exception):
    """Raised when the connection could not be aborted from inside (non-uvicorn servers)."""


@dataclass
class Call:
    """One request as a handler sees it."""

    sim: Simulator
    request: Request
    body: dict[str, Any]
    record: dict[str, Any]
    openai: bool

    @property
    def engine(self) -> Engine:
        return self.sim.engine


@dataclass
class Stats:
    load_s: float
    prompt_s: float
    eval_s: float
    prompt_tokens: int
    eval_count: int

    def ollama(self) -> dict[str, Any]:
        return {
            "total_duration": ns(self.load_s + self.prompt_s + self.eval_s + OVERHEAD_S),
            "load_duration": ns(self.load_s),
            "prompt_eval_count": self.prompt_tokens,
            "prompt_eval_duration": ns(self.prompt_s),
            "eval_count": self.eval_count,
            "eval_duration": ns(self.eval_s),
        }


# --- the response that watches for disconnects --------------------------------------------------


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


def _error_body(openai: bool, status: int, message: str) -> dict[str, Any]:
    if not openai:
        return {"error": message}
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
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
        if head.media_type == SSE:
            return sse(_error_body(True, 500, message))
        return line({"error": message})

    async def _run(self, scope: Scope, send: Send) -> None:
        fault = self.fault
        kind = fault.kind if fault else None
        openai = self.call.openai
        if fault is not None and kind == "http_error":
            body = dumps(_error_body(openai, fault.status, fault.message))
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
        body = dumps(_error_body(self.call.openai, status, message))
        await self._start(send, Head(status, JSON, False), len(body))
        await self._body(send, body, more=False)
        self._finish_error(message)

    def _finish_error(self, message: str) -> None:
        self.finished = True
        self.recorder.finish(self.record, "error", message)


# --- the simulator ------------------------------------------------------------------------------


class Simulator:
    """One simulated Ollama server: engine + faults + records, and the handlers over them."""

    def __init__(self, config: SimConfig | None = None, engine: Engine | None = None) -> None:
        self.config = config or SimConfig()
        self.engine = engine or Engine(self.config)
        self.faults = FaultBook()
        self.recorder = Recorder(self.engine.clock)
        self.created = int(time.time())

    # --- plumbing -----------------------------------------------------------------------------

    def endpoint(self, handler: Handler, *, openai: bool = False) -> Callable[[Request], Any]:
        async def serve(request: Request) -> Any:
            record = self.recorder.open(
                request.method, request.url.path, request.headers.get("user-agent")
            )
            body: dict[str, Any] = {}
            problem: SimError | None = None
            if request.method in ("POST", "DELETE"):
                raw = await request.body()
                try:
                    parsed = json.loads(raw) if raw.strip() else {}
                except ValueError as exc:
                    problem = BadRequest(f"invalid JSON body: {exc}")
                    parsed = None
                if problem is None and not isinstance(parsed, dict):
                    problem = BadRequest("request body must be a JSON object")
                if isinstance(parsed, dict):
                    body = parsed
                    record["body"] = parsed
                    model = parsed.get("model") or parsed.get("name")
                    record["model"] = model if isinstance(model, str) else None
            path = request.url.path
            fault = self.faults.take(path, record["model"])
            if fault is not None:
                record["fault"] = fault.kind
            call = Call(self, request, body, record, openai)
            producer = _refuse(problem) if problem is not None else handler(call)
            return Exchange(call, producer, fault)

        return serve

    # --- Ollama: simple reads -----------------------------------------------------------------

    async def version(self, call: Call) -> AsyncIterator[Item]:
        yield Head(200, JSON, False)
        yield dumps({"version": self.config.version})

    def _tag_entry(self, spec: ModelSpec) -> dict[str, Any]:
        return {
            "name": spec.name,
            "model": spec.name,
            "modified_at": iso(self.engine.disk.get(spec.name, self.created)),
            "size": spec.size,
            "digest": spec.digest,
            "details": details_of(spec),
        }

    async def tags(self, call: Call) -> AsyncIterator[Item]:
        disk = sorted(self.engine.disk.items(), key=lambda kv: -kv[1])
        models = [self._tag_entry(CATALOGUE[name]) for name, _ in disk]
        yield Head(200, JSON, False)
        yield dumps({"models": models})

    async def ps(self, call: Call) -> AsyncIterator[Item]:
        now = self.engine.clock()
        models = []
        for loaded in self.engine.loaded_models():
            spec = loaded.spec
            expires = loaded.expires_at if loaded.expires_at is not None else now + FOREVER_S
            models.append(
                {
                    "name": spec.name,
                    "model": spec.name,
                    "size": loaded.size,
                    "digest": spec.digest,
                    "details": details_of(spec),
                    "expires_at": iso(expires),
                    "size_vram": loaded.size,
                    "context_length": loaded.context_length,
                }
            )
        yield Head(200, JSON, False)
        yield dumps({"models": models})

    async def show(self, call: Call) -> AsyncIterator[Item]:
        name = _model_field(call.body)
        spec = self.engine.on_disk(name)
        if spec is None:
            raise ModelNotFound(f"model '{name}' not found")
        arch = spec.family.replace("-", "")
        info = {
            "general.architecture": arch,
            "general.basename": spec.name.split(":")[0],
            "general.file_type": 15,
            "general.parameter_count": int(spec.parameters_b * 1e9),
            "general.quantization_version": 2,
            f"{arch}.context_length": spec.context_length,
            f"{arch}.embedding_length": spec.embedding_length,
        }
        body = {
            "license": "Simulated model: no licence text.",
            "modelfile": f'# Modelfile generated by "ollama show"\nFROM {spec.name}\n',
            "parameters": "" if spec.is_embedding else 'stop                           "<|eot|>"',
            "template": "" if spec.is_embedding else "{{ .System }}\n{{ .Prompt }}",
            "details": details_of(spec),
            "model_info": info,
            "capabilities": list(spec.capabilities),
            "modified_at": iso(self.engine.disk[spec.name]),
        }
        yield Head(200, JSON, False)
        yield dumps(body)

    # --- Ollama: model management ---------------------------------------------------------------

    async def pull(self, call: Call) -> AsyncIterator[Item]:
        name = _model_field(call.body)
        stream = call.body.get("stream") is not False
        spec = find_model(name)
        if stream:
            yield Head(200, NDJSON, True)
            yield line({"status": "pulling manifest"})
        if spec is None:
            message = "pull model manifest: file does not exist"
            if not stream:
                raise SimError(message, 500)
            call.record["outcome"] = "error"
            call.record["error"] = message
            yield line({"error": message})
            return
        present = spec.name in self.engine.disk
        layers = [(spec.blob_digest, spec.size)] + [
            (
                "sha256:" + replies.seed_of(spec.digest, i).to_bytes(8, "big").hex() * 4,
                size,
            )
            for i, size in enumerate((1_436, 12_403, 96, 487))
        ]
        steps = 10
        for digest, total in layers:
            short = digest.removeprefix("sha256:")[:12]
            status = f"pulling {short}"
            if stream:
                yield line({"status": status, "digest": digest, "total": total})
            if present:
                continue
            seconds = self.engine.profile.download_seconds(total)
            for step in range(1, steps + 1):
                await self.engine.sleep(seconds / steps)
                if stream:
                    completed = total * step // steps
                    yield line(
                        {"status": status, "digest": digest, "total": total, "completed": completed}
                    )
        if stream:
            yield line({"status": "verifying sha256 digest"})
            yield line({"status": "writing manifest"})
        self.engine.add_to_disk(spec)
        counters = self.engine.counters.pulls
        counters[spec.name] = counters.get(spec.name, 0) + 1
        if not stream:
            yield Head(200, JSON, False)
            yield dumps({"status": "success"})
        else:
            yield line({"status": "success"})

    async def delete(self, call: Call) -> AsyncIterator[Item]:
        name = _model_field(call.body)
        if not self.engine.remove_from_disk(name):
            raise ModelNotFound(f"model '{name}' not found")
        yield Head(200, JSON, False)

    # --- Ollama: inference ----------------------------------------------------------------------

    def _prepare(
        self, call: Call, capability: str | None
    ) -> tuple[str, ModelSpec, dict[str, Any], Any]:
        body = call.body
        name = _model_field(body)
        spec = self.engine.require(name)
        if capability is not None and capability not in spec.capabilities:
            raise BadRequest(f'"{name}" does not support {_CAPABILITY_VERB[capability]}')
        options = body.get("options") or {}
        if not isinstance(options, dict):
            raise BadRequest("options must be an object")
        keep_alive = parse_keep_alive(body.get("keep_alive"), self.engine.default_keep_alive)
        return name, spec, options, keep_alive

    def _think(self, name: str, spec: ModelSpec, value: Any) -> bool:
        wanted = value not in (None, False, "", "none")
        if wanted and "thinking" not in spec.capabilities:
            raise BadRequest(f'"{name}" does not support thinking')
        return wanted

    async def _load_only(
        self, call: Call, name: str, options: dict[str, Any], keep_alive: Any, kind: str
    ) -> AsyncIterator[Item]:
        if keep_alive == 0:
            self.engine.request_unload(name)
            reason = "unload"
        else:
            slot = await self.engine.load(
                name, num_ctx=options.get("num_ctx"), keep_alive=keep_alive
            )
            call.record["cold_load"] = slot.cold_load
            reason = "load"
        reply: dict[str, Any] = {"model": name, "created_at": iso(self.engine.clock())}
        if kind == "chat":
            reply["message"] = {"role": "assistant", "content": ""}
        else:
            reply["response"] = ""
        reply.update({"done": True, "done_reason": reason})
        yield Head(200, JSON, False)
        yield dumps(reply)

    async def _generate_events(
        self,
        call: Call,
        name: str,
        plan: replies.Plan,
        prompt_tokens: int,
        options: dict[str, Any],
        keep_alive: Any,
        prefixes: list[tuple[str, int]] | None = None,
    ) -> AsyncIterator[tuple[str, Any]]:
        """Hold a slot, spend the modelled time, and yield ("thinking"|"content"|"tool_calls"|
        "done", value) events. The slot is released before "done" is yielded.

        ``prefixes`` are the conversation's cumulative (key, tokens) prefixes: the longest one the
        loaded model has seen is not evaluated again, and the finished exchange is remembered."""
        record = call.record
        async with self.engine.slot(
            name, num_ctx=options.get("num_ctx"), keep_alive=keep_alive
        ) as slot:
            record["cold_load"] = slot.cold_load
            record["concurrent_at_start"] = slot.concurrent_at_start
            cached = slot.model.cached_tokens(prefixes) if prefixes else 0
            cached = min(cached, prompt_tokens - 1)
            record["cached_tokens"] = cached
            prompt_tokens -= cached
            prompt_s = await slot.prompt_eval(prompt_tokens)
            eval_s = 0.0
            for token in plan.thinking:
                eval_s += await slot.decode()
                yield "thinking", token
            for token in plan.content:
                eval_s += await slot.decode()
                yield "content", token
            if plan.tool_calls:
                for _ in range(replies.count_tokens(json.dumps(plan.tool_calls))):
                    eval_s += await slot.decode()
                yield "tool_calls", plan.tool_calls
            if prefixes:
                key, tokens = prefixes[-1]
                slot.model.remember(key, tokens)
                reply_text = "".join(plan.content)
                reply = _message_key(key, "assistant", reply_text)
                slot.model.remember(reply, tokens + replies.count_tokens(reply_text) + 4)
            load_s = slot.load_seconds if slot.cold_load else WARM_LOAD_S
        yield "done", Stats(load_s, prompt_s, eval_s, prompt_tokens, plan.eval_count)

    async def chat(self, call: Call) -> AsyncIterator[Item]:
        body = call.body
        name, spec, options, keep_alive = self._prepare(call, "completion")
        messages = body.get("messages") or []
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise BadRequest("messages must be a list of objects")
        think = self._think(name, spec, body.get("think"))
        tools = body.get("tools") or None
        if tools is not None and not isinstance(tools, list):
            raise BadRequest("tools must be a list")
        if tools and "tools" not in spec.capabilities:
            raise BadRequest(f'"{name}" does not support tools')
        if not messages:
            async for item in self._load_only(call, name, options, keep_alive, "chat"):
                yield item
            return
        stream = body.get("stream") is not False
        conversation = "\n".join(
            f"{m.get('role', '')}: {replies.text_of(m.get('content'))}" for m in messages
        )
        prompt_tokens = sum(
            replies.count_tokens(replies.text_of(m.get("content"))) + 4 for m in messages
        )
        if tools:
            prompt_tokens += replies.count_tokens(json.dumps(tools))
        calls = replies.choose_tool_call(tools, messages)
        fmt = body.get("format") or None
        plan = replies.plan_reply(
            model=spec.name,
            prompt=conversation,
            options=options,
            think=think,
            fmt=fmt,
            tool_calls=calls,
        )
        prefixes = _prefixes(spec.name, messages, prompt_tokens - _message_tokens(messages))
        events = self._generate_events(
            call, name, plan, prompt_tokens, options, keep_alive, prefixes
        )
        clock = self.engine.clock
        if stream:
            sent_head = False
            async for kind, value in events:
                if not sent_head:
                    yield Head(200, NDJSON, True)
                    sent_head = True
                if kind == "done":
                    final = {
                        "model": name,
                        "created_at": iso(clock()),
                        "message": {"role": "assistant", "content": ""},
                        "done": True,
                        "done_reason": plan.done_reason,
                        **value.ollama(),
                    }
                    yield line(final)
                    continue
                message: dict[str, Any] = {"role": "assistant", "content": ""}
                if kind == "content":
                    message["content"] = value
                elif kind == "thinking":
                    message["thinking"] = value
                else:
                    message["tool_calls"] = _ollama_tool_calls(value)
                yield line(
                    {"model": name, "created_at": iso(clock()), "message": message, "done": False}
                )
            return
        content: list[str] = []
        thinking: list[str] = []
        tool_calls: list[dict[str, Any]] | None = None
        stats: Stats | None = None
        async for kind, value in events:
            if kind == "content":
                content.append(value)
            elif kind == "thinking":
                thinking.append(value)
            elif kind == "tool_calls":
                tool_calls = value
            else:
                stats = value
        assert stats is not None
        message = {"role": "assistant", "content": "".join(content)}
        if think:
            message["thinking"] = "".join(thinking)
        if tool_calls:
            message["tool_calls"] = _ollama_tool_calls(tool_calls)
        yield Head(200, JSON, False)
        yield dumps(
            {
                "model": name,
                "created_at": iso(clock()),
                "message": message,
                "done": True,
                "done_reason": plan.done_reason,
                **stats.ollama(),
            }
        )

    async def generate(self, call: Call) -> AsyncIterator[Item]:
        body = call.body
        name, spec, options, keep_alive = self._prepare(call, "completion")
        prompt = body.get("prompt") or ""
        if not isinstance(prompt, str):
            raise BadRequest("prompt must be a string")
        think = self._think(name, spec, body.get("think"))
        if not prompt:
            async for item in self._load_only(call, name, options, keep_alive, "generate"):
                yield item
            return
        stream = body.get("stream") is not False
        system = body.get("system") or ""
        suffix = body.get("suffix") or ""
        context = body.get("context") or []
        prompt_tokens = (
            replies.count_tokens(str(system))
            + replies.count_tokens(prompt)
            + replies.count_tokens(str(suffix))
            + (len(context) if isinstance(context, list) else 0)
            + 4
        )
        fmt = body.get("format") or None
        plan = replies.plan_reply(
            model=spec.name, prompt=f"{system}\n{prompt}", options=options, think=think, fmt=fmt
        )
        events = self._generate_events(call, name, plan, prompt_tokens, options, keep_alive)
        clock = self.engine.clock
        text: list[str] = []
        thinking: list[str] = []
        stats: Stats | None = None
        sent_head = False
        async for kind, value in events:
            if kind == "done":
                stats = value
                break
            if kind == "content":
                text.append(value)
            else:
                thinking.append(value)
            if stream:
                if not sent_head:
                    yield Head(200, NDJSON, True)
                    sent_head = True
                chunk: dict[str, Any] = {"model": name, "created_at": iso(clock())}
                chunk["response"] = value if kind == "content" else ""
                if kind == "thinking":
                    chunk["thinking"] = value
                chunk["done"] = False
                yield line(chunk)
        assert stats is not None
        final: dict[str, Any] = {"model": name, "created_at": iso(clock())}
        final["response"] = "" if stream else "".join(text)
        if think and not stream:
            final["thinking"] = "".join(thinking)
        final.update({"done": True, "done_reason": plan.done_reason})
        final["context"] = replies.context_ids(
            prompt + "".join(text), prompt_tokens + stats.eval_count
        )
        final.update(stats.ollama())
        if stream:
            if not sent_head:
                yield Head(200, NDJSON, True)
            yield line(final)
        else:
            yield Head(200, JSON, False)
            yield dumps(final)

    async def _embed_vectors(
        self,
        call: Call,
        name: str,
        spec: ModelSpec,
        inputs: list[str],
        options: dict[str, Any],
        keep_alive: Any,
        *,
        truncate: bool,
        dimensions: Any,
        normalise: bool,
    ) -> tuple[list[list[float]], Stats]:
        dims = spec.embedding_length
        if dimensions is not None:
            if not isinstance(dimensions, int) or not 0 < dimensions <= dims:
                raise BadRequest(f"invalid dimensions: must be between 1 and {dims}")
            dims = dimensions
        context = self.engine.context_for(spec, options.get("num_ctx"))
        counts = [replies.count_tokens(text) for text in inputs]
        if not truncate and any(c > context for c in counts):
            raise BadRequest("the input length exceeds the context length")
        total = sum(min(c, context) for c in counts)
        async with self.engine.slot(
            name, num_ctx=options.get("num_ctx"), keep_alive=keep_alive
        ) as slot:
            call.record["cold_load"] = slot.cold_load
            call.record["concurrent_at_start"] = slot.concurrent_at_start
            prompt_s = await slot.prompt_eval(total)
            load_s = slot.load_seconds if slot.cold_load else WARM_LOAD_S
        vectors = []
        for text in inputs:
            vector = replies.embedding(spec.name, text, spec.embedding_length, normalise=normalise)
            if dims != spec.embedding_length:
                vector = vector[:dims]
                if normalise:
                    norm = sum(v * v for v in vector) ** 0.5 or 1.0
                    vector = [v / norm for v in vector]
            vectors.append(vector)
        return vectors, Stats(load_s, prompt_s, 0.0, total, 0)

    async def embed(self, call: Call) -> AsyncIterator[Item]:
        body = call.body
        name, spec, options, keep_alive = self._prepare(call, None)
        raw = body.get("input", [])
        inputs = [raw] if isinstance(raw, str) else raw
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            raise BadRequest("invalid input type")
        inputs = [i for i in inputs if i] if inputs == [""] else inputs
        if not inputs:
            if keep_alive == 0:
                self.engine.request_unload(name)
            else:
                await self.engine.load(name, num_ctx=options.get("num_ctx"), keep_alive=keep_alive)
            yield Head(200, JSON, False)
            yield dumps({"model": name, "embeddings": []})
            return
        vectors, stats = await self._embed_vectors(
            call,
            name,
            spec,
            inputs,
            options,
            keep_alive,
            truncate=body.get("truncate") is not False,
            dimensions=body.get("dimensions"),
            normalise=True,
        )
        reply = {
            "model": name,
            "embeddings": vectors,
            "total_duration": ns(stats.load_s + stats.prompt_s + OVERHEAD_S),
            "load_duration": ns(stats.load_s),
            "prompt_eval_count": stats.prompt_tokens,
        }
        yield Head(200, JSON, False)
        yield dumps(reply)

    async def embeddings(self, call: Call) -> AsyncIterator[Item]:
        body = call.body
        name, spec, options, keep_alive = self._prepare(call, None)
        prompt = body.get("prompt") or ""
        if not isinstance(prompt, str):
            raise BadRequest("prompt must be a string")
        if not prompt:
            await self.engine.load(name, num_ctx=options.get("num_ctx"), keep_alive=keep_alive)
            vector: list[float] = []
        else:
            vectors, _ = await self._embed_vectors(
                call,
                name,
                spec,
                [prompt],
                options,
                keep_alive,
                truncate=True,
                dimensions=None,
                normalise=False,
            )
            vector = vectors[0]
        yield Head(200, JSON, False)
        yield dumps({"embedding": vector})

    # --- OpenAI-compatible ----------------------------------------------------------------------

    async def openai_models(self, call: Call) -> AsyncIterator[Item]:
        data = [
            {
                "id": name,
                "object": "model",
                "created": int(modified),
                "owned_by": _owner(name),
            }
            for name, modified in sorted(self.engine.disk.items(), key=lambda kv: -kv[1])
        ]
        yield Head(200, JSON, False)
        yield dumps({"object": "list", "data": data})

    async def openai_model(self, call: Call) -> AsyncIterator[Item]:
        name = call.request.path_params["model"]
        spec = self.engine.on_disk(name)
        if spec is None:
            raise ModelNotFound(f"model '{name}' not found")
        created = int(self.engine.disk[spec.name])
        yield Head(200, JSON, False)
        yield dumps({"id": name, "object": "model", "created": created, "owned_by": _owner(name)})

    async def openai_chat(self, call: Call) -> AsyncIterator[Item]:
        body = call.body
        name = _model_field(body)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("[] is too short - 'messages'")
        if not all(isinstance(m, dict) for m in messages):
            raise BadRequest("messages must be a list of objects")
        spec = self.engine.require(name)
        if "completion" not in spec.capabilities:
            raise BadRequest(f'"{name}" does not support chat')
        options = _openai_options(body)
        fmt = _openai_format(body.get("response_format"))
        tools = body.get("tools") or None
        if tools and "tools" not in spec.capabilities:
            raise BadRequest(f'"{name}" does not support tools')
        if body.get("tool_choice") == "none":
            tools = None
        think = bool(body.get("reasoning_effort") or body.get("reasoning")) and (
            "thinking" in spec.capabilities
        )
        conversation = "\n".join(
            f"{m.get('role', '')}: {replies.text_of(m.get('content'))}" for m in messages
        )
        prompt_tokens = sum(
            replies.count_tokens(replies.text_of(m.get("content"))) + 4 for m in messages
        )
        calls = replies.choose_tool_call(tools, messages)
        plan = replies.plan_reply(
            model=spec.name,
            prompt=conversation,
            options=options,
            think=think,
            fmt=fmt,
            tool_calls=calls,
        )
        keep_alive = self.engine.default_keep_alive
        prefixes = _prefixes(spec.name, messages, 0)
        events = self._generate_events(
            call, name, plan, prompt_tokens, options, keep_alive, prefixes
        )
        ident = f"chatcmpl-{replies.seed_of(call.record['id']) % 1000}"
        created = int(self.engine.clock())
        finish = "tool_calls" if plan.tool_calls else plan.done_reason
        base = {"id": ident, "created": created, "model": name, "system_fingerprint": "fp_ollama"}
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            sent_head = False
            async for kind, value in events:
                if not sent_head:
                    yield Head(200, SSE, True)
                    sent_head = True
                chunk = {**base, "object": "chat.completion.chunk"}
                if kind == "done":
                    chunk["choices"] = [
                        {
                            "index": 0,
                            "delta": {"role": "assistant", "content": ""},
                            "finish_reason": finish,
                        }
                    ]
                    yield sse(chunk)
                    if include_usage:
                        usage = {**base, "object": "chat.completion.chunk", "choices": []}
                        usage["usage"] = _usage(value)
                        yield sse(usage)
                    yield b"data: [DONE]\n\n"
                    continue
                delta: dict[str, Any] = {"role": "assistant", "content": ""}
                if kind == "content":
                    delta["content"] = value
                elif kind == "thinking":
                    delta["reasoning"] = value
                else:
                    delta["tool_calls"] = _openai_tool_calls(value, ident)
                chunk["choices"] = [{"index": 0, "delta": delta, "finish_reason": None}]
                yield sse(chunk)
            return
        content: list[str] = []
        reasoning: list[str] = []
        tool_calls: list[dict[str, Any]] | None = None
        stats: Stats | None = None
        async for kind, value in events:
            if kind == "content":
                content.append(value)
            elif kind == "thinking":
                reasoning.append(value)
            elif kind == "tool_calls":
                tool_calls = value
            else:
                stats = value
        assert stats is not None
        message: dict[str, Any] = {"role": "assistant", "content": "".join(content)}
        if reasoning:
            message["reasoning"] = "".join(reasoning)
        if tool_calls:
            message["tool_calls"] = _openai_tool_calls(tool_calls, ident)
        reply = {
            **base,
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": _usage(stats),
        }
        yield Head(200, JSON, False)
        yield dumps(reply)

    async def openai_completions(self, call: Call) -> AsyncIterator[Item]:
        body = call.body
        name = _model_field(body)
        prompt = body.get("prompt", "")
        if isinstance(prompt, list):
            prompt = " ".join(str(p) for p in prompt)
        if not isinstance(prompt, str):
            raise BadRequest("invalid prompt")
        spec = self.engine.require(name)
        if "completion" not in spec.capabilities:
            raise BadRequest(f'"{name}" does not support generate')
        options = _openai_options(body)
        plan = replies.plan_reply(model=spec.name, prompt=prompt, options=options)
        prompt_tokens = replies.count_tokens(prompt) + 4
        keep_alive = self.engine.default_keep_alive
        events = self._generate_events(call, name, plan, prompt_tokens, options, keep_alive)
        ident = f"cmpl-{replies.seed_of(call.record['id']) % 1000}"
        base = {
            "id": ident,
            "object": "text_completion",
            "created": int(self.engine.clock()),
            "model": name,
            "system_fingerprint": "fp_ollama",
        }
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            sent_head = False
            async for kind, value in events:
                if not sent_head:
                    yield Head(200, SSE, True)
                    sent_head = True
                if kind == "done":
                    choice = {"text": "", "index": 0, "finish_reason": plan.done_reason}
                    yield sse({**base, "choices": [choice]})
                    if include_usage:
                        yield sse({**base, "choices": [], "usage": _usage(value)})
                    yield b"data: [DONE]\n\n"
                elif kind == "content":
                    choice = {"text": value, "index": 0, "finish_reason": None}
                    yield sse({**base, "choices": [choice]})
            return
        text: list[str] = []
        stats: Stats | None = None
        async for kind, value in events:
            if kind == "content":
                text.append(value)
            elif kind == "done":
                stats = value
        assert stats is not None
        choice = {
            "text": "".join(text),
            "index": 0,
            "logprobs": None,
            "finish_reason": plan.done_reason,
        }
        yield Head(200, JSON, False)
        yield dumps({**base, "choices": [choice], "usage": _usage(stats)})

    async def openai_embeddings(self, call: Call) -> AsyncIterator[Item]:
        body = call.body
        name = _model_field(body)
        raw = body.get("input")
        inputs = [raw] if isinstance(raw, str) else raw
        valid = isinstance(inputs, list) and all(isinstance(i, str) for i in inputs)
        if not valid or not inputs:
            raise BadRequest("invalid input: expected a string or a list of strings")
        spec = self.engine.require(name)
        vectors, stats = await self._embed_vectors(
            call,
            name,
            spec,
            inputs,
            {},
            self.engine.default_keep_alive,
            truncate=True,
            dimensions=body.get("dimensions"),
            normalise=True,
        )
        as_base64 = body.get("encoding_format") == "base64"
        data = [
            {
                "object": "embedding",
                "embedding": _b64(vector) if as_base64 else vector,
                "index": i,
            }
            for i, vector in enumerate(vectors)
        ]
        usage = {"prompt_tokens": stats.prompt_tokens, "total_tokens": stats.prompt_tokens}
        yield Head(200, JSON, False)
        yield dumps({"object": "list", "data": data, "model": name, "usage": usage})

    # --- test hooks ---------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        engine = self.engine
        loaded = [
            {
                "name": m.spec.name,
                "size": m.size,
                "context_length": m.context_length,
                "in_flight": m.in_flight,
                "expires_at": m.expires_at,
                "last_used": m.last_used,
                "loaded_at": m.loaded_at,
                "state": m.state,
                "num_parallel": m.num_parallel,
            }
            for m in engine.loaded_models()
        ]
        counters = engine.counters
        return {
            "profile": engine.profile.name,
            "memory_total_gb": round(engine.memory_total / GIB, 3),
            "memory_used_gb": round(engine.memory_used / GIB, 3),
            "memory_bandwidth_gbps": engine.profile.bandwidth_gbps,
            "num_parallel": engine.num_parallel,
            "max_loaded_models": engine.max_loaded_models,
            "max_queue": engine.config.max_queue,
            "time_scale": engine.config.time_scale,
            "keep_alive": engine.config.keep_alive,
            "context_length": engine.config.context_length,
            "loaded": loaded,
            "available": sorted(engine.disk),
            "queued": engine.queued(),
            "max_concurrent_seen": dict(counters.max_concurrent_seen),
            "loads": dict(counters.loads),
            "reloads": dict(counters.reloads),
            "evictions": counters.evictions,
            "pulls": dict(counters.pulls),
            "recently_unloaded": list(counters.unloaded),
            "faults": self.faults.listing(),
        }

    def reset(self, unload: bool = False) -> None:
        self.recorder.clear()
        self.faults.clear()
        self.engine.reset_counters()
        if unload:
            self.engine.unload_idle()


# --- request helpers ----------------------------------------------------------------------------

_CAPABILITY_VERB = {"completion": "generate", "embedding": "embeddings"}


def _message_key(previous: str, role: str, text: str) -> str:
    return str(replies.seed_of(previous, role, text))


def _message_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(replies.count_tokens(replies.text_of(m.get("content"))) + 4 for m in messages)


def _prefixes(model: str, messages: list[dict[str, Any]], extra: int) -> list[tuple[str, int]]:
    """Cumulative (key, tokens) for each prefix of a conversation; ``extra`` tokens (tool
    schemas) come before the messages."""
    key = str(replies.seed_of("conversation", model))
    tokens = extra
    out = []
    for message in messages:
        text = replies.text_of(message.get("content"))
        key = _message_key(key, str(message.get("role", "")), text)
        tokens += replies.count_tokens(text) + 4
        out.append((key, tokens))
    return out


def _model_field(body: dict[str, Any]) -> str:
    model = body.get("model") or body.get("name")
    if not isinstance(model, str) or not model.strip():
        raise BadRequest("model is required")
    return model


async def _refuse(problem: SimError) -> AsyncIterator[Item]:
    raise problem
    yield  # pragma: no cover - makes this an async generator


def _ollama_tool_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"function": {"index": i, "name": c["function"]["name"], **_args(c)}}
        for i, c in enumerate(calls)
    ]


def _args(call: dict[str, Any]) -> dict[str, Any]:
    return {"arguments": call["function"].get("arguments", {})}


def _openai_tool_calls(calls: list[dict[str, Any]], ident: str) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_{replies.seed_of(ident, i) % 10**8:08d}",
            "index": i,
            "type": "function",
            "function": {
                "name": c["function"]["name"],
                "arguments": json.dumps(c["function"].get("arguments", {})),
            },
        }
        for i, c in enumerate(calls)
    ]


def _openai_options(body: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is not None:
        options["num_predict"] = limit
    for key in ("stop", "seed", "temperature", "top_p"):
        if body.get(key) is not None:
            options[key] = body[key]
    return options


def _openai_format(response_format: Any) -> Any:
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        return schema if isinstance(schema, dict) else "json"
    return None


def _usage(stats: Stats) -> dict[str, int]:
    return {
        "prompt_tokens": stats.prompt_tokens,
        "completion_tokens": stats.eval_count,
        "total_tokens": stats.prompt_tokens + stats.eval_count,
    }


def _owner(name: str) -> str:
    return name.split("/")[0] if "/" in name else "library"


def _b64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


# --- the ASGI application -----------------------------------------------------------------------


class SimApp:
    """The ASGI app: Starlette routes behind a thin layer that keeps the server's raw ``send``
    (so a fault can abort the TCP connection). ``.sim`` is the live ``Simulator``."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.starlette = _build_routes(sim)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["sim.raw_send"] = send
        await self.starlette(scope, receive, send)


def create_app(config: SimConfig | None = None, *, engine: Engine | None = None) -> SimApp:
    """Build the simulator's ASGI app (serve it with uvicorn)."""
    return SimApp(Simulator(config, engine))


def _build_routes(sim: Simulator) -> Starlette:
    ep = sim.endpoint

    async def root(request: Request) -> Response:
        return PlainTextResponse("Ollama is running")

    async def state(request: Request) -> Response:
        return JSONResponse(sim.state())

    async def records(request: Request) -> Response:
        items = sim.recorder.snapshot()
        path = request.query_params.get("path")
        model = request.query_params.get("model")
        if path:
            items = [r for r in items if r["path"] == path]
        if model:
            items = [r for r in items if r["model"] and normalize(r["model"]) == normalize(model)]
        return JSONResponse({"requests": items})

    async def faults(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"faults": sim.faults.listing()})
        if request.method == "DELETE":
            sim.faults.clear()
            return JSONResponse({"ok": True})
        try:
            fault = sim.faults.add(await _json_of(request))
        except SimError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        return JSONResponse({"fault_id": fault.fault_id})

    async def reset(request: Request) -> Response:
        try:
            body = await _json_of(request)
        except SimError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        sim.reset(unload=bool(body.get("unload")))
        return JSONResponse({"ok": True})

    async def configure(request: Request) -> Response:
        allowed = {
            "time_scale": float,
            "num_parallel": int,
            "max_loaded_models": int,
            "max_queue": int,
            "keep_alive": lambda v: v,
            "memory_gb": float,
            "memory_wait": bool,
            "context_length": int,
        }
        try:
            body = await _json_of(request)
            changes = {}
            for key, value in body.items():
                if key not in allowed:
                    raise BadRequest(f"unknown setting {key!r}; allowed: {sorted(allowed)}")
                changes[key] = None if value is None else allowed[key](value)
            if "keep_alive" in changes:
                parse_keep_alive(changes["keep_alive"], 300.0)
            sim.engine.reconfigure(**changes)
        except SimError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": f"invalid setting: {exc}"}, status_code=400)
        return JSONResponse(sim.state())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await sim.engine.aclose()

    routes = [
        Route("/", root, methods=["GET", "HEAD"]),
        Route("/api/version", ep(sim.version), methods=["GET"]),
        Route("/api/tags", ep(sim.tags), methods=["GET"]),
        Route("/api/ps", ep(sim.ps), methods=["GET"]),
        Route("/api/show", ep(sim.show), methods=["POST"]),
        Route("/api/pull", ep(sim.pull), methods=["POST"]),
        Route("/api/delete", ep(sim.delete), methods=["DELETE"]),
        Route("/api/chat", ep(sim.chat), methods=["POST"]),
        Route("/api/generate", ep(sim.generate), methods=["POST"]),
        Route("/api/embed", ep(sim.embed), methods=["POST"]),
        Route("/api/embeddings", ep(sim.embeddings), methods=["POST"]),
        Route("/v1/models", ep(sim.openai_models, openai=True), methods=["GET"]),
        Route("/v1/models/{model:path}", ep(sim.openai_model, openai=True), methods=["GET"]),
        Route("/v1/chat/completions", ep(sim.openai_chat, openai=True), methods=["POST"]),
        Route("/v1/completions", ep(sim.openai_completions, openai=True), methods=["POST"]),
        Route("/v1/embeddings", ep(sim.openai_embeddings, openai=True), methods=["POST"]),
        Route("/_sim/state", state, methods=["GET"]),
        Route("/_sim/records", records, methods=["GET"]),
        Route("/_sim/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/config", configure, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


async def _json_of(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"invalid JSON body: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


__all__ = ["SimApp", "Simulator", "create_app"]
