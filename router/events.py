"""Live updates for the dashboard: a change signal and the fleet snapshot as Server-Sent Events.

The registry and the pipeline call ``changed()``; each SSE client waits for a change or the
period, whichever comes first, then receives a fresh snapshot. Never blocks a request: a change
only sets an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

SNAPSHOT_PERIOD_S = 2.0
MIN_GAP_S = 0.25
"""No client gets two snapshots closer together than this, however busy the fleet is."""


class EventHub:
    def __init__(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        self._snapshot = snapshot
        self._generation = 0
        self._changed = asyncio.Event()

    def changed(self, *_: object) -> None:
        self._generation += 1
        self._changed.set()

    async def stream(
        self, period_s: float = SNAPSHOT_PERIOD_S, limit: int | None = None
    ) -> AsyncIterator[bytes]:
        """SSE frames: a snapshot now, then one per change or period; ``limit`` frames at most."""
        sent = 0
        seen = -1
        while limit is None or sent < limit:
            if seen == self._generation:
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=period_s)
            seen = self._generation
            payload = json.dumps(self._snapshot(), separators=(",", ":"), default=str)
            yield f"event: snapshot\nid: {seen}\ndata: {payload}\n\n".encode()
            sent += 1
            await asyncio.sleep(MIN_GAP_S)
