"""What the simulated models say: deterministic replies, tool calls, JSON and embeddings.

Pure functions of the request (no clock, no I/O, no state), so tests can predict every answer:
the same model, prompt and seed always give the same tokens.

Rules:
- a reply is 16-48 words drawn from a fixed word list by a generator seeded from
  (model, prompt, options.seed); one word is one token and one stream chunk;
- ``think`` prepends 8-23 "thinking" tokens (streamed in ``message.thinking`` first);
- ``format: "json"`` gives ``{"response": "<words>"}``; a JSON schema gives an object with every
  property of the schema filled by type (enum -> first value, string -> the last capitalised word
  of the prompt or "example", integer -> 1, number -> 1.5, boolean -> true, array -> one item);
- tool calls: when the request has ``tools`` and the last message is the user's, the model calls
  the first tool whose name (or the name with ``_`` read as a space) appears in that message; if
  none does but the message mentions "weather" or "tool", it calls the first tool. Arguments hold
  the tool's required parameters (all of them when none is marked required), filled as above;
- ``num_predict`` caps thinking + reply tokens (``done_reason: "length"``); a ``stop`` string ends
  the reply before it (``"stop"``);
- a conversation ending in an assistant message with text (a *prefill*) is continued, as Ollama
  does: the reply is the one the conversation without that message gets, from where the message
  ends (what a model decoding greedily would say), or, when the message is not a start of that
  reply, new words after it; no thinking (Ollama's parsers start a prefill's continuation in
  content), no tool call, and ``num_predict`` caps only the new tokens (``continuation``);
- token counts of prompts are ``ceil(characters / 4)``.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from dataclasses import dataclass
from typing import Any

_PROSE = (
    "the fleet routes each request to the device best placed to answer it quickly while "
    "memory bandwidth decides how fast tokens flow and a warm model saves a cold load so the "
    "router keeps big machines free for big models and small ones on small devices every node "
    "reports its queue depth thermal state and loaded context herd scores them all then picks "
    "one streams the answer back and records a trace"
)

_THINKING_PROSE = (
    "let me consider what is being asked first then weigh the options carefully and check the "
    "details before answering plainly with a short clear reply"
)

WORDS = tuple(_PROSE.split())
THOUGHTS = tuple(_THINKING_PROSE.split())


def count_tokens(text: str) -> int:
    """Approximate tokens in ``text``: one per four characters, rounded up."""
    return math.ceil(len(text) / 4) if text else 0


def seed_of(*parts: Any) -> int:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass
class Plan:
    """The tokens a reply will stream, and why it ends."""

    thinking: list[str]
    content: list[str]
    tool_calls: list[dict[str, Any]] | None
    done_reason: str

    @property
    def eval_count(self) -> int:
        calls = count_tokens(json.dumps(self.tool_calls)) if self.tool_calls else 0
        return len(self.thinking) + len(self.content) + calls


def _words(rng: random.Random, n: int, vocabulary: tuple[str, ...] | list[str]) -> list[str]:
    picked = [rng.choice(vocabulary) for _ in range(n)]
    if not picked:
        return []
    picked[0] = picked[0].capitalize()
    picked[-1] += "."
    return [w if i == 0 else " " + w for i, w in enumerate(picked)]


def _chop(text: str, size: int = 4) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _proper_noun(prompt: str) -> str:
    words = re.findall(r"[A-Za-z][A-Za-z'-]*", prompt)
    capitalised = [w for w in words[1:] if w[0].isupper()]
    return capitalised[-1] if capitalised else "example"


def value_for(schema: Any, prompt: str) -> Any:
    """A plausible value for a JSON-schema fragment."""
    if not isinstance(schema, dict):
        return "example"
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "array":
        return [value_for(schema.get("items", {"type": "string"}), prompt)]
    if kind == "object" or "properties" in schema:
        return object_for(schema, prompt, required_only=False)
    return _proper_noun(prompt)


def object_for(schema: dict[str, Any], prompt: str, *, required_only: bool) -> dict[str, Any]:
    properties = schema.get("properties") or {}
    if not isinstance(properties, dict):
        return {}
    required = schema.get("required") or []
    keys = [k for k in properties if k in required] if required_only and required else properties
    return {k: value_for(properties[k], prompt) for k in keys}


def choose_tool_call(
    tools: list[dict[str, Any]] | None, messages: list[dict[str, Any]]
) -> list[dict[str, Any]] | None:
    """The tool call the simulated model makes, or None (see the module rules)."""
    if not tools or not messages or not isinstance(messages[-1], dict):
        return None
    last = messages[-1]
    if last.get("role") != "user":
        return None
    prompt = text_of(last.get("content"))
    lowered = prompt.lower()
    declared = [t.get("function") for t in tools if isinstance(t, dict)]
    functions: list[dict[str, Any]] = [f for f in declared if isinstance(f, dict) and f.get("name")]
    if not functions:
        return None
    chosen = next(
        (
            f
            for f in functions
            if f["name"].lower() in lowered or f["name"].lower().replace("_", " ") in lowered
        ),
        None,
    )
    if chosen is None and ("weather" in lowered or "tool" in lowered):
        chosen = functions[0]
    if chosen is None:
        return None
    parameters = chosen.get("parameters") or {}
    arguments = object_for(parameters, prompt, required_only=True) if parameters else {}
    return [{"function": {"name": chosen["name"], "arguments": arguments}}]


def text_of(content: Any) -> str:
    """Text of a message content: a string, or OpenAI's list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p
        )
    return ""


