"""The simulator's Anthropic Messages (``/v1/messages``) and OpenAI Responses (``/v1/responses``)
endpoints, built as Ollama builds them: a layer over its own chat handler that maps the request
onto ``/api/chat`` (``compat_request``) and the chat reply or stream back (``compat_reply``).

The simulator has its own mapping, independent of the router's translation, so the end-to-end
tests check the router against an Ollama-shaped peer rather than against itself. Ollama added
``/v1/responses`` in 0.13.3 and ``/v1/messages`` in 0.14.0; a simulator configured with an older
``version`` answers both with Ollama's plain-text ``404 page not found``, like that Ollama. As
Ollama's endpoint does, ``thinking: {"type": "enabled"}`` makes a thinking model think and is
ignored by a model without thinking.

Owns only the wrapping; it must never decide reply content, model physics or routes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any, Protocol

from herd_contract.versions import parse_version

from . import replies
from .compat_reply import MessagesWriter, ResponsesWriter
from .compat_request import estimate_tokens, messages_to_chat, responses_to_chat
from .engine import Engine
from .exchange import Call
from .framing import JSON, SSE, Head, Item, dumps

RESPONSES_SINCE = (0, 13, 3)
"""The first Ollama version with ``/v1/responses``."""
MESSAGES_SINCE = (0, 14, 0)
"""The first Ollama version with ``/v1/messages``."""


def speaks(version: str, since: tuple[int, int, int]) -> bool:
    """Whether an Ollama reporting ``version`` has the endpoint added in ``since``."""
    parsed = parse_version(version)
    return parsed is None or parsed >= since


class Writer(Protocol):
    def feed(self, chunk: dict[str, Any]) -> bytes: ...

    def result(self) -> dict[str, Any]: ...


class CompatEndpoints:
    """The ``/v1/messages`` and ``/v1/responses`` handlers; mixed into ``server.Simulator``."""

    engine: Engine
    chat: Callable[[Call], AsyncIterator[Item]]

    def _ids(self, call: Call) -> Callable[[str], str]:
        """Fresh ids (``msg_…``, ``toolu_…``) derived from the request, so runs repeat."""
        count = iter(range(1_000_000))

        def make(prefix: str) -> str:
            seed = replies.seed_of(call.record["id"], prefix, next(count))
            return f"{prefix}_{seed % 16**24:024x}"

        return make

    async def _answer(
        self, call: Call, body: dict[str, Any], writer: Writer
    ) -> AsyncIterator[Item]:
        """The chat handler's answer to ``body`` (the mapped request), written by ``writer``."""
        call.record["translated_body"] = body
        items = self.chat(replace(call, body=body))
        if body["stream"]:
            async for item in items:
                if isinstance(item, Head):
                    yield Head(item.status, SSE, True)
                    continue
                for line in item.splitlines():
                    if line.strip():
                        yield writer.feed(json.loads(line))
            return
        chunks = [item async for item in items if isinstance(item, bytes)]
        writer.feed(json.loads(b"".join(chunks)))
        yield Head(200, JSON, False)
        yield dumps(writer.result())

    async def anthropic_messages(self, call: Call) -> AsyncIterator[Item]:
        if not speaks(self.engine.config.version, MESSAGES_SINCE):
            yield Head(404, "text/plain", False)
            yield b"404 page not found"
            return
        body = messages_to_chat(call.body)
        spec = self.engine.require(body["model"])
        thinking = call.body.get("thinking")
        wants = isinstance(thinking, dict) and thinking.get("type") == "enabled"
        if wants and "thinking" in spec.capabilities:
            body["think"] = True
        ids = self._ids(call)
        writer = MessagesWriter(ids("msg"), body["model"], estimate_tokens(call.body), ids)
        async for item in self._answer(call, body, writer):
            yield item

    async def openai_responses(self, call: Call) -> AsyncIterator[Item]:
        if not speaks(self.engine.config.version, RESPONSES_SINCE):
            yield Head(404, "text/plain", False)
            yield b"404 page not found"
            return
        body = responses_to_chat(call.body)
        ids = self._ids(call)
        writer = ResponsesWriter(call.body, ids("resp"), int(self.engine.clock()), ids)
        async for item in self._answer(call, body, writer):
            yield item
