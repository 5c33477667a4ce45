"""Ollama stream chunks -> the one non-streaming reply Ollama would have given.

Owns the merge of ``/api/chat`` and ``/api/generate`` NDJSON chunks: content and thinking are
concatenated, every tool call is kept (earlier routers dropped them), and the statistics and any
unknown fields come from the final ``done`` chunk. Never does I/O.
"""

from __future__ import annotations

from typing import Any

from router.translate.errors import TranslationError


class OllamaStreamMerger:
    """Accumulates chunks one by one (no chunk list kept); ``result()`` gives the merged reply.

    An ``{"error": ...}`` chunk raises ``TranslationError`` (status 500, code ``upstream_error``);
    ``result()`` before the final chunk raises one with status 502, code ``incomplete_stream``.
    """

    __slots__ = ("_chat", "_content", "_final", "_role", "_thinking", "_tool_calls")

    def __init__(self) -> None:
        self._content: list[str] = []
        self._thinking: list[str] = []
        self._tool_calls: list[Any] = []
        self._final: dict[str, Any] | None = None
        self._chat = False
        self._role = "assistant"

    @property
    def done(self) -> bool:
        """Whether the final chunk has arrived."""
        return self._final is not None

    def add(self, chunk: dict[str, Any]) -> None:
        """Take in one parsed chunk; chunks after the final one are ignored."""
        if self._final is not None:
            return
        if "error" in chunk and not chunk.get("done"):
            raise TranslationError(str(chunk["error"]), 500, None, "upstream_error")
        message = chunk.get("message")
        if isinstance(message, dict):
            self._chat = True
            role = message.get("role")
            if role:
                self._role = role
            text = message.get("content")
            thinking = message.get("thinking")
            calls = message.get("tool_calls")
        else:
            text = chunk.get("response")
            thinking = chunk.get("thinking")
            calls = None
        if text:
            self._content.append(text)
        if thinking:
            self._thinking.append(thinking)
        if calls:
            self._tool_calls.extend(calls)
        if chunk.get("done"):
            self._final = chunk

    def result(self) -> dict[str, Any]:
        """The merged non-streaming reply."""
        if self._final is None:
            raise TranslationError(
                "upstream stream ended before its final chunk", 502, None, "incomplete_stream"
            )
        out = dict(self._final)
        content = "".join(self._content)
        thinking = "".join(self._thinking)
        if self._chat:
            final_message = self._final.get("message")
            message: dict[str, Any] = dict(final_message) if isinstance(final_message, dict) else {}
            message["role"] = self._role
            message["content"] = content
            if thinking:
                message["thinking"] = thinking
            else:
                message.pop("thinking", None)
            if self._tool_calls:
                message["tool_calls"] = list(self._tool_calls)
            else:
                message.pop("tool_calls", None)
            out["message"] = message
        else:
            out["response"] = content
            if thinking:
                out["thinking"] = thinking
        return out


def merge_stream(chunks: Any) -> dict[str, Any]:
    """Merge an iterable of parsed Ollama chunks into one non-streaming reply."""
    merger = OllamaStreamMerger()
    for chunk in chunks:
        merger.add(chunk)
        if merger.done:
            break
    return merger.result()
