"""Which upstream endpoint serves a request: the node's own compatibility endpoint, or ``/api/chat``
with the router's translation. The one place that choice is made.

Ollama speaks OpenAI's Responses API at ``/v1/responses`` since 0.13.3 and Anthropic's Messages
API at ``/v1/messages`` since 0.14.0. A front end for those APIs hands the pipeline both forms of a
request: the translated ``/api/chat`` body, and a ``NativeCall`` (the client's body for the
node's own endpoint). Once the pipeline has picked a node, ``upstream_for`` chooses: the native
endpoint when the node's reported Ollama version has it, else ``/api/chat``. A node that reports
no version gets the translation, which every Ollama understands.

A native answer is the client's format already (SSE events or one JSON object), so the pipeline
reads it with ``SSE_FRAMING``: whole events, the end of the stream, errors and token usage
recognised per API. Pure: no I/O. Backends other than Ollama extend ``upstream_for``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from herd_contract.versions import parse_version


@dataclass(frozen=True, slots=True)
class NativeApi:
    """An Ollama compatibility endpoint and the version that added it."""

    path: str
    since: tuple[int, int, int]
    done_types: frozenset[str]
    """Event ``type``s that end a successful answer and carry its usage (``message_delta`` is
    followed only by ``message_stop``)."""
    error_types: frozenset[str]
    """Event ``type``s (or whole-body ``type``/``status``) that report a failure."""

    def call(self, body: dict[str, Any]) -> NativeCall:
        return NativeCall(self, body)


@dataclass(frozen=True, slots=True)
class NativeCall:
    """A request as the node's own endpoint takes it: the client's body, router fields removed."""

    api: NativeApi
    body: dict[str, Any]


MESSAGES = NativeApi(
    "/v1/messages",
    (0, 14, 0),
    done_types=frozenset({"message_delta"}),
    error_types=frozenset({"error"}),
)
RESPONSES = NativeApi(
    "/v1/responses",
    (0, 13, 3),
    done_types=frozenset({"response.completed", "response.incomplete"}),
    error_types=frozenset({"error", "response.failed"}),
)


def speaks(ollama_version: str, api: NativeApi) -> bool:
    """Whether an Ollama of ``ollama_version`` serves ``api`` itself."""
    version = parse_version(ollama_version)
    return version is not None and version >= api.since


def upstream_for(native: NativeCall | None, ollama_version: str) -> NativeCall | None:
    """The native call to send to a node of ``ollama_version``, or None for ``/api/chat``."""
    if native is None or not speaks(ollama_version, native.api):
        return None
    return native


def _data(event: bytes) -> dict[str, Any] | None:
    """The JSON ``data:`` of one SSE event (or a whole JSON body)."""
    start = event.find(b"data:")
    raw = event[start + 5 :] if start >= 0 else event
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _mentions(event: bytes, types: frozenset[str]) -> bool:
    """A cheap first look before parsing: does the event name one of ``types`` at all?"""
    return any(kind.encode() in event for kind in types)


def is_failure(api: NativeApi, event: bytes) -> bool:
    """Whether an event (or a whole non-streaming body) reports a failure."""
    if not _mentions(event, api.error_types) and b'"failed"' not in event:
        return False
    data = _data(event)
    if data is None:
        return False
    return data.get("type") in api.error_types or data.get("status") == "failed"


def error_text(event: bytes) -> str:
    data = _data(event) or {}
    error = data.get("error") or (data.get("response") or {}).get("error") or {}
    message = error.get("message") if isinstance(error, dict) else error
    return str(message or "the node reported an error")


def is_done(api: NativeApi, event: bytes) -> bool:
    if not _mentions(event, api.done_types):
        return False
    data = _data(event)
    return data is not None and data.get("type") in api.done_types


def usage(event: bytes) -> dict[str, int] | None:
    """Token counts in Ollama's names (``prompt_eval_count``, ``eval_count``) when an event or a
    whole body carries usage: Anthropic's ``message_delta`` or message, a completed response."""
    data = _data(event)
    if data is None:
        return None
    found = data.get("usage")
    if not isinstance(found, dict):
        response = data.get("response")
        found = response.get("usage") if isinstance(response, dict) else None
    if not isinstance(found, dict):
        return None
    return {
        "prompt_eval_count": int(found.get("input_tokens") or 0),
        "eval_count": int(found.get("output_tokens") or 0),
    }
