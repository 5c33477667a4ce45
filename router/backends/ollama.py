"""A request for a model served by an Ollama backend, as that Ollama takes it.

Owns the Ollama side of forwarding: which endpoint serves a request kind (``/api/chat``,
``/api/generate``, ``/api/embed``, ``/api/embeddings``, or the node's own compatibility endpoint
when its version has one, see ``router.native``) and the body's encoding. The answer comes back
in Ollama's NDJSON, or as the compatibility endpoint's own events (``OllamaCall.native`` says
which). Pure: no I/O.

The other backend kinds have modules of their own beside this one (``openai``, ``media``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from router.native import NativeApi, NativeCall, upstream_for

PATHS = {
    "chat": "/api/chat",
    "generate": "/api/generate",
    "embed": "/api/embed",
    "embeddings": "/api/embeddings",
}
"""Ollama's native endpoint per request kind."""


@dataclass(frozen=True, slots=True)
class OllamaCall:
    """One request for an Ollama: its path and encoded body, and the compatibility API it uses
    (None: Ollama's native API, answered in NDJSON)."""

    path: str
    payload: bytes
    native: NativeApi | None


def chosen_native(
    native: NativeCall | None, ollama_version: str, new_window: bool
) -> NativeCall | None:
    """The node's own compatibility endpoint when its version has one; None sends the translation
    to ``/api/chat``, as when the prompt needs a larger context window (only ``/api/chat`` can ask
    for one)."""
    return None if new_window else upstream_for(native, ollama_version)


def call(kind: str, body: dict[str, Any], native: NativeCall | None) -> OllamaCall:
    """The request for ``body`` (model and context window already set): path and encoding."""
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    if native is not None:
        return OllamaCall(native.api.path, payload, native.api)
    return OllamaCall(PATHS[kind], payload, None)
