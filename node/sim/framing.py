"""Byte framing of the simulator's replies: media types, NDJSON lines, SSE events, JSON bodies,
Ollama's nanosecond durations and ISO timestamps, and the ``Head`` a handler yields first.

Owns only how a reply is spelled on the wire. It must never hold state, touch the engine, decide
what a reply says, or know which endpoint it serves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

NDJSON = "application/x-ndjson"
JSON = "application/json; charset=utf-8"
SSE = "text/event-stream"


def ns(seconds: float) -> int:
    return round(seconds * 1e9)


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def line(obj: Any) -> bytes:
    return dumps(obj) + b"\n"


def sse(obj: Any) -> bytes:
    return b"data: " + dumps(obj) + b"\n\n"


@dataclass
class Head:
    """The status line and content type, sent together with the first body chunk."""

    status: int
    media_type: str
    streaming: bool


Item = Head | bytes
