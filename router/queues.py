"""Per node:model queues that really bound concurrency.

Each queue admits at most ``concurrency`` requests at once (the node's ``OLLAMA_NUM_PARALLEL``, or a
memory-derived limit when unknown); the rest wait in arrival order, up to ``max_queue`` of them, and
beyond that the caller gets ``QueueFull`` (rendered as 503 with ``Retry-After``). A slot remembers
when it last made progress so the zombie reaper can free slots whose request stalled.

A queue may also admit a request *ahead* of its slots (``try_acquire_ahead``): sent to a node
that is the only one able to serve its model while every slot there is busy, it waits in the
node's own queue (Ollama's, up to ``OLLAMA_MAX_QUEUE``) and starts the instant a slot frees there,
instead of one trip through the router later. Such a slot is marked ``ahead``; it counts in
``in_flight`` like any other, so the scorer sees the node's real queue. No network, no database;
the clock is injected.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from router.fleet_status import QueueStats


class QueueFull(Exception):
    def __init__(self, key: str, pending: int) -> None:
        super().__init__(f"queue {key} is full ({pending} waiting)")
        self.key = key
        self.pending = pending


@dataclass(eq=False, slots=True)
class Slot:
    """One admitted request. ``release`` is idempotent: the reaper and the request may both call."""

    queue: SlotQueue
    started_at: float
    last_progress: float
    on_reap: Callable[[], object] | None = None
    released: bool = False
    reaped: bool = False
    ahead: bool = False
    """Admitted beyond the queue's concurrency: it waits in the node's own queue first."""

    def touch(self, now: float) -> None:
        self.last_progress = now

    def release(self, ok: bool) -> None:
        if not self.released:
            self.released = True
            self.queue._release(self, ok)


@dataclass(eq=False)
class SlotQueue:
    key: str
    concurrency: int
    max_queue: int
    clock: Callable[[], float]
    in_flight: int = 0
    done: int = 0
    failed: int = 0
    reaped: int = 0
    on_release: Callable[[], None] | None = None
    """Called after every release (the router's wait line re-plans when a slot frees)."""
    _waiters: deque[asyncio.Future[None]] = field(default_factory=deque)
    _active: set[Slot] = field(default_factory=set)
    _started_sum: float = 0.0
    """Sum of the active slots' ``started_at``: their elapsed seconds summed, in O(1)."""

    @property
    def pending(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> Slot:
        """Wait for a slot in arrival order; ``QueueFull`` when too many already wait."""
        if self.in_flight < self.concurrency and not self._waiters:
            return self._admit()
        if len(self._waiters) >= self.max_queue:
            raise QueueFull(self.key, len(self._waiters))
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif waiter.done() and not waiter.cancelled():
                # We were handed a slot at the moment we were cancelled: pass it on.
                self.in_flight -= 1
                self._wake()
            raise
        return self._take_handed_slot()

    def try_acquire(self) -> Slot | None:
        """A slot now if one is free and nobody waits for it here, else ``None`` (never waits)."""
        if self.in_flight < self.concurrency and not self._waiters:
            return self._admit()
        return None

    def try_acquire_ahead(self, spare: int) -> Slot | None:
        """A slot now, even with every slot busy, while fewer than ``spare`` requests already
        wait ahead at the node and nobody waits for a slot here; else ``None`` (never waits)."""
        if self._waiters or self.in_flight >= self.concurrency + spare:
            return None
        slot = self._admit()
        slot.ahead = self.in_flight > self.concurrency
        return slot

    def _admit(self) -> Slot:
        self.in_flight += 1
        return self._take_handed_slot()

    def _take_handed_slot(self) -> Slot:
        now = self.clock()
        slot = Slot(queue=self, started_at=now, last_progress=now)
        self._active.add(slot)
        self._started_sum += now
        return slot

    def _release(self, slot: Slot, ok: bool) -> None:
        if slot in self._active:
            self._active.discard(slot)
            # Back to exactly 0 whenever it empties: rounding never accumulates.
            self._started_sum = self._started_sum - slot.started_at if self._active else 0.0
        self.in_flight -= 1
        if ok:
            self.done += 1
        else:
            self.failed += 1
        self._wake()
        if self.on_release is not None:
            self.on_release()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.concurrency:
            waiter = self._waiters.popleft()
            if waiter.done():
                continue
            self.in_flight += 1  # counted now, so nobody else slips in before the waiter runs
            waiter.set_result(None)

    def set_concurrency(self, concurrency: int) -> None:
        self.concurrency = max(1, concurrency)
        self._wake()

    def load(self) -> tuple[int, int, float]:
        """(pending, in_flight, seconds the admitted requests have run so far, summed)."""
        if not self._active:
            return (len(self._waiters), self.in_flight, 0.0)
        now = self.clock()
        elapsed = len(self._active) * now - self._started_sum
        return (len(self._waiters), self.in_flight, elapsed)

    def stalled(self, now: float, timeout_s: float) -> list[Slot]:
        return [s for s in self._active if now - s.last_progress >= timeout_s]

    def stats(self) -> QueueStats:
        return QueueStats(
            pending=self.pending,
            in_flight=self.in_flight,
            done=self.done,
            failed=self.failed,
            concurrency=self.concurrency,
            max_queue=self.max_queue,
        )


class DepthView(Mapping[tuple[str, str], tuple[int, int, float]]):
    """(pending, in_flight, seconds the in-flight requests have run, summed) per node:model,
    read from the live queues on each lookup."""

    __slots__ = ("_queues",)

    def __init__(self, queues: dict[tuple[str, str], SlotQueue]) -> None:
        self._queues = queues

    def __getitem__(self, key: tuple[str, str]) -> tuple[int, int, float]:
        return self._queues[key].load()

    def get(self, key: tuple[str, str], default: Any = None) -> Any:
        queue = self._queues.get(key)
        return default if queue is None else queue.load()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._queues)

    def __len__(self) -> int:
        return len(self._queues)


class QueueBoard:
    """Every node:model queue of the router."""

    def __init__(self, clock: Callable[[], float], max_queue: int = 256) -> None:
        self._clock = clock
        self.max_queue = max_queue
        self._queues: dict[tuple[str, str], SlotQueue] = {}
        self._listeners: list[Callable[[str, str], None]] = []
        self._waiting: dict[str, int] = {}

    def subscribe(self, listener: Callable[[str, str], None]) -> None:
        """Call ``listener(node_id, model)`` after every slot released on any queue."""
        self._listeners.append(listener)

    def set_waiting(self, model: str, count: int) -> None:
        """How many requests for ``model`` wait in the router's line (for the fleet's status)."""
        if count:
            self._waiting[model] = count
        else:
            self._waiting.pop(model, None)

    def waiting(self) -> dict[str, int]:
        """Requests waiting in the router's line, per model (models with none left out)."""
        return dict(self._waiting)

    def _released(self, node_id: str, model: str) -> None:
        for listener in self._listeners:
            listener(node_id, model)

    def queue(self, node_id: str, model: str, concurrency: int) -> SlotQueue:
        key = (node_id, model)
        found = self._queues.get(key)
        if found is None:
            found = SlotQueue(
                key=f"{node_id}:{model}",
                concurrency=max(1, concurrency),
                max_queue=self.max_queue,
                clock=self._clock,
                on_release=lambda: self._released(node_id, model),
            )
            self._queues[key] = found
        elif found.concurrency != concurrency:
            found.set_concurrency(concurrency)
        return found

    def has_room(self, node_id: str, model: str, ahead: int = 0, spare: int = 0) -> bool:
        """Whether one more request for ``model`` could take a slot on ``node_id`` now, with
        ``ahead`` others (the router's wait line) before it, counting ``spare`` places ahead of
        the slots (``SlotQueue.try_acquire_ahead``): true for a queue never used."""
        found = self._queues.get((node_id, model))
        return found is None or found.in_flight + found.pending + ahead < found.concurrency + spare

    def depth(self, node_id: str, model: str) -> tuple[int, int]:
        """(pending, in_flight) for one node:model; zeros when it has never been used."""
        found = self._queues.get((node_id, model))
        return (found.pending, found.in_flight) if found else (0, 0)

    def depths(self) -> DepthView:
        """A live read-only mapping (node_id, model) -> (pending, in_flight, in-flight seconds),
        built in O(1)."""
        return DepthView(self._queues)

    def others_wait_on(self, node_id: str, model: str) -> bool:
        """Whether requests for another model than ``model`` wait here for a slot on
        ``node_id`` (they wait for memory that busy models hold)."""
        return any(q.pending for (n, m), q in self._queues.items() if n == node_id and m != model)

    def in_flight_on(self, node_id: str) -> int:
        return sum(q.in_flight for (n, _), q in self._queues.items() if n == node_id)

    @property
    def total_in_flight(self) -> int:
        return sum(q.in_flight for q in self._queues.values())

    @property
    def total_pending(self) -> int:
        return sum(q.pending for q in self._queues.values())

    def stats(self) -> dict[str, QueueStats]:
        return {q.key: q.stats() for q in self._queues.values()}

    def reap(self, now: float, timeout_s: float) -> list[Slot]:
        """Free every slot that made no progress for ``timeout_s``; return them."""
        reaped: list[Slot] = []
        for q in self._queues.values():
            for slot in q.stalled(now, timeout_s):
                slot.reaped = True
                q.reaped += 1
                if slot.on_reap is not None:
                    slot.on_reap()
                slot.release(ok=False)
                reaped.append(slot)
        return reaped
