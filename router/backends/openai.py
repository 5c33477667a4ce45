"""Ollama-native requests for a model served by an OpenAI-compatible backend (llama.cpp's server,
vLLM, LM Studio, ``mlx_lm.server``), and the backend's answers back in Ollama's shape.

Owns the mapping both ways, as pure functions and one stateful stream converter:
- ``/api/chat`` and ``/api/generate`` -> ``POST /v1/chat/completions`` (Ollama applies the model's
  chat template to ``generate`` too, so chat is the faithful target): ``messages`` (``images`` as
  ``image_url`` data parts, ``tool_calls`` with JSON-string arguments), ``options`` ->
  ``temperature``/``top_p``/``seed``/``max_tokens``/``stop``/``presence_penalty``/
  ``frequency_penalty``, ``format`` -> ``response_format``, ``tools`` as they are; streaming asks
  for ``stream_options.include_usage`` so the final line carries token counts;
- ``/api/embed`` and ``/api/embeddings`` -> ``POST /v1/embeddings``;
- ``ChatStream`` turns the server's SSE ``data:`` lines into Ollama NDJSON lines (one per content
  delta, then a ``done`` line with ``done_reason``, token counts and durations; tool-call deltas are
  gathered and given on the final line, as Ollama does; without the server's usage the generated
  tokens are counted as content deltas);
- ``whole_answer`` maps a non-streaming answer.
Durations the server does not report are the router's measured ones, passed in (no clock here).
"""

from __future__ import annotations

import json
from typing import Any

OPENAI_PATHS = {
    "chat": "/v1/chat/completions",
    "generate": "/v1/chat/completions",
    "embed": "/v1/embeddings",
    "embeddings": "/v1/embeddings",
}
_OPTIONS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "seed": "seed",
    "num_predict": "max_tokens",
    "stop": "stop",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
}
_DONE_REASONS = {"length": "length", "tool_calls": "stop", "stop": "stop"}


def _message(message: dict[str, Any]) -> dict[str, Any]:
    role = message.get("role", "user")
    content = message.get("content") or ""
    images = message.get("images") or []
    out: dict[str, Any] = {"role": role}
    if images:
        parts: list[dict[str, Any]] = [{"type": "text", "text": content}] if content else []
        parts += [
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{image}"}}
            for image in images
        ]
        out["content"] = parts
    else:
        out["content"] = content
    calls = message.get("tool_calls")
    if isinstance(calls, list) and calls:
        out["tool_calls"] = [
            {
                "id": call.get("id") or f"call_{i}",
                "type": "function",
                "function": {
                    "name": call.get("function", {}).get("name", ""),
                    "arguments": json.dumps(call.get("function", {}).get("arguments", {})),
                },
            }
            for i, call in enumerate(calls)
        ]
    if role == "tool" and message.get("tool_call_id"):
        out["tool_call_id"] = message["tool_call_id"]
    return out


def _response_format(fmt: Any) -> dict[str, Any] | None:
    if fmt == "json":
        return {"type": "json_object"}
    if isinstance(fmt, dict):
        return {"type": "json_schema", "json_schema": {"name": "response", "schema": fmt}}
    return None


