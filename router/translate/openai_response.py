"""Ollama replies -> OpenAI replies: whole objects and stateful SSE stream translators.

Owns ``chat.completion``, ``chat.completion.chunk``, ``text_completion`` and the ``/v1/models``
list. Ids and ``created`` timestamps are passed in (no clock, no randomness); tool call ids are
Ollama's when it sends one, else derived from the response id. Never does I/O.

The stream translators are on the hot path: constant parts of each SSE event are encoded once, and a
plain content chunk costs one string escape and one concatenation.
"""

from __future__ import annotations

import json
from typing import Any

from router.translate.errors import openai_error_event

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_loads = json.loads

DONE_EVENT = b"data: [DONE]\n\n"


def _sse(body: dict[str, Any]) -> bytes:
    return b"data: " + _encode(body).encode() + b"\n\n"


def finish_reason(done_reason: Any, has_tool_calls: bool) -> str:
    """OpenAI's ``finish_reason``: tool calls first, then ``length``, else ``stop``."""
    if has_tool_calls:
        return "tool_calls"
    if done_reason == "length":
        return "length"
    return "stop"


def usage(reply: dict[str, Any]) -> dict[str, int]:
    """OpenAI ``usage`` from Ollama's ``prompt_eval_count`` and ``eval_count``."""
    prompt = reply.get("prompt_eval_count") or 0
    completion = reply.get("eval_count") or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _id_stem(response_id: str) -> str:
    return response_id.split("-", 1)[-1] if "-" in response_id else response_id


def tool_call_to_openai(call: dict[str, Any], index: int, stem: str) -> dict[str, Any]:
    """One Ollama tool call (``arguments`` an object) as OpenAI's (``arguments`` a JSON string)."""
    fn = call.get("function") or {}
    arguments = fn.get("arguments")
    if not isinstance(arguments, str):
        arguments = _encode(arguments if arguments is not None else {})
    call_id = call.get("id")
    return {
        "id": call_id if isinstance(call_id, str) and call_id else f"call_{stem}_{index}",
        "type": "function",
        "function": {"name": fn.get("name", ""), "arguments": arguments},
    }


def _head(
    response_id: str, obj: str, created: int, model: str, fingerprint: str | None
) -> dict[str, Any]:
    head: dict[str, Any] = {"id": response_id, "object": obj, "created": created, "model": model}
    if fingerprint is not None:
        head["system_fingerprint"] = fingerprint
    return head


def chat_response_to_openai(
    reply: dict[str, Any],
    *,
    id: str,
    created: int,
    model: str | None = None,
    system_fingerprint: str | None = None,
) -> dict[str, Any]:
    """A non-streaming ``/api/chat`` reply as a ``chat.completion`` object."""
    message = reply.get("message") or {}
    calls = message.get("tool_calls") or []
    stem = _id_stem(id)
    content = message.get("content") or ""
    out_message: dict[str, Any] = {
        "role": "assistant",
        "content": content if content or not calls else None,
    }
    if calls:
        out_message["tool_calls"] = [tool_call_to_openai(c, i, stem) for i, c in enumerate(calls)]
    thinking = message.get("thinking")
    if thinking:
        out_message["reasoning"] = thinking
    choice = {
        "index": 0,
        "message": out_message,
        "logprobs": None,
        "finish_reason": finish_reason(reply.get("done_reason"), bool(calls)),
    }
    return _whole(reply, "chat.completion", choice, id, created, model, system_fingerprint)


def completion_response_to_openai(
    reply: dict[str, Any],
    *,
    id: str,
    created: int,
    model: str | None = None,
    system_fingerprint: str | None = None,
) -> dict[str, Any]:
    """A non-streaming ``/api/generate`` reply as a ``text_completion`` object.

    Ollama's ``thinking`` has no place in the completions API and is dropped.
    """
    choice = {
        "text": reply.get("response") or "",
        "index": 0,
        "logprobs": None,
        "finish_reason": finish_reason(reply.get("done_reason"), False),
    }
    return _whole(reply, "text_completion", choice, id, created, model, system_fingerprint)


def _whole(
    reply: dict[str, Any],
    obj: str,
    choice: dict[str, Any],
    response_id: str,
    created: int,
    model: str | None,
    fingerprint: str | None,
) -> dict[str, Any]:
    """A non-streaming reply object: its head, the one ``choice`` and the ``usage``."""
    out = _head(response_id, obj, created, model or reply.get("model", ""), fingerprint)
    out["choices"] = [choice]
    out["usage"] = usage(reply)
    return out


