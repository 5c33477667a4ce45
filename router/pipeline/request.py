"""What a front end hands the pipeline: one inference request in Ollama's native shape.

Owns ``InferenceRequest`` and the vocabulary it is written in (``RequestKind``, ``Api``). Pure
data: every other module of the pipeline imports this one, and this one imports none of them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from router.native import NativeCall
from router.traces import RequestKind

Api = Literal["ollama", "openai", "anthropic", "responses"]
"""The wire format the client spoke; answers and errors are rendered back in it."""

__all__ = ["Api", "InferenceRequest", "RequestKind", "new_request_id"]


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


@dataclass(slots=True)
class InferenceRequest:
    kind: RequestKind
    model: str
    body: dict[str, Any]
    """Ollama's native body, router-only fields removed."""
    stream: bool
    api: Api = "ollama"
    tags: list[str] = field(default_factory=list)
    fallback_models: list[str] = field(default_factory=list)
    client_ip: str | None = None
    request_id: str = field(default_factory=new_request_id)
    received_at: float = field(default_factory=time.time)
    started: float = field(default_factory=time.perf_counter)
    client_gone: asyncio.Future[None] | None = None
    """Done once the client disconnected, set by the front end (``None``: not watched)."""
    left: bool = False
    """The pipeline stopped routing because the client left."""
    left_traced: bool = False
    native: NativeCall | None = None
    """The same request for a node's own compatibility endpoint (``router.native``), when the
    client's API has one; the pipeline sends it to nodes whose Ollama speaks it."""