def chat_request(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI chat-completions body for an Ollama ``chat`` or ``generate`` body."""
    if kind == "generate":
        messages: list[dict[str, Any]] = []
        if body.get("system"):
            messages.append({"role": "system", "content": body["system"]})
        prompt = {"role": "user", "content": body.get("prompt", "")}
        if body.get("images"):
            prompt["images"] = body["images"]
        messages.append(prompt)
    else:
        messages = list(body.get("messages") or [])
    stream = bool(body.get("stream", True))
    out: dict[str, Any] = {
        "model": body.get("model", ""),
        "messages": [_message(m) for m in messages if isinstance(m, dict)],
        "stream": stream,
    }
    if stream:
        out["stream_options"] = {"include_usage": True}
    options = body.get("options") or {}
    for ollama_name, openai_name in _OPTIONS.items():
        if options.get(ollama_name) is not None:
            out[openai_name] = options[ollama_name]
    response_format = _response_format(body.get("format"))
    if response_format is not None:
        out["response_format"] = response_format
    if body.get("tools"):
        out["tools"] = body["tools"]
    return out


def embeddings_request(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI embeddings body for an Ollama ``embed`` (``input``) or ``embeddings``
    (``prompt``) body."""
    value = body.get("prompt", "") if kind == "embeddings" else body.get("input", "")
    out: dict[str, Any] = {"model": body.get("model", ""), "input": value}
    if body.get("dimensions"):
        out["dimensions"] = body["dimensions"]
    return out


def request_body(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    if kind in ("embed", "embeddings"):
        return embeddings_request(kind, body)
    return chat_request(kind, body)


def _tool_calls(calls: Any) -> list[dict[str, Any]]:
    """OpenAI tool calls (JSON-string arguments) as Ollama's (object arguments)."""
    out: list[dict[str, Any]] = []
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") or {}
        raw = function.get("arguments") or "{}"
        try:
            arguments = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            arguments = {"_raw": raw}
        out.append({"function": {"name": function.get("name", ""), "arguments": arguments}})
    return out


def _finish(
    kind: str,
    model: str,
    created_at: str,
    usage: Any,
    done_reason: str,
    elapsed_ns: int,
    first_token_ns: int | None,
) -> dict[str, Any]:
    usage = usage if isinstance(usage, dict) else {}
    prompt_tokens = int(usage.get("prompt_tokens") or 0)
    completion_tokens = int(usage.get("completion_tokens") or 0)
    prompt_ns = first_token_ns if first_token_ns is not None else 0
    line: dict[str, Any] = {"model": model, "created_at": created_at}
    line["message" if kind == "chat" else "response"] = (
        {"role": "assistant", "content": ""} if kind == "chat" else ""
    )
    line.update(
        done=True,
        done_reason=done_reason,
        total_duration=elapsed_ns,
        load_duration=0,
        prompt_eval_count=prompt_tokens,
        prompt_eval_duration=prompt_ns,
        eval_count=completion_tokens,
        eval_duration=max(elapsed_ns - prompt_ns, 0),
    )
    return line


def whole_answer(
    kind: str, model: str, answer: Any, created_at: str, elapsed_ns: int
) -> dict[str, Any]:
    """A non-streaming OpenAI answer as Ollama's non-streaming answer of the same ``kind``."""
    if not isinstance(answer, dict):
        raise ValueError("the backend's answer is not a JSON object")
    if kind in ("embed", "embeddings"):
        vectors = [d.get("embedding", []) for d in answer.get("data", []) if isinstance(d, dict)]
        prompt_tokens = int((answer.get("usage") or {}).get("prompt_tokens") or 0)
        if kind == "embeddings":
            return {"embedding": vectors[0] if vectors else []}
        return {
            "model": model,
            "embeddings": vectors,
            "total_duration": elapsed_ns,
            "load_duration": 0,
            "prompt_eval_count": prompt_tokens,
        }
    choices = answer.get("choices") or []
    if not choices:
        raise ValueError("the backend's answer has no choices")
    message = choices[0].get("message") or {}
    reason = _DONE_REASONS.get(choices[0].get("finish_reason") or "stop", "stop")
    line = _finish(kind, model, created_at, answer.get("usage"), reason, elapsed_ns, None)
    content = message.get("content") or ""
    if kind == "chat":
        line["message"] = {"role": "assistant", "content": content}
        if message.get("tool_calls"):
            line["message"]["tool_calls"] = _tool_calls(message["tool_calls"])
    else:
        line["response"] = content
    return line


class ChatStream:
    """SSE lines of a streamed chat completion in, Ollama NDJSON lines out."""

    def __init__(self, kind: str, model: str) -> None:
        self.kind = kind
        self.model = model
        self.usage: Any = None
        self.finish_reason = "stop"
        self.calls: dict[int, dict[str, Any]] = {}
        self.done = False
        self.first_token_ns: int | None = None
        self.chunks = 0
        """Content deltas seen: the token count when the server sends no usage (llama.cpp's
        Python server ignores ``stream_options``)."""

    def _line(self, created_at: str, content: str) -> bytes:
        line: dict[str, Any] = {"model": self.model, "created_at": created_at}
        if self.kind == "chat":
            line["message"] = {"role": "assistant", "content": content}
        else:
            line["response"] = content
        line["done"] = False
        return _dump(line)

    def feed(self, raw: bytes, created_at: str, elapsed_ns: int) -> list[bytes]:
        """The Ollama lines for one SSE line (most give one or none)."""
        text = raw.strip()
        if not text.startswith(b"data:"):
            return []
        data = text[5:].strip()
        if data == b"[DONE]":
            return [self.final(created_at, elapsed_ns)]
        try:
            event = json.loads(data)
        except ValueError:
            return []
        if not isinstance(event, dict):
            return []
        if isinstance(event.get("error"), dict | str):
            error = event["error"]
            message = error.get("message") if isinstance(error, dict) else error
            self.done = True
            return [_dump({"error": str(message)})]
        if event.get("usage"):
            self.usage = event["usage"]
        out: list[bytes] = []
        for choice in event.get("choices") or []:
            delta = choice.get("delta") or {}
            for call in delta.get("tool_calls") or []:
                self._gather(call)
            if choice.get("finish_reason"):
                self.finish_reason = _DONE_REASONS.get(choice["finish_reason"], "stop")
            content = delta.get("content")
            if content:
                if self.first_token_ns is None:
                    self.first_token_ns = elapsed_ns
                self.chunks += 1
                out.append(self._line(created_at, content))
        return out

    def _gather(self, call: dict[str, Any]) -> None:
        slot = self.calls.setdefault(int(call.get("index", 0)), {"name": "", "arguments": ""})
        function = call.get("function") or {}
        slot["name"] += function.get("name") or ""
        slot["arguments"] += function.get("arguments") or ""

    def final(self, created_at: str, elapsed_ns: int) -> bytes:
        """The ``done`` line (also when the server ended without ``[DONE]``)."""
        self.done = True
        usage = self.usage or {"completion_tokens": self.chunks}
        line = _finish(
            self.kind,
            self.model,
            created_at,
            usage,
            self.finish_reason,
            elapsed_ns,
            self.first_token_ns,
        )
        if self.calls and self.kind == "chat":
            line["message"]["tool_calls"] = _tool_calls(
                [{"function": self.calls[i]} for i in sorted(self.calls)]
            )
        return _dump(line)


def _dump(line: dict[str, Any]) -> bytes:
    return json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
