"""Going on with a streamed answer on another node when its node failed after the first byte.

Owns the rules of a resumed stream: which requests and which partial answers may be continued
(``request_refusal``, ``Streamed.refusal``), what the client has had so far (``Streamed``, fed the
NDJSON lines of each part whose node failed), the request that continues the answer
(``continued_request``), how the continuation's lines join the one stream the client reads
(``Joiner``) and the totals of its ``done`` line. Pure: no I/O, no clock (times are passed in).

How an answer is continued: the request goes again to a node serving the same model with the
text already streamed as a trailing assistant message. Ollama continues such a message instead of
starting a new turn (checked in Ollama v0.33.0-rc2: ``template.Execute`` cuts a legacy template
after ``.Response`` of the last assistant message, message templates end without a new generation
prompt when the last message is the assistant's, and the model parsers start a prefill's
continuation in content, even with thinking on). So:

- ``/api/chat``: the messages plus ``{"role": "assistant", "content": <streamed>, "thinking":
  <streamed thinking, when any>}``;
- ``/api/generate``: sent as the chat Ollama renders a generate request as (the ``system``
  message when given, the ``prompt`` as the user's, then the prefill), its chat lines turned back
  into generate lines. Not for ``raw`` prompts, a ``context``, a ``suffix``, ``images`` or a
  ``template`` of the request's own: their prompt is not that chat, so those are not resumed;
- not for a ``format`` (structured outputs constrain the reply from its start: a continuation
  would be constrained as a whole new JSON value);
- not once a tool call was streamed (it is complete in its chunk: nothing to continue), nor while
  the answer was still thinking (Ollama continues a prefill as content, so the rest of the
  thinking would be lost): in both cases the stream ends with the error line as without
  resumption;
- ``num_predict``, when the client set a positive one, is reduced by the tokens already streamed
  (never below 1). Tokens are counted as chunks carrying text (Ollama streams about one token per
  chunk);
- the ``done`` line the client gets is the last node's, with ``eval_count`` and
  ``eval_duration`` covering every part and ``total_duration`` from the request's arrival;
  ``prompt_eval_count``/``load_duration`` are the last node's (its prompt held the prefill); a
  resumed ``/api/generate`` answer's ``done`` line has no ``context`` (no node saw the whole).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MAX_RESUMES = 2
"""At most this many times one answer goes on on another node."""

_GENERATE_ONLY = ("raw", "context", "suffix", "images", "template")
_GENERATE_DROPPED = frozenset({"prompt", "system", *_GENERATE_ONLY})


def request_refusal(kind: str, body: dict[str, Any]) -> str | None:
    """Why an answer to this request cannot be continued faithfully elsewhere, or None."""
    if kind not in ("chat", "generate"):
        return f"a {kind} answer is not streamed text"
    if body.get("format"):
        return "a structured output (format) cannot be continued"
    if kind == "generate":
        given = [key for key in _GENERATE_ONLY if body.get(key)]
        if given:
            return f"a generate request with {', '.join(given)} cannot be continued as a chat"
        if not isinstance(body.get("prompt"), str):
            return "a generate request without a prompt"
    elif not isinstance(body.get("messages"), list):
        return "a chat request without messages"
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


@dataclass(slots=True)
class Streamed:
    """What the client has had of the answer from nodes that then failed."""

    kind: str
    content: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    tool_calls: bool = False
    tokens: int = 0
    """Chunks that carried text, thinking or a tool call: the tokens the client has."""
    eval_s: float = 0.0
    """Seconds the failed parts streamed (first to last chunk)."""
    parts: int = 0

    def add_part(self, lines: list[bytes], seconds: float) -> None:
        """The NDJSON lines one node streamed before it failed, over ``seconds``."""
        self.parts += 1
        self.eval_s += max(seconds, 0.0)
        for line in lines:
            try:
                chunk = json.loads(line)
            except ValueError:
                continue
            if not isinstance(chunk, dict):
                continue
            if self.kind == "chat":
                message = chunk.get("message")
                message = message if isinstance(message, dict) else {}
                text, thought = _text(message.get("content")), _text(message.get("thinking"))
                calls = bool(message.get("tool_calls"))
            else:
                text, thought = _text(chunk.get("response")), _text(chunk.get("thinking"))
                calls = False
            self.content.append(text)
            self.thinking.append(thought)
            self.tool_calls = self.tool_calls or calls
            self.tokens += bool(text or thought or calls)

    @property
    def text(self) -> str:
        return "".join(self.content)

    def refusal(self) -> str | None:
        """Why what was streamed cannot be continued, or None."""
        if self.tool_calls:
            return "a tool call was already streamed"
        if any(self.thinking) and not self.text:
            return "the answer was still thinking (Ollama continues a prefill as content)"
        return None


def continued_request(
    kind: str, body: dict[str, Any], streamed: Streamed
) -> tuple[str, dict[str, Any]]:
    """The kind (always ``chat``) and body of the request that continues the answer."""
    if kind == "generate":
        messages: list[dict[str, Any]] = []
        if _text(body.get("system")):
            messages.append({"role": "system", "content": body["system"]})
        messages.append({"role": "user", "content": body["prompt"]})
        continued = {k: v for k, v in body.items() if k not in _GENERATE_DROPPED}
    else:
        messages = list(body["messages"])
        continued = dict(body)
    if streamed.text:
        prefill: dict[str, Any] = {"role": "assistant", "content": streamed.text}
        thinking = "".join(streamed.thinking)
        if thinking:
            prefill["thinking"] = thinking
        messages.append(prefill)
    continued["messages"] = messages
    options = continued.get("options")
    if isinstance(options, dict):
        continued["options"] = reduced_num_predict(options, streamed.tokens)
    return "chat", continued


def reduced_num_predict(options: dict[str, Any], tokens: int) -> dict[str, Any]:
    """``options`` with a positive ``num_predict`` reduced by ``tokens`` (never below 1);
    Ollama's -1 (no limit) and -2 (fill the context) are kept."""
    limit = options.get("num_predict")
    if isinstance(limit, bool) or not isinstance(limit, int | float) or limit <= 0:
        return options
    return {**options, "num_predict": max(int(limit) - tokens, 1)}


