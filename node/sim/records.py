"""What happened to each request the simulator served, for tests to inspect (``/_sim/records``).

Owns a bounded log (the last ``limit`` requests, oldest dropped first). A record is a plain dict
created when the request arrives and updated in place until it finishes, so an in-flight request
is visible with ``outcome: null``. Never does I/O.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from typing import Any

OUTCOMES = ("completed", "cancelled", "error", "dropped", "hung")


class Recorder:
    def __init__(self, clock: Callable[[], float], limit: int = 10_000) -> None:
        self._clock = clock
        self._records: deque[dict[str, Any]] = deque(maxlen=limit)
        self._ids = itertools.count(1)

    def open(self, method: str, path: str, user_agent: str | None) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": f"r{next(self._ids)}",
            "method": method,
            "path": path,
            "model": None,
            "body": None,
            "headers_user_agent": user_agent,
            "started_at": self._clock(),
            "finished_at": None,
            "outcome": None,
            "status": None,
            "error": None,
            "fault": None,
            "concurrent_at_start": 0,
            "chunks_sent": 0,
            "cold_load": False,
            "cached_tokens": 0,
            "client_gone": False,
        }
        self._records.append(record)
        return record

    def finish(self, record: dict[str, Any], outcome: str, error: str | None = None) -> None:
        """Close ``record`` once; a later call keeps the first outcome."""
        if record["finished_at"] is not None:
            return
        record["finished_at"] = self._clock()
        if record["outcome"] is None:
            record["outcome"] = outcome
        if error is not None and record["error"] is None:
            record["error"] = error

    def snapshot(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._records]

    def clear(self) -> None:
        self._records.clear()
