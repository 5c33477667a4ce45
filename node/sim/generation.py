"""The generation machinery both APIs share: hold a slot, spend the modelled time and produce
tokens (``generate_events``) or vectors (``embed_vectors``), with the timing ``Stats`` of the
exchange and the conversation-prefix keys that model the prompt cache. ``plan_chat`` plans a
conversation's reply; ``started`` and ``collect`` are the two ways a handler consumes the events
(streamed, or as one ``Collected`` reply).

Owns the order of events and what is remembered in a loaded model's prompt cache. It must never
shape a reply for a particular API (that is ``ollama_api`` / ``openai_api``) nor touch HTTP.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

from . import replies
from .catalogue import ModelSpec
from .engine import BadRequest
from .exchange import Call
from .framing import ns

WARM_LOAD_S = 0.001
OVERHEAD_S = 0.0005


@dataclass
class Stats:
    """The modelled timing and token counts of one exchange."""

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


@dataclass
class Collected:
    """All the events of one exchange, for a reply that is not streamed."""

    content: str
    thinking: str
    tool_calls: list[dict[str, Any]] | None
    stats: Stats


async def collect(events: AsyncIterator[tuple[str, Any]]) -> Collected:
    """Run ``generate_events`` to the end and join what it produced."""
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
    return Collected("".join(content), "".join(thinking), tool_calls, stats)


T = TypeVar("T")


async def started(events: AsyncIterator[T]) -> AsyncIterator[T]:
    """``events`` once the first one is there, so that a streamed reply sends its head only
    after the slot was granted (a failure before that is still an ordinary error reply)."""
    first = await anext(events)

    async def replay() -> AsyncIterator[T]:
        yield first
        async for event in events:
            yield event

    return replay()


def _message_key(previous: str, role: str, text: str) -> str:
    return str(replies.seed_of(previous, role, text))


def transcript(messages: list[dict[str, Any]]) -> str:
    """A conversation as the one prompt text a reply is planned from."""
    return "\n".join(f"{m.get('role', '')}: {replies.text_of(m.get('content'))}" for m in messages)


def generate_transcript(system: str, prompt: str) -> str:
    """What a generate request's reply is planned from: the conversation Ollama renders it as (a
    system message when there is one, then the user's prompt), so that a chat with those
    messages gets the same reply."""
    messages = [{"role": "system", "content": system}] if system else []
    return transcript([*messages, {"role": "user", "content": prompt}])


def plan_chat(
    model: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    options: dict[str, Any],
    *,
    think: bool,
    fmt: Any,
) -> replies.Plan:
    """The reply a conversation gets: the continuation of a trailing assistant message (a
    prefill), else the tool call the rule picks from ``tools``, else text planned from the whole
    transcript."""
    prefill = replies.prefill_of(messages)
    if prefill is not None:
        return replies.continuation(
            model=model,
            prompt_before=transcript(messages[:-1]),
            prompt=transcript(messages),
            prefill=prefill,
            options=options,
            think=think,
            fmt=fmt,
        )
    return replies.plan_reply(
        model=model,
        prompt=transcript(messages),
        options=options,
        think=think,
        fmt=fmt,
        tool_calls=replies.choose_tool_call(tools, messages),
    )


def message_tokens(messages: list[dict[str, Any]]) -> int:
    """Prompt tokens of a conversation's messages (content plus four per message)."""
    return sum(replies.count_tokens(replies.text_of(m.get("content"))) + 4 for m in messages)


def conversation_prefixes(
    model: str, messages: list[dict[str, Any]], extra: int
) -> list[tuple[str, int]]:
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


async def generate_events(
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
    async with call.engine.slot(
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


async def embed_vectors(
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
    context = call.engine.context_for(spec, options.get("num_ctx"))
    counts = [replies.count_tokens(text) for text in inputs]
    if not truncate and any(c > context for c in counts):
        raise BadRequest("the input length exceeds the context length")
    total = sum(min(c, context) for c in counts)
    async with call.engine.slot(
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
