"""How the simulator answers in the Anthropic Messages and OpenAI Responses formats: writers that
turn its chat replies (the NDJSON chunks of ``/api/chat``, or the one reply of a non-streamed chat)
into those APIs' SSE events while building the final object as they go.

Anthropic: ``message_start``, per content block (``thinking``, ``text``, ``tool_use``)
``content_block_start`` / ``content_block_delta`` (``thinking_delta``, ``text_delta``,
``input_json_delta``) / ``content_block_stop``, then ``message_delta`` (stop reason ``end_turn``,
``max_tokens`` or ``tool_use``, and usage) and ``message_stop``. Responses: ``response.created``,
``response.in_progress``, per output item ``output_item.added``, ``content_part.added`` /
``output_text.delta`` / ``output_text.done`` / ``content_part.done`` or
``function_call_arguments.delta`` / ``.done``, ``output_item.done``, and ``response.completed``
with usage; every event numbered by ``sequence_number``. A non-streamed answer feeds the one reply
and takes the writer's ``result``. An ``error`` chunk becomes the API's error event. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .framing import dumps

Ids = Callable[[str], str]
"""Makes a fresh id with the given prefix (``toolu``, ``msg``, ``fc``, ``call``)."""


def event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + dumps({"type": kind, **data}) + b"\n\n"


class MessagesWriter:
    """Anthropic Messages: the events of one answer and the message object it builds."""

    def __init__(self, ident: str, model: str, input_tokens: int, ids: Ids) -> None:
        self.message: dict[str, Any] = {
            "id": ident,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 0},
        }
        self.ids = ids
        self.open: str | None = None
        self.started = False

    def _close(self) -> bytes:
        if self.open is None:
            return b""
        self.open = None
        return event("content_block_stop", {"index": len(self.message["content"]) - 1})

    def _block(self, block: dict[str, Any], kind: str | None) -> bytes:
        out = self._close()
        self.message["content"].append(block)
        self.open = kind
        start = {"index": len(self.message["content"]) - 1, "content_block": dict(block)}
        return out + event("content_block_start", start)

    def _delta(self, kind: str, field: str, text: str) -> bytes:
        out = b"" if self.open == kind else self._block({"type": kind, field: ""}, kind)
        self.message["content"][-1][field] += text
        delta = {"type": f"{kind}_delta", field: text}
        return out + event(
            "content_block_delta", {"index": len(self.message["content"]) - 1, "delta": delta}
        )

    def _tool_use(self, call: dict[str, Any]) -> bytes:
        function = call.get("function", {})
        arguments = function.get("arguments", {})
        block = {"type": "tool_use", "id": call.get("id") or self.ids("toolu")}
        out = self._block({**block, "name": function.get("name", ""), "input": {}}, "tool_use")
        self.message["content"][-1]["input"] = arguments
        delta = {"type": "input_json_delta", "partial_json": json.dumps(arguments)}
        out += event(
            "content_block_delta", {"index": len(self.message["content"]) - 1, "delta": delta}
        )
        return out + self._close()

    def feed(self, chunk: dict[str, Any]) -> bytes:
        out = b""
        if not self.started:
            self.started = True
            out += event("message_start", {"message": {**self.message, "content": []}})
        if "error" in chunk:
            error = {"type": "api_error", "message": str(chunk["error"])}
            return out + event("error", {"error": error})
        message = chunk.get("message") or {}
        if message.get("thinking"):
            out += self._delta("thinking", "thinking", message["thinking"])
        if message.get("content"):
            out += self._delta("text", "text", message["content"])
        for call in message.get("tool_calls") or []:
            out += self._tool_use(call)
        if chunk.get("done"):
            out += self._close() + self._finish(chunk)
        return out

    def _finish(self, chunk: dict[str, Any]) -> bytes:
        if any(block["type"] == "tool_use" for block in self.message["content"]):
            reason = "tool_use"
        else:
            reason = "max_tokens" if chunk.get("done_reason") == "length" else "end_turn"
        usage = {
            "input_tokens": int(chunk.get("prompt_eval_count", 0)),
            "output_tokens": int(chunk.get("eval_count", 0)),
        }
        self.message.update({"stop_reason": reason, "usage": usage})
        delta = {"delta": {"stop_reason": reason, "stop_sequence": None}, "usage": usage}
        return event("message_delta", delta) + event("message_stop", {})

    def result(self) -> dict[str, Any]:
        return self.message


class ResponsesWriter:
    """OpenAI Responses: the events of one answer and the response object it builds."""

    def __init__(self, request: dict[str, Any], ident: str, created: int, ids: Ids) -> None:
        self.response: dict[str, Any] = {
            "id": ident,
            "object": "response",
            "created_at": created,
            "status": "in_progress",
            "model": request.get("model"),
            "output": [],
            "error": None,
            "incomplete_details": None,
            "instructions": request.get("instructions"),
            "max_output_tokens": request.get("max_output_tokens"),
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "temperature": request.get("temperature"),
            "top_p": request.get("top_p"),
            "tool_choice": request.get("tool_choice", "auto"),
            "tools": request.get("tools") or [],
            "text": request.get("text") or {"format": {"type": "text"}},
            "truncation": "disabled",
            "metadata": {},
            "usage": None,
        }
        self.ids = ids
        self.sequence = 0
        self.text_open = False
        self.reasoning_open = False

    def _event(self, kind: str, data: dict[str, Any]) -> bytes:
        out = event(kind, {**data, "sequence_number": self.sequence})
        self.sequence += 1
        return out

    def _added(self, item: dict[str, Any]) -> bytes:
        self.response["output"].append(item)
        added = {"output_index": len(self.response["output"]) - 1, "item": dict(item)}
        return self._event("response.output_item.added", added)

    def _item_done(self) -> bytes:
        item = self.response["output"][-1]
        item["status"] = "completed"
        done = {"output_index": len(self.response["output"]) - 1, "item": item}
        return self._event("response.output_item.done", done)

    def _thinking(self, text: str) -> bytes:
        out = b""
        place = {"summary_index": 0}
        if not self.reasoning_open:
            self.reasoning_open = True
            item = {"id": self.ids("rs"), "type": "reasoning", "status": "in_progress"}
            out += self._added({**item, "summary": []})
            part = {"type": "summary_text", "text": ""}
            self.response["output"][-1]["summary"].append(part)
            added = {**self._where(), **place, "part": dict(part)}
            out += self._event("response.reasoning_summary_part.added", added)
        self.response["output"][-1]["summary"][0]["text"] += text
        delta = {**self._where(), **place, "delta": text}
        return out + self._event("response.reasoning_summary_text.delta", delta)

    def _close_thinking(self) -> bytes:
        if not self.reasoning_open:
            return b""
        self.reasoning_open = False
        part = self.response["output"][-1]["summary"][0]
        place = {**self._where(), "summary_index": 0}
        out = self._event("response.reasoning_summary_text.done", {**place, "text": part["text"]})
        out += self._event("response.reasoning_summary_part.done", {**place, "part": part})
        return out + self._item_done()

    def _text(self, text: str) -> bytes:
        out = self._close_thinking()
        place = {"content_index": 0}
        if not self.text_open:
            self.text_open = True
            item = {"id": self.ids("msg"), "type": "message", "status": "in_progress"}
            out += self._added({**item, "role": "assistant", "content": []})
            part = {"type": "output_text", "text": "", "annotations": []}
            self.response["output"][-1]["content"].append(part)
            out += self._event(
                "response.content_part.added", {**self._where(), **place, "part": part}
            )
        self.response["output"][-1]["content"][0]["text"] += text
        return out + self._event(
            "response.output_text.delta", {**self._where(), **place, "delta": text}
        )

    def _where(self) -> dict[str, Any]:
        return {
            "item_id": self.response["output"][-1]["id"],
            "output_index": len(self.response["output"]) - 1,
        }

    def _close_text(self) -> bytes:
        if not self.text_open:
            return b""
        self.text_open = False
        part = self.response["output"][-1]["content"][0]
        place = {**self._where(), "content_index": 0}
        out = self._event("response.output_text.done", {**place, "text": part["text"]})
        out += self._event("response.content_part.done", {**place, "part": part})
        return out + self._item_done()

    def _call(self, call: dict[str, Any]) -> bytes:
        out = self._close_thinking() + self._close_text()
        function = call.get("function", {})
        arguments = json.dumps(function.get("arguments", {}))
        item = {"id": self.ids("fc"), "type": "function_call", "status": "in_progress"}
        call_id = call.get("id") or self.ids("call")
        out += self._added(
            {**item, "call_id": call_id, "name": function.get("name", ""), "arguments": ""}
        )
        self.response["output"][-1]["arguments"] = arguments
        out += self._event(
            "response.function_call_arguments.delta", {**self._where(), "delta": arguments}
        )
        out += self._event(
            "response.function_call_arguments.done", {**self._where(), "arguments": arguments}
        )
        return out + self._item_done()

    def feed(self, chunk: dict[str, Any]) -> bytes:
        out = b""
        if self.sequence == 0:
            out += self._event("response.created", {"response": dict(self.response)})
            out += self._event("response.in_progress", {"response": dict(self.response)})
        if "error" in chunk:
            self.response.update(
                status="failed", error={"code": "server_error", "message": str(chunk["error"])}
            )
            return out + self._event("response.failed", {"response": self.response})
        message = chunk.get("message") or {}
        if message.get("thinking"):
            out += self._thinking(message["thinking"])
        if message.get("content"):
            out += self._text(message["content"])
        for call in message.get("tool_calls") or []:
            out += self._call(call)
        if chunk.get("done"):
            out += self._close_thinking() + self._close_text()
            inputs, outputs = (
                int(chunk.get("prompt_eval_count", 0)),
                int(chunk.get("eval_count", 0)),
            )
            usage = {
                "input_tokens": inputs,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": outputs,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": inputs + outputs,
            }
            self.response.update(status="completed", usage=usage)
            out += self._event("response.completed", {"response": self.response})
        return out

    def result(self) -> dict[str, Any]:
        return self.response
