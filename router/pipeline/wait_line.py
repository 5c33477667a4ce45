"""Late binding: requests wait in the router, one line per model, until the best node can take them.

Owns ``WaitLine``. A request is not committed to a node's queue while it could still go elsewhere:
it joins its model's line and is dispatched when the node with the best estimate (the scorer's
expected time to last token, which includes the wait for a slot) has a free slot, or when starting
a cold load elsewhere is expected to finish sooner than waiting. So no request waits behind a
queue whose expected wait exceeds what another node would take to load and run it, and a request
that waits moves to a better node the moment one frees up.

The line is planned in arrival order (first come, first served per model): each waiting request
is ranked with the requests before it that wait for a node counted as pending on that node, so an
earlier request keeps the better option and a later one may take a free node the earlier ones do
not want. A request is only ever waiting for its own best node, which frees in time, so none
starves. A request may also wait for a node whose busy models hold the memory it needs, when
that is expected sooner than the best node free now, but never longer than that node's own
estimate (then it takes it). When no node can load the model now, the request is handed back to
the pipeline (which waits at a node for memory, pulls, or refuses).

Planning is what the line costs, so it runs only where it can change something: a line plans
when a request joins it, when a slot of its model frees, when a slot frees on a node some of its
requests wait on for memory, once per loop turn after heartbeats changed the fleet (coalesced),
and every ``REPLAN_S`` seconds while it is not empty (requests in flight age). A plan ranks a
waiter only while some node, counting the waiters before it, could still give its model a slot
(``QueueBoard.has_room``, no ranking): when every queue is full, nobody behind could be
dispatched, so a saturated fleet costs one cheap check per freed slot, not one ranking per waiter.

A model that only one node can ever serve (``Ranking.sole_node``: hot there, absent or too large
everywhere else) gains nothing from waiting in the router, so its line sends up to ``AHEAD``
requests per node:model *ahead*, into the node's own queue, while every slot there is busy
(``SlotQueue.try_acquire_ahead``): the next one starts the instant a slot frees at the node
rather than a trip through the router later, which on a saturated node is the difference between
keeping up and falling behind. Its first-byte timeout is then the configured ceiling. Never while
other models' requests wait on that node for memory: a model always busy is never evicted.

The line never forwards anything and never records traces; it hands back a ``Choice`` with its
slot already taken. Lines are keyed by model and nodes are read through the ranker's snapshots,
so any backend kind fits. Its length per model is bounded (``max_waiting``: ``QueueFull``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from router.pipeline.candidates import Choice, Ranker, Ranking
from router.pipeline.request import InferenceRequest
from router.queues import QueueBoard, QueueFull, Slot

REPLAN_S = 1.0
"""A waiting request re-plans its line at least this often (in-flight requests age)."""
PLAN_DEPTH = 64
"""At most this many requests of a line are planned at once (the rest wait their turn)."""
AHEAD = 1
"""Requests a line sends ahead into the node's own queue, per node:model, when that node is the
only one able to serve the model: one is enough to hide the trip through the router."""

Dispatch = tuple[Choice, Slot]


@dataclass(eq=False)
class _Waiter:
    request: InferenceRequest
    excluded: frozenset[str]
    joined_at: float
    patience_s: float | None = None
    """How long it may wait for memory on a node whose busy models block it, rather than take
    the best node that can load it now: that node's own estimate (wall-clock seconds), so
    waiting never costs more than twice what going there at once would have."""
    future: asyncio.Future[Dispatch | Ranking] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    ranked: Ranking | None = None
    """The ranking its caller made a moment before it joined, for its first plan when nobody
    waits ahead of it (then a fresh one would be the same: ranking 500 nodes costs ms)."""


class WaitLine:
    """One FIFO line per model of requests waiting in the router for a node."""

    def __init__(self, ranker: Ranker, queues: QueueBoard, max_waiting: int) -> None:
        self.ranker = ranker
        self.queues = queues
        self.max_waiting = max_waiting
        self._lines: dict[str, deque[_Waiter]] = {}
        self._planning: set[str] = set()
        self._again: set[str] = set()
        self._memory_nodes: dict[str, set[str]] = {}
        """Per model, the nodes some of its waiters wait on for memory (their busy models)."""
        self._fleet_changed = False
        self._timers: dict[str, asyncio.TimerHandle] = {}
        """One re-planning timer per non-empty line."""
        self._sole: dict[str, str | None] = {}
        """Per model, the only node able to serve it, as its latest ranking saw it."""
        queues.subscribe(self._slot_freed)
        ranker.registry.subscribe(self._node_changed)

    def waiting(self, model: str) -> int:
        line = self._lines.get(model)
        return len(line) if line else 0

    async def take(
        self,
        model: str,
        request: InferenceRequest,
        excluded: frozenset[str],
        ranked: Ranking | None = None,
    ) -> Dispatch | Ranking:
        """Wait in ``model``'s line for the best node; the choice with its slot taken, or the
        ranking when no node can take the model at all any more (none loads it, none waits).
        ``ranked``: the ranking the caller has just made for this request and ``excluded``."""
        line = self._lines.setdefault(model, deque())
        if len(line) >= self.max_waiting:
            raise QueueFull(f"wait line {model}", len(line))
        waiter = _Waiter(request, excluded, self.ranker.clock(), ranked=ranked)
        if ranked is not None:
            self._sole[model] = ranked.sole_node()
        line.append(waiter)
        self.queues.set_waiting(model, len(line))
        try:
            self.replan(model)
            waiter.ranked = None  # only its first plan, made now, may use it
            if not waiter.future.done() and model not in self._timers:
                self._tick_later(model)
            return await waiter.future
        except BaseException:
            self._leave(model, waiter)
            raise

    def _leave(self, model: str, waiter: _Waiter) -> None:
        """A waiter that gives up: out of the line; a slot handed to it at that moment goes back."""
        line = self._lines.get(model)
        if line is not None and waiter in line:
            line.remove(waiter)
            self.queues.set_waiting(model, len(line))
        future = waiter.future
        if future.done() and not future.cancelled():
            result = future.result()
            if isinstance(result, tuple):
                result[1].release(ok=False)
        else:
            future.cancel()

    def _slot_freed(self, node_id: str, model: str) -> None:
        """A slot freed: its model's line may take it, and lines waiting on that node for memory
        may find it now (the busy model it held can be evicted)."""
        if self._lines.get(model):
            self.replan(model)
        for other, nodes in list(self._memory_nodes.items()):
            if other != model and node_id in nodes:
                self.replan(other)

    def _tick_later(self, model: str) -> None:
        loop = asyncio.get_running_loop()
        self._timers[model] = loop.call_later(REPLAN_S, self._tick, model)

    def _tick(self, model: str) -> None:
        """The line's own timer: plan again while anyone waits (in-flight requests age)."""
        del self._timers[model]
        if self._lines.get(model):
            self.replan(model)
        if self._lines.get(model):
            self._tick_later(model)

    def _node_changed(self, _node_id: str) -> None:
        """A heartbeat changed the fleet: every non-empty line plans once this loop turn, however
        many heartbeats arrive in it."""
        if self._fleet_changed or not any(self._lines.values()):
            return
        self._fleet_changed = True
        asyncio.get_running_loop().call_soon(self._replan_changed)

    def _replan_changed(self) -> None:
        self._fleet_changed = False
        self.replan_all()

    def replan_all(self) -> None:
        for model in [m for m, line in self._lines.items() if line]:
            self.replan(model)

    def replan(self, model: str) -> None:
        """Dispatch every waiter of ``model`` whose best node can take it now, in arrival order.

        A slot handed back while planning (a waiter that left) asks for another pass, done once
        this one ends rather than inside it."""
        if model in self._planning:
            self._again.add(model)
            return
        self._planning.add(model)
        try:
            for _ in range(8):  # bounded: each pass only follows a slot handed back
                self._again.discard(model)
                self._plan(model)
                if model not in self._again:
                    break
        finally:
            self._planning.discard(model)

    def _plan(self, model: str) -> None:
        line = self._lines.get(model)
        if not line:
            self._memory_nodes.pop(model, None)
            self._sole.pop(model, None)
            return
        ahead: dict[str, int] = {}
        memory_nodes: set[str] = set()
        no_room: set[frozenset[str]] = set()
        """Exclusion sets already found without room at the current ``ahead`` counts."""
        for waiter in list(line)[:PLAN_DEPTH]:
            if waiter.future.done() or waiter not in line:
                continue
            if waiter.excluded in no_room or not self._room(model, waiter.excluded, ahead):
                no_room.add(waiter.excluded)
                continue  # no node could give it a slot now: it stays, unranked
            ranking = waiter.ranked
            if ranking is None or ahead:
                ranking = self.ranker.rank(model, waiter.request, waiter.excluded, ahead)
            sole = self._sole[model] = ranking.sole_node()
            no_room.clear()
            if not ranking.choices:  # no node can load it now: the pipeline decides what next
                self._resolve(model, waiter, ranking)
                continue
            best = ranking.choices[0]
            if self._waits_for_memory(waiter, ranking):
                node_id = ranking.blocked[0].node_id
                ahead[node_id] = ahead.get(node_id, 0) + 1
                memory_nodes.add(node_id)
                continue
            queue = self.queues.queue(best.node_id, model, best.concurrency)
            slot = queue.try_acquire() if best.free_slot else None
            if slot is None and sole == best.node_id and not self._contended(best.node_id, model):
                slot = queue.try_acquire_ahead(AHEAD)  # checked only when it would go ahead
            if slot is None:
                ahead[best.node_id] = ahead.get(best.node_id, 0) + 1
                continue
            self._resolve(model, waiter, (best, slot))
        if memory_nodes:
            self._memory_nodes[model] = memory_nodes
        else:
            self._memory_nodes.pop(model, None)

    def _room(self, model: str, excluded: frozenset[str], ahead: dict[str, int]) -> bool:
        """Whether some node not excluded could give ``model`` a slot now, counting the waiters
        ``ahead`` (and the places ahead at the model's only node); also true when no node is
        left to ask (the ranking then hands it back)."""
        sole = self._sole.get(model)
        if (
            sole is not None
            and sole not in excluded
            and self.queues.has_room(sole, model, ahead.get(sole, 0), spare=AHEAD)
        ):
            return True
        asked = False
        for record, _status in self.ranker.routable():
            node_id = record.node_id
            if node_id in excluded:
                continue
            asked = True
            if self.queues.has_room(node_id, model, ahead.get(node_id, 0)):
                return True
        return not asked

    def _contended(self, node_id: str, model: str) -> bool:
        """Whether other models' requests wait for memory on ``node_id``, or were lately found
        nearly willing to: a model kept busy there by requests sent ahead would never go idle,
        so Ollama could never evict it for them (and the wait they see grows with it)."""
        if self.queues.others_wait_on(node_id, model):
            return True
        if self.ranker.short_of_memory(node_id, model):
            return True
        return any(
            node_id in nodes for other, nodes in self._memory_nodes.items() if other != model
        )

    def _waits_for_memory(self, waiter: _Waiter, ranking: Ranking) -> bool:
        """Whether a node whose busy models must finish first is still worth waiting for: it is
        expected sooner than the best node that can start now, and patience lasts."""
        best = ranking.choices[0]
        if not ranking.blocked or ranking.blocked[0].estimate_s >= best.estimate_s:
            return False
        if waiter.patience_s is None:
            scale = self.ranker.speeds.speeds().wall_per_reported
            waiter.patience_s = best.estimate_s * scale
        return self.ranker.clock() - waiter.joined_at < waiter.patience_s

    def _resolve(self, model: str, waiter: _Waiter, result: Dispatch | Ranking) -> None:
        line = self._lines[model]
        if waiter in line:
            line.remove(waiter)
            self.queues.set_waiting(model, len(line))
        if waiter.future.done():  # gone while we planned: hand the slot back
            if isinstance(result, tuple):
                result[1].release(ok=False)
            return
        waiter.future.set_result(result)
