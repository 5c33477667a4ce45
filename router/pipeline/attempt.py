"""One try of a request on one node: the chosen candidate, its queue slot, the open response.

Owns ``Attempt`` and ``Finisher``, the callback through which an answer that has begun reports
how it ended (the pipeline releases the slot and records the trace). Pure data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from router.http_client import Response
from router.pipeline.candidates import Choice
from router.queues import Slot
from router.traces import TraceStatus

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