class _StreamTranslator:
    """Shared machinery: lazily built event prefix, done handling, usage chunk, ``[DONE]``."""

    _object = ""
    _fast_open = b""
    """A plain text event's choice up to the escaped text (set by each translator)."""
    _fast_close = ""
    """What follows the text in that choice, up to ``finish_reason``."""

    def __init__(
        self,
        *,
        id: str,
        created: int,
        model: str | None = None,
        include_usage: bool = False,
        system_fingerprint: str | None = None,
    ) -> None:
        self.id = id
        self.created = created
        self.model = model
        self.include_usage = include_usage
        self.system_fingerprint = system_fingerprint
        self.done = False
        """Whether the final (``done: true``) Ollama chunk has been translated."""
        self.failed = False
        """Whether an upstream error chunk was translated."""
        self.usage: dict[str, int] | None = None
        self._head: dict[str, Any] | None = None
        self._fast_prefix = b""
        self._fast_suffix = b""

    def _build(self, chunk: dict[str, Any]) -> dict[str, Any]:
        if self.model is None:
            self.model = str(chunk.get("model", ""))
        head = _head(self.id, self._object, self.created, self.model, self.system_fingerprint)
        self._head = head
        opening = _encode(head)[:-1] + ',"choices":['
        self._fast_prefix = b"data: " + opening.encode() + self._fast_open
        tail = '"finish_reason":null}]' + (',"usage":null}' if self.include_usage else "}")
        self._fast_suffix = (self._fast_close + tail).encode() + b"\n\n"
        return head

    def _event(self, choices: list[dict[str, Any]]) -> bytes:
        body: dict[str, Any] = {**(self._head or {}), "choices": choices}
        if self.include_usage:
            body["usage"] = None
        return _sse(body)

    def _last_event(self, chunk: dict[str, Any], choice: dict[str, Any]) -> bytes:
        """The done chunk's event with ``choice``, then (with ``include_usage``) one event with
        empty ``choices`` and the ``usage``."""
        self.done = True
        self.usage = usage(chunk)
        out = self._event([choice])
        if self.include_usage:
            out += _sse({**(self._head or {}), "choices": [], "usage": self.usage})
        return out

    def _error(self, chunk: dict[str, Any]) -> bytes:
        self.failed = True
        return openai_error_event(str(chunk.get("error")), 500)

    def feed(self, chunk: dict[str, Any]) -> bytes:
        """Translate one parsed Ollama chunk (each stream kind has its own)."""
        raise NotImplementedError

    def feed_line(self, line: bytes | str) -> bytes:
        """Translate one NDJSON line (blank lines give ``b""``)."""
        if not line.strip():
            return b""
        return self.feed(_loads(line))

    def finish(self) -> bytes:
        """The closing event: ``data: [DONE]\\n\\n``."""
        return DONE_EVENT


class ChatStreamTranslator(_StreamTranslator):
    """Ollama ``/api/chat`` stream chunks -> ``chat.completion.chunk`` SSE events.

    The first event carries ``delta.role: "assistant"``; thinking goes to ``delta.reasoning``; each
    tool call becomes a ``delta.tool_calls`` entry with a running ``index`` and its arguments as a
    JSON string; the done chunk gives the event with ``finish_reason``, followed (with
    ``include_usage``) by one event with empty ``choices`` and ``usage``. An upstream error line
    becomes an SSE error event.
    """

    _object = "chat.completion.chunk"
    _started = False
    """Whether the first event (the one with ``delta.role``) has been sent."""
    _tool_count = 0
    """Tool calls sent so far: the ``index`` of the next one."""

    _fast_open = b'{"index":0,"delta":{"content":'
    _fast_close = '},"logprobs":null,'

    def feed(self, chunk: dict[str, Any]) -> bytes:
        """Translate one parsed Ollama chunk; ``b""`` when it carries nothing to send."""
        if self.done:
            return b""
        message = chunk.get("message")
        if message is None:
            if "error" in chunk:
                return self._error(chunk)
            message = {}
        content = message.get("content")
        if (
            self._started
            and content
            and not chunk.get("done")
            and "thinking" not in message
            and "tool_calls" not in message
        ):
            return self._fast_prefix + _encode(content).encode() + self._fast_suffix
        if self._head is None:
            self._build(chunk)
        delta: dict[str, Any] = {}
        if not self._started:
            delta["role"] = "assistant"
            delta["content"] = content or ""
            self._started = True
        elif content:
            delta["content"] = content
        thinking = message.get("thinking")
        if thinking:
            delta["reasoning"] = thinking
        calls = message.get("tool_calls")
        if calls:
            start = self._tool_count
            stem = _id_stem(self.id)
            converted = []
            for offset, call in enumerate(calls):
                entry = tool_call_to_openai(call, start + offset, stem)
                converted.append({"index": start + offset, **entry})
            self._tool_count += len(calls)
            delta["tool_calls"] = converted
        if not chunk.get("done"):
            if not delta:
                return b""
            return self._event(
                [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]
            )
        reason = finish_reason(chunk.get("done_reason"), self._tool_count > 0)
        return self._last_event(
            chunk, {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
        )


class CompletionStreamTranslator(_StreamTranslator):
    """Ollama ``/api/generate`` stream chunks -> ``text_completion`` SSE events.

    Same contract as ``ChatStreamTranslator``; thinking is dropped (completions have no field
    for it) and chunks without text are skipped.
    """

    _object = "text_completion"

    _fast_open = b'{"text":'
    _fast_close = ',"index":0,"logprobs":null,'

    def feed(self, chunk: dict[str, Any]) -> bytes:
        """Translate one parsed Ollama chunk; ``b""`` when it carries nothing to send."""
        if self.done:
            return b""
        text = chunk.get("response")
        if text is None and "error" in chunk:
            return self._error(chunk)
        if self._head is None:
            self._build(chunk)
        if not chunk.get("done"):
            if not text:
                return b""
            return self._fast_prefix + _encode(text).encode() + self._fast_suffix
        choice = {
            "text": text or "",
            "index": 0,
            "logprobs": None,
            "finish_reason": finish_reason(chunk.get("done_reason"), False),
        }
        return self._last_event(chunk, choice)


def _owner(name: str) -> str:
    head, sep, _ = name.rpartition("/")
    return head.rsplit("/", 1)[-1] if sep else "library"


def model_entry(name: str, *, created: int = 0, owned_by: str | None = None) -> dict[str, Any]:
    """One ``/v1/models`` entry (also the body of ``/v1/models/{id}``)."""
    return {
        "id": name,
        "object": "model",
        "created": created,
        "owned_by": owned_by if owned_by is not None else _owner(name),
    }
