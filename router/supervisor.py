"""Background work that must not die quietly: named tasks, restarted with backoff, their health.

Owns ``Supervisor``: ``every(name, period_s, step)`` runs a step periodically, ``keep(name,
run)`` keeps a long-running coroutine going, and ``observe(name, probe)`` reports a task that
recovers by itself. A failure is logged with its traceback, the task
restarts after a bounded, doubling backoff, and ``snapshot()`` reports each task as failing (with
its last error and restart count) until it next succeeds: a periodic step by completing, a
long-running task by staying up for ``healthy_after_s``. The health report reads the snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("herd.supervisor")

MIN_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0


@dataclass(frozen=True, slots=True)
class TaskHealth:
    name: str
    failing: bool
    restarts: int
    last_error: str | None
    last_error_at: float | None
    """Epoch seconds of the last failure."""


@dataclass(slots=True)
class _State:
    name: str
    failing: bool = False
    restarts: int = 0
    last_error: str | None = None
    last_error_at: float | None = None

    def failed(self, exc: BaseException, now: float) -> None:
        self.failing = True
        self.restarts += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        self.last_error_at = now


class Supervisor:
    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        min_backoff_s: float = MIN_BACKOFF_S,
        max_backoff_s: float = MAX_BACKOFF_S,
        healthy_after_s: float = 60.0,
    ) -> None:
        self.clock = clock
        self.min_backoff_s = min_backoff_s
        self.max_backoff_s = max_backoff_s
        self.healthy_after_s = healthy_after_s
        self._states: dict[str, _State] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._probes: dict[str, Callable[[], str | None]] = {}

    def every(self, name: str, period_s: float, step: Callable[[], Awaitable[None]]) -> None:
        """Run ``step`` every ``period_s`` seconds; a failed step is retried after a backoff."""

        async def periodic(state: _State) -> None:
            backoff = self.min_backoff_s
            delay = period_s
            while True:
                await asyncio.sleep(delay)
                try:
                    await step()
                except Exception as exc:
                    self._failed(state, exc)
                    delay, backoff = backoff, min(backoff * 2, self.max_backoff_s)
                else:
                    state.failing = False
                    delay, backoff = period_s, self.min_backoff_s

        self._start(name, periodic)

    def keep(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Keep ``run`` running: restarted after a backoff when it raises; returning ends it."""

        async def kept(state: _State) -> None:
            backoff = self.min_backoff_s
            while True:
                started = time.monotonic()
                watch = asyncio.get_running_loop().call_later(
                    self.healthy_after_s, self._recovered, state
                )
                try:
                    await run()
                except Exception as exc:
                    self._failed(state, exc)
                else:
                    return
                finally:
                    watch.cancel()
                if time.monotonic() - started >= self.healthy_after_s:
                    backoff = self.min_backoff_s
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)

        self._start(name, kept)

    def observe(self, name: str, probe: Callable[[], str | None]) -> None:
        """Report a task that recovers by itself (the trace writer): ``probe`` says what is
        wrong with it now, or ``None``."""
        self._probes[name] = probe

    def _start(self, name: str, body: Callable[[_State], Coroutine[Any, Any, None]]) -> None:
        if name in self._tasks or name in self._probes:
            raise ValueError(f"a task named {name!r} is already supervised")
        state = self._states[name] = _State(name)
        self._tasks[name] = asyncio.create_task(body(state), name=f"herd-{name}")

    def _failed(self, state: _State, exc: BaseException) -> None:
        state.failed(exc, self.clock())
        log.error(
            "background task %s failed (restart %d): %s",
            state.name,
            state.restarts,
            state.last_error,
            exc_info=exc,
            extra={"task": state.name, "console": True},
        )

    @staticmethod
    def _recovered(state: _State) -> None:
        state.failing = False

    def snapshot(self) -> list[TaskHealth]:
        """Every supervised and observed task's health, by name."""
        found = [
            TaskHealth(s.name, s.failing, s.restarts, s.last_error, s.last_error_at)
            for s in self._states.values()
        ]
        for name, probe in self._probes.items():
            error = probe()
            found.append(TaskHealth(name, error is not None, 0, error, None))
        return sorted(found, key=lambda t: t.name)

    async def aclose(self) -> None:
        """Cancel every task and wait for them to end."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