def plan_reply(
    *,
    model: str,
    prompt: str,
    options: dict[str, Any] | None = None,
    think: bool = False,
    fmt: Any = None,
    tool_calls: list[dict[str, Any]] | None = None,
) -> Plan:
    """Decide every token of a reply before any is streamed."""
    options = options or {}
    rng = random.Random(seed_of(model, prompt, options.get("seed")))
    thinking = _words(rng, 8 + rng.randrange(16), THOUGHTS) if think else []
    if tool_calls:
        content: list[str] = []
    elif fmt == "json":
        content = _chop(json.dumps({"response": "".join(_words(rng, 6, WORDS))}))
    elif isinstance(fmt, dict):
        content = _chop(json.dumps(object_for(fmt, prompt, required_only=False)))
    else:
        content = _words(rng, 16 + rng.randrange(33), WORDS)
    done_reason = "stop"

    stops = options.get("stop") or []
    if isinstance(stops, str):
        stops = [stops]
    text = "".join(content)
    cut = min((i for s in stops if s and (i := text.find(s)) >= 0), default=-1)
    if cut >= 0:
        kept: list[str] = []
        length = 0
        for token in content:
            if length + len(token) > cut:
                if cut > length:
                    kept.append(token[: cut - length])
                break
            kept.append(token)
            length += len(token)
        content = kept

    limit = _limit(options)
    if limit is not None and len(thinking) + len(content) + (1 if tool_calls else 0) > limit:
        thinking = thinking[:limit]
        content = content[: max(limit - len(thinking), 0)]
        if tool_calls and len(thinking) >= limit:
            tool_calls = None
        done_reason = "length"
    return Plan(thinking, content, tool_calls, done_reason)


def _limit(options: dict[str, Any]) -> int | None:
    limit = options.get("num_predict")
    if isinstance(limit, int | float) and not isinstance(limit, bool) and limit >= 0:
        return int(limit)
    return None


def prefill_of(messages: list[dict[str, Any]]) -> str | None:
    """The text of a conversation's last message when it is the assistant's (Ollama continues
    it rather than starting a new turn), else None."""
    if not messages or not isinstance(messages[-1], dict):
        return None
    last = messages[-1]
    text = text_of(last.get("content"))
    return text if last.get("role") == "assistant" and text else None


def continuation(
    *,
    model: str,
    prompt_before: str,
    prompt: str,
    prefill: str,
    options: dict[str, Any] | None = None,
    think: bool = False,
    fmt: Any = None,
) -> Plan:
    """The reply that continues ``prefill`` (see the module rules): ``prompt_before`` is the
    conversation without the prefill, ``prompt`` the whole of it."""
    options = options or {}
    unlimited = {k: v for k, v in options.items() if k != "num_predict"}
    whole = plan_reply(model=model, prompt=prompt_before, options=unlimited, think=think, fmt=fmt)
    content = _after(whole.content, prefill)
    if content is None:
        content = plan_reply(model=model, prompt=prompt, options=unlimited, fmt=fmt).content
        if content and not prefill[-1].isspace() and not content[0].startswith(" "):
            content = [" " + content[0], *content[1:]]
    limit = _limit(options)
    if limit is not None and len(content) > limit:
        return Plan([], content[:limit], None, "length")
    return Plan([], content, None, "stop")


def _after(tokens: list[str], prefix: str) -> list[str] | None:
    """The tokens after those that spell ``prefix`` exactly, or None when they do not."""
    spelled = ""
    for i, token in enumerate(tokens):
        if spelled == prefix:
            return tokens[i:]
        spelled += token
        if not prefix.startswith(spelled):
            return None
    return [] if spelled == prefix else None


def embedding(model: str, text: str, dimensions: int, *, normalise: bool = True) -> list[float]:
    """A deterministic vector for ``text``; unit length when ``normalise``."""
    rng = random.Random(seed_of("embed", model, text))
    vector = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    if normalise:
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        vector = [v / norm for v in vector]
    return vector


def context_ids(text: str, count: int) -> list[int]:
    """Token ids standing for a prompt and its reply (``/api/generate``'s ``context``)."""
    rng = random.Random(seed_of("ctx", text))
    return [rng.randrange(1, 128_000) for _ in range(count)]
