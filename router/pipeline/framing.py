"""How the pipeline reads a node's answer: Ollama's NDJSON, or the SSE events of a compatibility
endpoint (``/v1/messages``, ``/v1/responses``) forwarded natively.

Owns ``Framing``: how the answer splits into chunks, which chunk reports a failure (and its
text), which one ends a successful answer, and the token counts it carries, in Ollama's names
(``prompt_eval_count``, ``eval_count``) so a trace reads the same whatever the API. ``NDJSON`` is
Ollama's own framing; ``native_framing`` gives the one of a ``router.native`` API. Pure apart from
the chunk iterator it names.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from router import native
from router.http_client import Response
from router.upstream import is_done_line, is_error_line, iter_events, iter_lines


def parse_line(line: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def error_text(line: bytes) -> str:
    data = parse_line(line) or {}
    return str(data.get("error", "the node reported an error"))


@dataclass(frozen=True, slots=True)
class Framing:
    chunks: Callable[[Response], AsyncIterator[bytes]]
    is_error: Callable[[bytes], bool]
    error_text: Callable[[bytes], str]
    is_done: Callable[[bytes], bool]
    final: Callable[[bytes], dict[str, Any] | None]
    """The token counts (Ollama's names) of the chunk that ended the answer, or of a whole body."""
    native: bool = False


NDJSON = Framing(iter_lines, is_error_line, error_text, is_done_line, parse_line)


@functools.cache
def native_framing(api: native.NativeApi) -> Framing:
    return Framing(
        iter_events,
        functools.partial(native.is_failure, api),
        native.error_text,
        functools.partial(native.is_done, api),
        native.usage,
        native=True,
    )
