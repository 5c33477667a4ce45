"""The simulator's Anthropic Messages (``/v1/messages``) and OpenAI Responses (``/v1/responses``)
endpoints, built as Ollama builds them: a layer over its own chat handler that translates the
request to ``/api/chat`` and the chat reply (or stream) back.

The translation is herd's own (``router.translate``), which follows Ollama's layer field by field,
so a real node and a simulated one answer alike. Ollama added ``/v1/responses`` in 0.13.3 and
``/v1/messages`` in 0.14.0; a simulator configured with an older ``version`` answers both with
Ollama's plain-text ``404 page not found``, like that Ollama, so the router's fallback to its own
translation can be tested. As Ollama's endpoint does, ``thinking: {"type": "enabled"}`` makes a
thinking model think and is ignored by a model without thinking.

Owns only the wrapping; it must never decide reply content, model physics or routes.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

from router.native import MESSAGES, RESPONSES, NativeApi, speaks
from router.translate import TranslationError
from router.translate.anthropic_request import estimate_input_tokens, messages_request_to_ollama
from router.translate.anthropic_response import MessagesStreamTranslator, message_to_anthropic
from router.translate.responses_request import responses_request_to_ollama
from router.translate.responses_response import ResponsesStreamTranslator, reply_to_response

from . import replies
from .engine import BadRequest, Engine
from .exchange import Call
from .framing import JSON, SSE, Head, Item, dumps


class CompatEndpoints:
    """The ``/v1/messages`` and ``/v1/responses`` handlers; mixed into ``server.Simulator``."""

    engine: Engine
    chat: Callable[[Call], AsyncIterator[Item]]

    def _speaks(self, api: NativeApi) -> bool:
        return speaks(self.engine.config.version, api)

    async def _chat(self, call: Call, body: dict[str, Any]) -> AsyncIterator[Item]:
        """The chat handler's items for ``body``, the translated request."""
        inner = replace(call, body=body)
        call.record["translated_body"] = body
        async for item in self.chat(inner):
            yield item

    async def anthropic_messages(self, call: Call) -> AsyncIterator[Item]:
        if not self._speaks(MESSAGES):
            yield Head(404, "text/plain", False)
            yield b"404 page not found"
            return
        try:
            body = messages_request_to_ollama(call.body)
        except TranslationError as exc:
            raise BadRequest(exc.message) from None
        spec = self.engine.require(body["model"])
        thinking = call.body.get("thinking")
        wants = isinstance(thinking, dict) and thinking.get("type") == "enabled"
        if wants and "thinking" in spec.capabilities:
            body["think"] = True
        ident = f"msg_{replies.seed_of(call.record['id']) % 10**12:012x}"
        model = call.body["model"]
        if not body["stream"]:
            reply = await _whole(self._chat(call, body))
            yield Head(200, JSON, False)
            yield dumps(message_to_anthropic(reply, id=ident, model=model))
            return
        translator = MessagesStreamTranslator(
            id=ident, model=model, input_tokens=estimate_input_tokens(call.body)
        )
        async for item in _streamed(self._chat(call, body), translator.feed_line):
            yield item

    async def openai_responses(self, call: Call) -> AsyncIterator[Item]:
        if not self._speaks(RESPONSES):
            yield Head(404, "text/plain", False)
            yield b"404 page not found"
            return
        try:
            body = responses_request_to_ollama(call.body)
        except TranslationError as exc:
            raise BadRequest(exc.message) from None
        ident = f"resp_{replies.seed_of(call.record['id']) % 10**12:012x}"
        model = call.body["model"]
        created = int(self.engine.clock())
        if not body["stream"]:
            reply = await _whole(self._chat(call, body))
            yield Head(200, JSON, False)
            done = int(self.engine.clock())
            response = reply_to_response(
                reply, call.body, id=ident, model=model, created_at=created, completed_at=done
            )
            yield dumps(response)
            return
        translator = ResponsesStreamTranslator(
            call.body, id=ident, model=model, created_at=created, clock=time.time
        )
        async for item in _streamed(self._chat(call, body), translator.feed_line):
            yield item


async def _whole(items: AsyncIterator[Item]) -> dict[str, Any]:
    """The one JSON reply of a non-streaming chat."""
    chunks = [item async for item in items if isinstance(item, bytes)]
    reply = json.loads(b"".join(chunks))
    assert isinstance(reply, dict)
    return reply


async def _streamed(
    items: AsyncIterator[Item], feed: Callable[[bytes], bytes]
) -> AsyncIterator[Item]:
    """A streamed chat's NDJSON lines as SSE events; the head says SSE."""
    async for item in items:
        if isinstance(item, Head):
            yield Head(item.status, SSE, True)
            continue
        events = feed(item)
        if events:
            yield events