class Joiner:
    """The continuation's lines as lines of the answer the client is reading: chunks before the
    first that carries anything are dropped (no second start), a generate answer's chunks are
    turned back from chat into generate lines, and the ``done`` line gets the totals."""

    def __init__(self, kind: str, streamed: Streamed) -> None:
        self.kind = kind
        self.streamed = streamed
        self.started = False

    def line(self, line: bytes) -> bytes | None:
        """One line of the continuation as the client gets it (None: dropped)."""
        if self.started and self.kind == "chat":
            return line
        chunk = json.loads(line)
        message = chunk.get("message")
        message = message if isinstance(message, dict) else {}
        if not (message.get("content") or message.get("thinking") or message.get("tool_calls")):
            return None
        self.started = True
        return line if self.kind == "chat" else _encode(_as_generate(chunk))

    def done(self, final: dict[str, Any], total_ns: int) -> dict[str, Any]:
        """The continuation's ``done`` object with the totals of the whole answer."""
        merged = dict(final) if self.kind == "chat" else _as_generate(final)
        merged["eval_count"] = _int(final.get("eval_count")) + self.streamed.tokens
        merged["eval_duration"] = _int(final.get("eval_duration")) + int(self.streamed.eval_s * 1e9)
        merged["total_duration"] = max(total_ns, _int(final.get("total_duration")))
        return merged

    def done_line(self, final: dict[str, Any], total_ns: int) -> bytes:
        return _encode(self.done(final, total_ns))


def _as_generate(chunk: dict[str, Any]) -> dict[str, Any]:
    """A chat chunk (or ``done`` object) as the generate one Ollama would have sent."""
    message = chunk.get("message")
    message = message if isinstance(message, dict) else {}
    out: dict[str, Any] = {}
    for key, value in chunk.items():
        if key == "message":
            out["response"] = _text(message.get("content"))
            if message.get("thinking"):
                out["thinking"] = message["thinking"]
        else:
            out[key] = value
    return out


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _encode(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
