"""Unloading a model from the whole fleet: what ``keep_alive: 0`` with no prompt means to herd.

Ollama unloads a model when ``/api/generate`` or ``/api/chat`` arrives with ``keep_alive: 0`` and
nothing to generate (what ``ollama stop`` sends). A fleet may hold the model on several nodes, so
the router sends that same request to every routable node that has the model (loaded or on disk:
a heartbeat can be a second old) and answers as Ollama does, ``done_reason: "unload"``, with the
nodes it reached in ``nodes``. Not an inference: no slot, no trace. ``is_unload`` is pure.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from typing import Any

from herd_contract.model_names import normalize
from router.errors import NotFound, UpstreamFailure
from router.http_client import HTTPError
from router.registry import Registry
from router.upstream import Upstream, error_message

_ZERO = re.compile(r"^\s*0+(\.0+)?\s*(ns|us|µs|ms|s|m|h)?\s*$")
UNLOAD_TIMEOUT_S = 30.0


def _zero(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value == 0
    return isinstance(value, str) and _ZERO.match(value) is not None


def is_unload(kind: str, body: dict[str, Any]) -> bool:
    """Whether an Ollama ``chat``/``generate`` body asks to unload its model."""
    if kind == "chat":
        empty = not body.get("messages")
    elif kind == "generate":
        empty = not body.get("prompt") and not body.get("images")
    else:
        return False
    return empty and "keep_alive" in body and _zero(body["keep_alive"])


async def unload_everywhere(
    registry: Registry, upstream: Upstream, kind: str, model: str
) -> dict[str, Any]:
    """Unload ``model`` on every routable node holding it; Ollama's answer plus ``nodes``."""
    wanted = normalize(model)
    targets = [
        record
        for record, _ in registry.routable()
        if wanted in record.loaded_models or wanted in record.available_models
    ]
    if not targets:
        raise NotFound(f"model '{model}' not found")
    path = "/api/chat" if kind == "chat" else "/api/generate"
    body: dict[str, Any] = {"model": model, "keep_alive": 0}
    if kind == "chat":
        body["messages"] = []

    async def one(url: str) -> str | None:
        try:
            response = await upstream.request_json("POST", url, path, body, UNLOAD_TIMEOUT_S)
        except HTTPError as exc:
            return str(exc) or type(exc).__name__
        if response.status_code >= 400:
            return error_message(response.content) or f"HTTP {response.status_code}"
        return None

    problems = await asyncio.gather(*(one(r.ollama_url) for r in targets))
    errors = {r.node_id: p for r, p in zip(targets, problems, strict=True) if p is not None}
    done = [r.node_id for r in targets if r.node_id not in errors]
    if not done:
        raise UpstreamFailure("; ".join(f"{n}: {e}" for n, e in errors.items()))
    answer: dict[str, Any] = {"model": model, "created_at": _now()}
    if kind == "chat":
        answer["message"] = {"role": "assistant", "content": ""}
    else:
        answer["response"] = ""
    answer.update({"done": True, "done_reason": "unload", "nodes": done})
    if errors:
        answer["errors"] = errors
    return answer


def _now() -> str:
    return datetime.fromtimestamp(time.time(), UTC).isoformat().replace("+00:00", "Z")
