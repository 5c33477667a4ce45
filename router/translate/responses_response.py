"""Ollama ``/api/chat`` replies -> OpenAI Responses objects: the whole response and the SSE stream.

Owns the ``response`` object and the event sequence of a streamed response, as Ollama's own
Responses layer spells them. Every event carries ``type`` and a running ``sequence_number``:

``response.created``, ``response.in_progress``; for thinking a ``reasoning`` item
(``output_item.added``, ``reasoning_summary_text.delta``..., ``reasoning_summary_text.done``,
``output_item.done``); for text a ``message`` item (``output_item.added``,
``content_part.added``, ``output_text.delta``..., ``output_text.done``, ``content_part.done``,
``output_item.done``); per tool call a ``function_call`` item (``output_item.added``,
``function_call_arguments.delta``, ``function_call_arguments.done``, ``output_item.done``); then
``response.completed`` with the whole output and ``usage``. A failure mid-stream ends it with
``response.failed``. As in Ollama, a reply that calls tools carries no text item.

Ids and times are passed in: ``resp_<stem>``, ``msg_<stem>``, ``rs_<stem>``, ``fc_<stem>_<n>``;
call ids are Ollama's when it sends one, else ``call_<stem>_<n>``. Never does I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_loads = json.loads


def responses_usage(reply: dict[str, Any]) -> dict[str, Any]:
    prompt = int(reply.get("prompt_eval_count") or 0)
    completion = int(reply.get("eval_count") or 0)
    return {
        "input_tokens": prompt,
        "output_tokens": completion,
        "total_tokens": prompt + completion,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }


def response_object(
    request: dict[str, Any],
    *,
    id: str,
    model: str,
    created_at: int,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None = None,
    completed_at: int | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``response`` object, echoing the request's settings as Ollama does."""
    text = request.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    reasoning = request.get("reasoning")
    return {
        "id": id,
        "object": "response",
        "created_at": created_at,
        "completed_at": completed_at,
        "status": status,
        "incomplete_details": None,
        "model": model,
        "previous_response_id": None,
        "instructions": request.get("instructions") or None,
        "output": output,
        "error": error,
        "tools": request.get("tools") or [],
        "tool_choice": request.get("tool_choice") or "auto",
        "truncation": request.get("truncation") or "disabled",
        "parallel_tool_calls": True,
        "text": {"format": fmt if isinstance(fmt, dict) else {"type": "text"}},
        "top_p": _number(request.get("top_p"), 1.0),
        "temperature": _number(request.get("temperature"), 1.0),
        "presence_penalty": 0,
        "frequency_penalty": 0,
        "top_logprobs": 0,
        "reasoning": reasoning if isinstance(reasoning, dict) and reasoning else None,
        "usage": usage,
        "max_output_tokens": request.get("max_output_tokens"),
        "max_tool_calls": None,
        "store": False,
        "background": bool(request.get("background")),
        "service_tier": "default",
        "metadata": {},
        "safety_identifier": None,
        "prompt_cache_key": None,
    }


def _number(value: Any, default: float) -> Any:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else default


def _stem(response_id: str) -> str:
    return response_id.removeprefix("resp_")


