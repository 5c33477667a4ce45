"""Ollama ``/api/chat`` replies -> Anthropic Messages replies: the whole message and the SSE stream.

Owns the ``message`` object and the event sequence of a streamed message, as Ollama's own
Anthropic layer spells them:

``message_start`` (usage: the estimated input tokens, 0 output), ``ping``, then per content block
``content_block_start`` / ``content_block_delta`` (``thinking_delta``, ``text_delta`` or one
``input_json_delta`` with a tool's whole arguments) / ``content_block_stop``, in the order
thinking, text, tool uses; then ``message_delta`` (``stop_reason`` and the final usage) and
``message_stop``. A failure in the middle of the stream ends it with an ``error`` event.

``stop_reason``: ``tool_use`` when the reply calls a tool, else ``end_turn`` for Ollama's
``stop``, ``max_tokens`` for ``length``. Tool use ids are Ollama's when it sends one, else derived
from the message id. Ids are passed in (no clock, no randomness); never does I/O.
"""

from __future__ import annotations

import json
from typing import Any

from router.translate.errors import anthropic_error_event

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_loads = json.loads


def stop_reason(done_reason: Any, has_tool_calls: bool) -> str | None:
    """Anthropic's ``stop_reason`` for Ollama's ``done_reason``."""
    if has_tool_calls:
        return "tool_use"
    if done_reason == "length":
        return "max_tokens"
    if done_reason:
        return "end_turn"
    return None


def anthropic_usage(reply: dict[str, Any]) -> dict[str, int]:
    return {
        "input_tokens": int(reply.get("prompt_eval_count") or 0),
        "output_tokens": int(reply.get("eval_count") or 0),
    }


def _tool_use(call: dict[str, Any], index: int, stem: str) -> dict[str, Any]:
    fn = call.get("function") or {}
    arguments = fn.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = _loads(arguments) if arguments.strip() else {}
        except ValueError:
            arguments = {}
    call_id = call.get("id")
    return {
        "type": "tool_use",
        "id": call_id if isinstance(call_id, str) and call_id else f"toolu_{stem}_{index}",
        "name": fn.get("name", ""),
        "input": arguments if isinstance(arguments, dict) else {},
    }


def _stem(message_id: str) -> str:
    return message_id.removeprefix("msg_")


def message_to_anthropic(reply: dict[str, Any], *, id: str, model: str) -> dict[str, Any]:
    """A non-streaming ``/api/chat`` reply as an Anthropic ``message``."""
    message = reply.get("message") or {}
    calls = message.get("tool_calls") or []
    content: list[dict[str, Any]] = []
    if message.get("thinking"):
        content.append({"type": "thinking", "thinking": message["thinking"], "signature": ""})
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    stem = _stem(id)
    content.extend(_tool_use(call, i, stem) for i, call in enumerate(calls))
    return {
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(reply.get("done_reason"), bool(calls)),
        "stop_sequence": None,
        "usage": anthropic_usage(reply),
    }


def _event(name: str, body: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _encode(body).encode() + b"\n\n"


class MessagesStreamTranslator:
    """Ollama ``/api/chat`` stream chunks -> Anthropic's streamed message events.

    ``feed_line`` takes one NDJSON line and returns the SSE bytes to send (maybe none); ``done``
    and ``failed`` say how the stream ended; ``finish`` gives nothing more (``message_stop`` is
    part of the done chunk's events) and exists for the front end's common loop.
    """

    def __init__(self, *, id: str, model: str, input_tokens: int) -> None:
        self.id = id
        self.model = model
        self.input_tokens = input_tokens
        self.done = False
        self.failed = False
        self._started = False
        self._index = 0
        self._open: str | None = None
        """The type of the open content block: ``thinking``, ``text`` or none."""
        self._tools = 0
        self._text_prefix = b""

    def feed_line(self, line: bytes | str) -> bytes:
        if not line.strip():
            return b""
        return self.feed(_loads(line))

    def feed(self, chunk: dict[str, Any]) -> bytes:
        """The events for one parsed Ollama chunk."""
        if self.done or self.failed:
            return b""
        message = chunk.get("message")
        if message is None and "error" in chunk:
            self.failed = True
            return self._head() + anthropic_error_event(str(chunk["error"]), 500)
        message = message or {}
        content = message.get("content")
        if (
            self._open == "text"
            and content
            and not chunk.get("done")
            and not message.get("tool_calls")
            and not message.get("thinking")
        ):
            return self._text_prefix + _encode(content).encode() + b"}}\n\n"
        out = [self._head()]
        if message.get("thinking"):
            out.append(self._delta("thinking", {"type": "thinking_delta"}, message["thinking"]))
        if content:
            out.append(self._delta("text", {"type": "text_delta"}, content))
        for call in message.get("tool_calls") or []:
            out.append(self._tool(call))
        if chunk.get("done"):
            out.append(self._end(chunk))
        return b"".join(out)

    def finish(self) -> bytes:
        return b""

    def _head(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        message: dict[str, Any] = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": 0},
        }
        return _event("message_start", {"type": "message_start", "message": message}) + _event(
            "ping", {"type": "ping"}
        )

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        index = self._index
        self._index += 1
        return _event("content_block_stop", {"type": "content_block_stop", "index": index})

    def _delta(self, kind: str, delta: dict[str, Any], value: str) -> bytes:
        """A ``thinking`` or ``text`` delta, opening its block (and closing another) first."""
        out = b""
        if self._open != kind:
            out += self._close()
            self._open = kind
            block = {"type": kind, kind: ""}
            if kind == "thinking":
                block["signature"] = ""
            out += _event(
                "content_block_start",
                {"type": "content_block_start", "index": self._index, "content_block": block},
            )
            if kind == "text":
                head = _encode({"type": "content_block_delta", "index": self._index})[:-1]
                self._text_prefix = (
                    b"event: content_block_delta\ndata: "
                    + head.encode()
                    + b',"delta":{"type":"text_delta","text":'
                )
        body = {
            "type": "content_block_delta",
            "index": self._index,
            "delta": {**delta, kind: value},
        }
        return out + _event("content_block_delta", body)

    def _tool(self, call: dict[str, Any]) -> bytes:
        """One tool use as a whole block: start, the arguments in one delta, stop."""
        use = _tool_use(call, self._tools, _stem(self.id))
        self._tools += 1
        out = self._close()
        index = self._index
        self._index += 1
        block = {**use, "input": {}}
        delta = {"type": "input_json_delta", "partial_json": _encode(use["input"])}
        return (
            out
            + _event(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": block},
            )
            + _event(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
            + _event("content_block_stop", {"type": "content_block_stop", "index": index})
        )

    def _end(self, chunk: dict[str, Any]) -> bytes:
        self.done = True
        delta = {
            "stop_reason": stop_reason(chunk.get("done_reason"), self._tools > 0),
            "stop_sequence": None,
        }
        body = {"type": "message_delta", "delta": delta, "usage": anthropic_usage(chunk)}
        return (
            self._close()
            + _event("message_delta", body)
            + _event("message_stop", {"type": "message_stop"})
        )
