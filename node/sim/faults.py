"""Injected failures: the faults a test arms through ``POST /_sim/faults`` and who they hit.

Owns the list of armed faults and the rule that matches one to a request. Never performs a fault
itself (the server does) and never does I/O.

Matching: a fault with a ``path`` applies to requests on exactly that path (any endpoint, GET too);
a fault without one applies only to inference paths (chat, generate, embeddings, ``/v1``
completions), so background polls of ``/api/ps`` or ``/api/tags`` never use it up. A ``model``
filter compares normalised names. The oldest matching fault wins; ``count`` is decremented on each
use (``-1`` = forever) and a spent fault disappears.

Kinds:
- ``http_error``: answer ``status`` (500) with ``{"error": message}`` before any work;
- ``drop_before_first_chunk``: close the TCP connection without any response;
- ``drop_after_first_chunk``: send the headers and the first chunk (half the body when not
  streaming), then close the connection abruptly;
- ``midstream_error``: after ``after_chunks`` chunks, send ``{"error": message}`` (status stays 200)
  and end; a non-streaming request gets ``status`` with the error instead;
- ``hang``: send the response headers (200), then nothing until the client goes away; recorded
  as outcome ``"hung"``, with ``finished_at`` set when the client leaves;
- ``slow``: wait ``delay_s`` real seconds (not scaled) before the first chunk, holding the slot,
  and ``chunk_delay_s`` between later chunks.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

from herd_contract.model_names import normalize

from .engine import BadRequest

KINDS = frozenset(
    {
        "http_error",
        "drop_before_first_chunk",
        "drop_after_first_chunk",
        "midstream_error",
        "hang",
        "slow",
    }
)

INFERENCE_PATHS = frozenset(
    {
        "/api/chat",
        "/api/generate",
        "/api/embed",
        "/api/embeddings",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
    }
)


@dataclass
class Fault:
    fault_id: str
    kind: str
    path: str | None = None
    model: str | None = None
    count: int = 1
    status: int = 500
    message: str = "simulated failure"
    after_chunks: int = 2
    delay_s: float = 1.0
    chunk_delay_s: float = 0.0
    used: int = 0

    def matches(self, path: str, model: str | None) -> bool:
        if self.path is not None:
            if self.path != path:
                return False
        elif path not in INFERENCE_PATHS:
            return False
        if self.model is not None:
            return model is not None and normalize(model) == normalize(self.model)
        return True


class FaultBook:
    """The armed faults, oldest first."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, spec: Any) -> Fault:
        if not isinstance(spec, dict):
            raise BadRequest("fault must be a JSON object")
        kind = spec.get("kind")
        if kind not in KINDS:
            raise BadRequest(f"unknown fault kind {kind!r}; choose one of {sorted(KINDS)}")
        try:
            fault = Fault(
                fault_id=f"f{next(self._ids)}",
                kind=kind,
                path=spec.get("path") or None,
                model=spec.get("model") or None,
                count=int(spec.get("count", 1)),
                status=int(spec.get("status", 500)),
                message=str(spec.get("message", "simulated failure")),
                after_chunks=max(int(spec.get("after_chunks", 2)), 0),
                delay_s=float(spec.get("delay_s", 1.0)),
                chunk_delay_s=float(spec.get("chunk_delay_s", 0.0)),
            )
        except (TypeError, ValueError) as exc:
            raise BadRequest(f"invalid fault: {exc}") from None
        if fault.count == 0 or fault.count < -1:
            raise BadRequest("count must be positive, or -1 for forever")
        if not 100 <= fault.status <= 599:
            raise BadRequest("status must be an HTTP status code")
        self._faults.append(fault)
        return fault

    def take(self, path: str, model: str | None) -> Fault | None:
        """The fault this request suffers, if any, using up one of its counts."""
        for fault in self._faults:
            if fault.matches(path, model):
                fault.used += 1
                if fault.count > 0:
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        self._faults.clear()

    def listing(self) -> list[dict[str, Any]]:
        return [asdict(f) for f in self._faults]
