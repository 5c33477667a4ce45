"""The simulator's OpenAI-compatible API: ``/v1/models``, ``/v1/models/{model}``,
``/v1/chat/completions``, ``/v1/completions`` and ``/v1/embeddings``, with OpenAI's reply shapes
(SSE chunks ending in ``[DONE]`` or one JSON object) as Ollama's compatibility layer gives them.

Owns request translation and reply shapes for those paths, as handler methods of the
``OpenAIEndpoints`` mixin that ``server.Simulator`` inherits. It must never touch the ASGI
connection (that is ``exchange``), model physics (``engine``) or reply content (``replies``).
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import AsyncIterator
from typing import Any

from . import replies
from .engine import BadRequest, Engine, ModelNotFound
from .exchange import Call, model_field
from .framing import JSON, SSE, Head, Item, dumps, sse
from .generation import (
    Stats,
    collect,
    conversation_prefixes,
    embed_vectors,
    generate_events,
    message_tokens,
    plan_chat,
    started,
)


class OpenAIEndpoints:
    """The ``/v1/*`` handlers; mixed into ``server.Simulator``, which provides the state."""

    engine: Engine

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
        name = model_field(body)
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
        prompt_tokens = message_tokens(messages)
        plan = plan_chat(spec.name, messages, tools, options, think=think, fmt=fmt)
        keep_alive = self.engine.default_keep_alive
        prefixes = conversation_prefixes(spec.name, messages, 0)
        events = generate_events(call, name, plan, prompt_tokens, options, keep_alive, prefixes)
        ident = f"chatcmpl-{replies.seed_of(call.record['id']) % 1000}"
        created = int(self.engine.clock())
        finish = "tool_calls" if plan.tool_calls else plan.done_reason
        base = {"id": ident, "created": created, "model": name, "system_fingerprint": "fp_ollama"}
        if body.get("stream"):
            events = await started(events)
            yield Head(200, SSE, True)
            chunk_head = {**base, "object": "chat.completion.chunk"}
            async for kind, value in events:
                delta: dict[str, Any] = {"role": "assistant", "content": ""}
                if kind == "content":
                    delta["content"] = value
                elif kind == "thinking":
                    delta["reasoning"] = value
                elif kind == "tool_calls":
                    delta["tool_calls"] = _openai_tool_calls(value, ident)
                reason = finish if kind == "done" else None
                choice = {"index": 0, "delta": delta, "finish_reason": reason}
                yield sse({**chunk_head, "choices": [choice]})
                if kind == "done":
                    for event in _stream_end(chunk_head, value, body):
                        yield event
            return
        reply = await collect(events)
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.thinking:
            message["reasoning"] = reply.thinking
        if reply.tool_calls:
            message["tool_calls"] = _openai_tool_calls(reply.tool_calls, ident)
        yield Head(200, JSON, False)
        yield dumps(
            {
                **base,
                "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": _usage(reply.stats),
            }
        )

    async def openai_completions(self, call: Call) -> AsyncIterator[Item]:
        body = call.body
        name = model_field(body)
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
        events = generate_events(call, name, plan, prompt_tokens, options, keep_alive)
        ident = f"cmpl-{replies.seed_of(call.record['id']) % 1000}"
        base = {
            "id": ident,
            "object": "text_completion",
            "created": int(self.engine.clock()),
            "model": name,
            "system_fingerprint": "fp_ollama",
        }
        if body.get("stream"):
            events = await started(events)
            yield Head(200, SSE, True)
            async for kind, value in events:
                if kind == "done":
                    choice = {"text": "", "index": 0, "finish_reason": plan.done_reason}
                    yield sse({**base, "choices": [choice]})
                    for event in _stream_end(base, value, body):
                        yield event
                elif kind == "content":
                    choice = {"text": value, "index": 0, "finish_reason": None}
                    yield sse({**base, "choices": [choice]})
            return
        reply = await collect(events)
        choice = {
            "text": reply.content,
            "index": 0,
            "logprobs": None,
            "finish_reason": plan.done_reason,
        }
        yield Head(200, JSON, False)
        yield dumps({**base, "choices": [choice], "usage": _usage(reply.stats)})

    async def openai_embeddings(self, call: Call) -> AsyncIterator[Item]:
        body = call.body
        name = model_field(body)
        raw = body.get("input")
        inputs = [raw] if isinstance(raw, str) else raw
        valid = isinstance(inputs, list) and all(isinstance(i, str) for i in inputs)
        if not valid or not inputs:
            raise BadRequest("invalid input: expected a string or a list of strings")
        spec = self.engine.require(name)
        vectors, stats = await embed_vectors(
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


def _stream_end(chunk_head: dict[str, Any], stats: Stats, body: dict[str, Any]) -> list[bytes]:
    """What follows a stream's last choice: the usage chunk when the client asked for it
    (``stream_options.include_usage``), then ``[DONE]``."""
    events = []
    if (body.get("stream_options") or {}).get("include_usage"):
        events.append(sse({**chunk_head, "choices": [], "usage": _usage(stats)}))
    return [*events, b"data: [DONE]\n\n"]


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