def _reasoning_item(stem: str, thinking: str) -> dict[str, Any]:
    return {
        "id": f"rs_{stem}",
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": thinking}],
        "encrypted_content": thinking,
    }


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _message_item(stem: str, text: str, status: str = "completed") -> dict[str, Any]:
    content = [_text_part(text)] if status == "completed" else []
    return {
        "id": f"msg_{stem}",
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def _call_item(call: dict[str, Any], index: int, stem: str) -> dict[str, Any]:
    fn = call.get("function") or {}
    arguments = fn.get("arguments")
    if not isinstance(arguments, str):
        arguments = _encode(arguments if arguments is not None else {})
    call_id = call.get("id")
    return {
        "id": f"fc_{stem}_{index}",
        "type": "function_call",
        "status": "completed",
        "call_id": call_id if isinstance(call_id, str) and call_id else f"call_{stem}_{index}",
        "name": fn.get("name", ""),
        "arguments": arguments,
    }


def reply_to_response(
    reply: dict[str, Any],
    request: dict[str, Any],
    *,
    id: str,
    model: str,
    created_at: int,
    completed_at: int,
) -> dict[str, Any]:
    """A non-streaming ``/api/chat`` reply as a completed ``response``."""
    message = reply.get("message") or {}
    stem = _stem(id)
    output: list[dict[str, Any]] = []
    if message.get("thinking"):
        output.append(_reasoning_item(stem, message["thinking"]))
    calls = message.get("tool_calls") or []
    if calls:
        output.extend(_call_item(call, i, stem) for i, call in enumerate(calls))
    else:
        output.append(_message_item(stem, message.get("content") or ""))
    return response_object(
        request,
        id=id,
        model=model,
        created_at=created_at,
        status="completed",
        output=output,
        usage=responses_usage(reply),
        completed_at=completed_at,
    )


class ResponsesStreamTranslator:
    """Ollama ``/api/chat`` stream chunks -> Responses SSE events (see the module docstring).

    ``clock`` (epoch seconds, passed in) stamps ``completed_at`` on ``response.completed``.
    """

    def __init__(
        self,
        request: dict[str, Any],
        *,
        id: str,
        model: str,
        created_at: int,
        clock: Callable[[], float],
    ) -> None:
        self.request = request
        self.clock = clock
        self.id = id
        self.model = model
        self.created_at = created_at
        self.done = False
        self.failed = False
        self._stem = _stem(id)
        self._sequence = 0
        self._started = False
        self._output: list[dict[str, Any]] = []
        self._thinking: list[str] | None = None
        self._text: list[str] | None = None
        self._calls = 0

    def feed_line(self, line: bytes | str) -> bytes:
        if not line.strip():
            return b""
        return self.feed(_loads(line))

    def finish(self) -> bytes:
        return b""

    def _event(self, kind: str, body: dict[str, Any]) -> bytes:
        body = {"type": kind, "sequence_number": self._sequence, **body}
        self._sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + _encode(body).encode() + b"\n\n"

    def _response(self, status: str, **extra: Any) -> dict[str, Any]:
        return response_object(
            self.request,
            id=self.id,
            model=self.model,
            created_at=self.created_at,
            status=status,
            output=list(self._output) if status != "in_progress" else [],
            **extra,
        )

    def feed(self, chunk: dict[str, Any]) -> bytes:
        if self.done or self.failed:
            return b""
        out = [self._head()]
        message = chunk.get("message")
        if message is None and "error" in chunk:
            out.append(self.fail(str(chunk["error"])))
            return b"".join(out)
        message = message or {}
        if message.get("thinking"):
            out.append(self._think(message["thinking"]))
        calls = message.get("tool_calls") or []
        if calls:
            out.append(self._end_thinking())
            out.extend(self._call(call) for call in calls)
        elif message.get("content") and not self._calls:
            out.append(self._say(message["content"]))
        if chunk.get("done"):
            out.append(self._end(chunk))
        return b"".join(out)

    def fail(self, message: str) -> bytes:
        """The ``response.failed`` event that ends a stream the node broke off."""
        self.failed = True
        error = {"code": "server_error", "message": message}
        return self._event("response.failed", {"response": self._response("failed", error=error)})

    def _head(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        created = self._event("response.created", {"response": self._response("in_progress")})
        return created + self._event(
            "response.in_progress", {"response": self._response("in_progress")}
        )

    def _think(self, text: str) -> bytes:
        out = b""
        index = len(self._output)
        if self._thinking is None:
            self._thinking = []
            item = {"id": f"rs_{self._stem}", "type": "reasoning", "summary": []}
            out += self._event("response.output_item.added", {"output_index": index, "item": item})
        self._thinking.append(text)
        body = {"item_id": f"rs_{self._stem}", "output_index": index, "summary_index": 0}
        return out + self._event("response.reasoning_summary_text.delta", {**body, "delta": text})

    def _end_thinking(self) -> bytes:
        if self._thinking is None:
            return b""
        text = "".join(self._thinking)
        self._thinking = None
        index = len(self._output)
        item = _reasoning_item(self._stem, text)
        self._output.append(item)
        body = {"item_id": item["id"], "output_index": index, "summary_index": 0, "text": text}
        return self._event("response.reasoning_summary_text.done", body) + self._event(
            "response.output_item.done", {"output_index": index, "item": item}
        )

    def _say(self, text: str) -> bytes:
        out = b""
        index = len(self._output)
        item_id = f"msg_{self._stem}"
        if self._text is None:
            out += self._end_thinking()
            index = len(self._output)
            self._text = []
            item = _message_item(self._stem, "", status="in_progress")
            out += self._event("response.output_item.added", {"output_index": index, "item": item})
            part = {"item_id": item_id, "output_index": index, "content_index": 0}
            out += self._event("response.content_part.added", {**part, "part": _text_part("")})
        self._text.append(text)
        body = {"item_id": item_id, "output_index": index, "content_index": 0, "delta": text}
        return out + self._event("response.output_text.delta", {**body, "logprobs": []})

    def _end_text(self) -> bytes:
        if self._text is None:
            return b""
        text = "".join(self._text)
        self._text = None
        index = len(self._output)
        item = _message_item(self._stem, text)
        self._output.append(item)
        where = {"item_id": item["id"], "output_index": index, "content_index": 0}
        return (
            self._event("response.output_text.done", {**where, "text": text, "logprobs": []})
            + self._event("response.content_part.done", {**where, "part": _text_part(text)})
            + self._event("response.output_item.done", {"output_index": index, "item": item})
        )

    def _call(self, call: dict[str, Any]) -> bytes:
        item = _call_item(call, self._calls, self._stem)
        self._calls += 1
        index = len(self._output)
        self._output.append(item)
        added = {**item, "status": "in_progress", "arguments": ""}
        where = {"item_id": item["id"], "output_index": index}
        return (
            self._event("response.output_item.added", {"output_index": index, "item": added})
            + self._event(
                "response.function_call_arguments.delta", {**where, "delta": item["arguments"]}
            )
            + self._event(
                "response.function_call_arguments.done", {**where, "arguments": item["arguments"]}
            )
            + self._event("response.output_item.done", {"output_index": index, "item": item})
        )

    def _end(self, chunk: dict[str, Any]) -> bytes:
        self.done = True
        out = self._end_thinking() + self._end_text()
        response = self._response(
            "completed", usage=responses_usage(chunk), completed_at=int(self.clock())
        )
        return out + self._event("response.completed", {"response": response})
