"""One try of a request on one node: the chosen candidate, its queue slot, the open response.

Owns ``Attempt``, ``Finisher`` (the callback through which an answer that has begun reports how it
ended: the pipeline releases the slot and records the trace) and ``Failures`` (the attempts of one
request that failed, for its final trace). Pure data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from router.http_client import Response
from router.pipeline.candidates import Choice
from router.queues import Slot
from router.traces import TraceRecord, TraceStatus

Finisher = Callable[[TraceStatus, dict[str, Any] | None], None]
"""Called once when an answer ends: its status and Ollama's final (``done``) object, if any."""


@dataclass(slots=True)
class Attempt:
    choice: Choice
    model: str
    slot: Slot
    started: float
    """``perf_counter`` when the request arrived at the router."""
    response: Response | None = None


@dataclass(slots=True)
class Failures:
    """The failed attempts of one request so far, and the trace of the last one, not yet recorded.

    The last failed attempt's trace waits here: ``retried`` once another attempt follows, or the
    request's final ``failed`` row (naming every node tried and why) when none does.
    """

    tried: list[tuple[str, str]] = field(default_factory=list)
    """(node id, reason) per failed attempt, in order."""
    pending: TraceRecord | None = None

    def summary(self) -> str:
        return "; ".join(f"{node}: {reason}" for node, reason in self.tried)
