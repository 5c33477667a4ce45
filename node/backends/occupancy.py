"""How many jobs an adapter runs at once, and how many are running: the busy state a backend
reports.

Owns ``Occupancy``: a semaphore of ``capacity`` slots and the counts of running and waiting jobs.
A job waits for a slot in arrival order; mflux gets one slot (one image at a time per device).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class Occupancy:
    def __init__(self, capacity: int = 1) -> None:
        self.capacity = max(1, capacity)
        self._slots = asyncio.Semaphore(self.capacity)
        self.running = 0
        self.waiting = 0

    @property
    def busy(self) -> int:
        return self.running + self.waiting

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            self._slots.release()
