"""Late binding: requests wait in the router per model and go to the best node when it can.

A real registry, queue board and ranker over heartbeats, with an injected clock; no network. Speeds
come from the bandwidth prior (600 GB/s decodes a 5 GB model at 72 tokens/s, 300 GB/s at 36), so
every expectation below is arithmetic on the estimate, not a timing.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from router.config import RouterSettings
from router.pipeline.candidates import Ranker, Ranking
from router.pipeline.request import InferenceRequest
from router.pipeline.wait_line import WaitLine
from router.queues import QueueBoard, QueueFull, Slot
from router.registry import Registry
from tests.factories import GB, Clock, heartbeat

MODEL = "llama3.1:8b"
SIZE_GB = 5.0


class Fleet:
    """Registry, queues, ranker and wait line sharing one clock."""

    def __init__(self, max_waiting: int = 8) -> None:
        self.clock = Clock()
        self.registry = Registry(self.clock, degraded_after_s=300.0, offline_after_s=600.0)
        self.queues = QueueBoard(self.clock)
        self.ranker = Ranker(self.registry, self.queues, RouterSettings(), self.clock)
        self.line = WaitLine(self.ranker, self.queues, max_waiting)

    def node(self, node_id: str, *, bandwidth: float, hot: bool, parallel: int = 1) -> None:
        self.registry.apply(
            heartbeat(
                node_id,
                loaded=[(MODEL, SIZE_GB)] if hot else [],
                available=[(MODEL, SIZE_GB)],
                memory_gb=64.0,
                available_gb=50.0,
                num_parallel=parallel,
                hardware={
                    "hostname": node_id,
                    "memory_bytes": 64 * GB,
                    "memory_bandwidth_gbps": bandwidth,
                },
            )
        )

    def occupy(self, node_id: str) -> Slot:
        slot = self.queues.queue(node_id, MODEL, 1).try_acquire()
        assert slot is not None
        return slot

    def ask(
        self, tokens: int = 360, content: str = "hi", ranked: bool = False
    ) -> asyncio.Task[Any]:
        """Join the line; ``ranked``: with the ranking made just before, as the pipeline does."""
        body = {
            "model": MODEL,
            "messages": [{"role": "user", "content": content}],
            "options": {"num_predict": tokens},
        }
        request = InferenceRequest(kind="chat", model=MODEL, body=body, stream=False)
        ranking = self.ranker.rank(MODEL, request, frozenset()) if ranked else None
        return asyncio.ensure_future(self.line.take(MODEL, request, frozenset(), ranking))


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def node_of(task: asyncio.Task[Any]) -> str:
    choice, slot = task.result()
    slot.release(ok=True)
    return str(choice.node_id)


async def test_a_waiting_request_takes_the_first_node_that_frees() -> None:
    # Twins, both busy: the request waits in the router, committed to neither queue, and goes to
    # whichever frees first (here "b", though "a" ranked first by name while both were busy).
    fleet = Fleet()
    fleet.node("a", bandwidth=600, hot=True)
    fleet.node("b", bandwidth=600, hot=True)
    a, b = fleet.occupy("a"), fleet.occupy("b")
    task = fleet.ask()
    await settle()
    assert not task.done() and fleet.line.waiting(MODEL) == 1
    assert fleet.queues.depth("a", MODEL) == (0, 1)  # nothing queued at the node
    b.release(ok=True)
    await settle()
    assert node_of(task) == "b"
    a.release(ok=True)


async def test_never_waits_behind_a_queue_longer_than_a_load_elsewhere() -> None:
    # "a" has the model hot but busy with a request just started (a 2000-token answer: ~28 s
    # left); "b" loads it in ~3 s and runs it in the same time: go to "b" at once.
    fleet = Fleet()
    fleet.node("a", bandwidth=600, hot=True)
    fleet.node("b", bandwidth=600, hot=False)
    busy = fleet.occupy("a")
    task = fleet.ask(tokens=2000)
    await settle()
    assert node_of(task) == "b"
    busy.release(ok=True)


async def test_waits_for_the_fast_node_when_that_is_sooner() -> None:
    # "fast" is busy for ~5 s more and then runs it in 5 s; the idle "slow" node would need a
    # 3 s load and 10 s of decoding: waiting is sooner, so it waits, then goes to "fast".
    fleet = Fleet()
    fleet.node("fast", bandwidth=600, hot=True)
    fleet.node("slow", bandwidth=300, hot=False)
    busy = fleet.occupy("fast")
    task = fleet.ask()
    await settle()
    assert not task.done()
    busy.release(ok=True)
    await settle()
    assert node_of(task) == "fast"


async def test_earlier_requests_keep_the_better_node_and_later_ones_take_a_free_one() -> None:
    # Same fleet: the first request waits for "fast". For the second, "fast" has it waiting
    # ahead (10 s of wait), so loading on "slow" (13 s in all) is sooner: it goes there now,
    # while the first keeps its turn on "fast".
    fleet = Fleet()
    fleet.node("fast", bandwidth=600, hot=True)
    fleet.node("slow", bandwidth=300, hot=False)
    busy = fleet.occupy("fast")
    first, second = fleet.ask(content="first"), fleet.ask(content="second")
    await settle()
    assert not first.done()
    assert node_of(second) == "slow"
    busy.release(ok=True)
    await settle()
    assert node_of(first) == "fast"


async def test_first_come_first_served_per_model() -> None:
    fleet = Fleet()
    fleet.node("a", bandwidth=600, hot=False)  # cold: nothing is sent ahead to it
    holder = fleet.occupy("a")
    tasks = [fleet.ask(content=f"q{i}") for i in range(3)]
    served: list[int] = []
    for _ in range(3):
        await settle()
        assert sum(t.done() for t in tasks) == len(served)
        holder.release(ok=True)
        await settle()
        done = [i for i, t in enumerate(tasks) if t.done() and i not in served]
        assert len(done) == 1
        served.append(done[0])
        holder = tasks[done[0]].result()[1]
    assert served == [0, 1, 2]
    holder.release(ok=True)


async def test_a_client_that_leaves_gives_its_place_and_slot_back() -> None:
    fleet = Fleet()
    fleet.node("a", bandwidth=600, hot=False)  # cold: nothing is sent ahead to it
    holder = fleet.occupy("a")
    leaving, staying = fleet.ask(content="leaving"), fleet.ask(content="staying")
    await settle()
    leaving.cancel()
    await settle()
    assert fleet.line.waiting(MODEL) == 1
    holder.release(ok=True)
    await settle()
    assert node_of(staying) == "a"
    assert fleet.queues.depth("a", MODEL) == (0, 0)


async def test_the_line_is_bounded() -> None:
    fleet = Fleet(max_waiting=1)
    fleet.node("a", bandwidth=600, hot=False)  # cold: nothing is sent ahead to it
    holder = fleet.occupy("a")
    waiting = fleet.ask()
    await settle()
    with pytest.raises(QueueFull):
        await fleet.ask()
    waiting.cancel()
    await settle()
    holder.release(ok=True)


async def test_a_request_no_node_can_load_is_handed_back() -> None:
    fleet = Fleet()
    fleet.node("a", bandwidth=600, hot=False)
    fleet.registry.apply(heartbeat("a", status="draining", available=[(MODEL, SIZE_GB)]))
    task = fleet.ask()
    await settle()
    result = task.result()
    assert isinstance(result, Ranking) and not result.choices


async def test_a_node_that_joins_takes_the_waiting_request() -> None:
    fleet = Fleet()
    fleet.node("a", bandwidth=600, hot=False)  # cold: nothing is sent ahead to it
    holder = fleet.occupy("a")
    task = fleet.ask(tokens=2000)
    await settle()
    assert not task.done()
    fleet.node("b", bandwidth=600, hot=True)  # a heartbeat re-plans the line
    await settle()
    assert node_of(task) == "b"
    holder.release(ok=True)


def memory_bound(fleet: Fleet) -> Slot:
    """A 10 GB "big" node whose memory is held by a busy 8 GB model (the 8B must wait for it),
    and an idle "slow" node (100 GB/s) that could load the 8B now but runs it six times slower."""
    fleet.registry.apply(
        heartbeat(
            "big",
            loaded=[("other:7b", 8.0)],
            available=[(MODEL, SIZE_GB), ("other:7b", 4.0)],
            memory_gb=10.0,
            available_gb=1.0,
            num_parallel=1,
            hardware={"hostname": "big", "memory_bytes": 10 * GB, "memory_bandwidth_gbps": 600},
        )
    )
    fleet.node("slow", bandwidth=100, hot=False)
    slot = fleet.queues.queue("big", "other:7b", 1).try_acquire()
    assert slot is not None
    return slot


async def test_waits_for_memory_on_a_busy_node_when_that_is_sooner() -> None:
    fleet = Fleet()
    busy = memory_bound(fleet)
    task = fleet.ask()
    await settle()
    assert not task.done()
    busy.release(ok=True)  # the busy model finishes: Ollama can evict it now
    await settle()
    assert node_of(task) == "big"


async def test_patience_for_memory_runs_out() -> None:
    # Waiting for memory is bounded by the estimate of the node free now (~33 s): past it, the
    # request goes there, though the busy model is still busy.
    fleet = Fleet()
    busy = memory_bound(fleet)
    task = fleet.ask()
    await settle()
    assert not task.done()
    fleet.clock.now += 40.0
    fleet.line.replan_all()  # as its own timer would
    await settle()
    assert node_of(task) == "slow"
    busy.release(ok=True)


class CountingRanker(Ranker):
    """The real ranker, counting how many waiters it ranked."""

    ranked = 0

    def rank(self, *args: Any, **kwargs: Any) -> Ranking:
        self.ranked += 1
        return super().rank(*args, **kwargs)


async def test_a_saturated_line_ranks_only_what_could_be_dispatched() -> None:
    # One node, one slot, ten waiting: each freed slot ranks the head (it takes the slot) and
    # nobody behind it (no node has room for them); a heartbeat plans once for many of them.
    fleet = Fleet(max_waiting=16)
    ranker = CountingRanker(fleet.registry, fleet.queues, RouterSettings(), fleet.clock)
    fleet.ranker, fleet.line = ranker, WaitLine(ranker, fleet.queues, 16)
    fleet.node("a", bandwidth=600, hot=False)  # cold: nothing is sent ahead to it
    holder = fleet.occupy("a")
    tasks = [fleet.ask(content=f"q{i}") for i in range(10)]
    await settle()
    assert ranker.ranked == 0 and fleet.line.waiting(MODEL) == 10
    holder.release(ok=True)
    await settle()
    assert ranker.ranked == 1
    choice, slot = tasks[0].result()
    assert choice.node_id == "a" and fleet.line.waiting(MODEL) == 9
    for _ in range(5):
        fleet.node("a", bandwidth=600, hot=False)
    await settle()
    assert ranker.ranked == 1  # still no room: the heartbeats' plan ranked nobody
    for task in tasks[1:]:
        task.cancel()
    await settle()
    slot.release(ok=True)
    assert ranker.ranked == 1 and fleet.line.waiting(MODEL) == 0


async def test_a_model_only_one_node_serves_is_sent_ahead_into_its_queue() -> None:
    # Only "a" has the model: waiting in the router gains nothing, so while its one slot is busy
    # the next request goes ahead into the node's own queue (it starts there the instant the slot
    # frees); one is enough, so the one after it waits in the router.
    fleet = Fleet()
    fleet.node("a", bandwidth=600, hot=True)
    busy = fleet.occupy("a")
    first, second = fleet.ask(ranked=True), fleet.ask(ranked=True)
    await settle()
    assert first.done() and not second.done()
    choice, slot = first.result()
    assert choice.node_id == "a" and slot.ahead
    assert fleet.queues.depth("a", MODEL) == (0, 2) and fleet.line.waiting(MODEL) == 1
    busy.release(ok=True)  # the slot frees: the one ahead runs, the next goes ahead
    await settle()
    assert second.done() and second.result()[1].ahead
    slot.release(ok=True)
    second.result()[1].release(ok=True)


async def test_nothing_is_sent_ahead_while_another_node_could_serve_it() -> None:
    # "b" could load the model (slower than waiting for "a"): the request keeps its options open
    # in the router instead of committing to "a"'s queue.
    fleet = Fleet()
    fleet.node("a", bandwidth=600, hot=True)
    fleet.node("b", bandwidth=150, hot=False)
    busy = fleet.occupy("a")
    task = fleet.ask(tokens=40, ranked=True)
    await settle()
    assert not task.done() and fleet.queues.depth("a", MODEL) == (0, 1)
    busy.release(ok=True)
    await settle()
    choice, slot = task.result()
    assert choice.node_id == "a" and not slot.ahead
    slot.release(ok=True)


async def test_nothing_is_sent_ahead_to_a_node_where_the_model_is_not_loaded() -> None:
    # A cold model is no certainty about the node (it may be short of memory by then): the
    # request takes the free slot, and the next one waits in the router.
    fleet = Fleet()
    fleet.node("a", bandwidth=600, hot=False)
    first, second = fleet.ask(ranked=True), fleet.ask(ranked=True)
    await settle()
    assert first.done() and not first.result()[1].ahead
    assert not second.done() and fleet.line.waiting(MODEL) == 1
    first.result()[1].release(ok=True)
    await settle()
    second.result()[1].release(ok=True)


async def test_nothing_is_sent_ahead_while_another_model_waits_there_for_memory() -> None:
    # A request for another model waits at "a" for memory the busy model holds: keeping that
    # model busy with requests sent ahead would never let it go idle, so Ollama could never
    # evict it; the request waits in the router instead.
    fleet = Fleet()
    fleet.node("a", bandwidth=600, hot=True)
    busy = fleet.occupy("a")
    other = fleet.queues.queue("a", "other:7b", 1)
    holder = other.try_acquire()
    blocked = asyncio.ensure_future(other.acquire())
    await settle()
    task = fleet.ask(ranked=True)
    await settle()
    assert not task.done() and fleet.queues.depth("a", MODEL) == (0, 1)
    blocked.cancel()
    await settle()
    busy.release(ok=True)
    await settle()
    choice, slot = task.result()
    assert choice.node_id == "a" and not slot.ahead
    slot.release(ok=True)
    assert holder is not None
    holder.release(ok=True)


async def test_nothing_is_sent_ahead_to_a_node_another_model_lately_found_blocked() -> None:
    # "a" (10 GB) serves MODEL alone; another model would load there but MODEL, busy, holds the
    # memory. A ranking that found "a" blocked for it marks "a" as contended for a while: sending
    # MODEL's requests ahead would keep it busy and the other model out.
    fleet = Fleet()
    fleet.registry.apply(
        heartbeat(
            "a",
            loaded=[(MODEL, SIZE_GB)],
            available=[(MODEL, SIZE_GB), ("other:7b", 4.0)],
            memory_gb=10.0,
            available_gb=4.0,
            num_parallel=1,
            hardware={"hostname": "a", "memory_bytes": 10 * GB, "memory_bandwidth_gbps": 600},
        )
    )
    busy = fleet.occupy("a")
    body = {"model": "other:7b", "messages": [{"role": "user", "content": "hi"}]}
    other = InferenceRequest(kind="chat", model="other:7b", body=body, stream=False)
    assert [c.node_id for c in fleet.ranker.rank("other:7b", other, frozenset()).blocked] == ["a"]
    task = fleet.ask(ranked=True)
    await settle()
    assert not task.done() and fleet.queues.depth("a", MODEL) == (0, 1)
    fleet.clock.now += 60  # long after: "a" counts as contended no more
    fleet.line.replan(MODEL)
    await settle()
    choice, slot = task.result()
    assert choice.node_id == "a" and slot.ahead
    slot.release(ok=True)
    busy.release(ok=True)
