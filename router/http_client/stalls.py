"""Stalls of this process's event loop: time in which it could not run a single callback.

Owns ``Stalls``. While someone watches (a connection being opened), a tick every ``TICK_S``
measures how late the loop runs it; lateness beyond ``SLACK_S`` is stalled time: the loop was busy
with other work (a burst of requests to route) or the process was not scheduled at all. A timeout
that judges a server subtracts the stall that fell inside its wait, so a router too busy to see a
connection that was made in time never blames the server for it (under a burst of 1,000 streams
the router's connect timeouts fired although every connection had been accepted, and each node's
circuit breaker opened).

Never times anything out itself; knows nothing about HTTP.
"""

from __future__ import annotations

import asyncio

TICK_S = 0.05
"""How often the loop is sampled while someone watches."""
SLACK_S = 0.02
"""A tick later than this is a stall (ordinary scheduling jitter is not)."""


class Stalls:
    """Cumulative stalled seconds of the running loop, measured while watched."""

    __slots__ = ("_due", "_handle", "_loop", "_total", "_watchers")

    def __init__(self) -> None:
        self._total = 0.0
        self._watchers = 0
        self._due = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def watch(self) -> float:
        """Start watching (ticks run while anyone watches); the stalled seconds so far, to pass
        to ``since``."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._handle is None:
            if self._handle is not None:
                self._handle.cancel()
            self._loop = loop
            self._watchers = 0
            self._arm(loop.time())
        self._watchers += 1
        return self.stalled()

    def unwatch(self) -> None:
        self._watchers = max(0, self._watchers - 1)

    def stalled(self) -> float:
        """Stalled seconds so far, a stall under way included."""
        if self._loop is None or self._handle is None:
            return self._total
        late = self._loop.time() - self._due
        return self._total + (late if late > SLACK_S else 0.0)

    def since(self, mark: float) -> float:
        """Stalled seconds since ``mark`` (a value ``watch`` or ``stalled`` returned)."""
        return max(0.0, self.stalled() - mark)

    def _arm(self, now: float) -> None:
        assert self._loop is not None
        self._due = now + TICK_S
        self._handle = self._loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        late = now - self._due
        if late > SLACK_S:
            self._total += late
        if self._watchers > 0:
            self._arm(now)
        else:
            self._handle = None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._watchers = 0
