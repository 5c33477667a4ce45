"""Per node:model queues: real bounds, arrival order, full queues, cancellation, the reaper."""

from __future__ import annotations

import asyncio

import pytest

from router.queues import QueueBoard, QueueFull
from tests.factories import Clock


async def test_never_more_in_flight_than_the_concurrency() -> None:
    board = QueueBoard(Clock(0.0), max_queue=10)
    queue = board.queue("a", "m", concurrency=2)
    first = await queue.acquire()
    second = await queue.acquire()
    third = asyncio.create_task(queue.acquire())
    await asyncio.sleep(0)
    assert (queue.in_flight, queue.pending) == (2, 1)
    assert not third.done()
    first.release(ok=True)
    slot = await third
    assert (queue.in_flight, queue.pending, queue.done) == (2, 0, 1)
    second.release(ok=False)
    slot.release(ok=True)
    assert (queue.in_flight, queue.done, queue.failed) == (0, 2, 1)


async def test_waiters_are_served_in_arrival_order() -> None:
    queue = QueueBoard(Clock(0.0)).queue("a", "m", concurrency=1)
    holder = await queue.acquire()
    order: list[int] = []

    async def wait(n: int) -> None:
        slot = await queue.acquire()
        order.append(n)
        slot.release(ok=True)

    tasks = [asyncio.create_task(wait(n)) for n in range(5)]
    await asyncio.sleep(0)
    holder.release(ok=True)
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]


async def test_a_full_queue_refuses() -> None:
    queue = QueueBoard(Clock(0.0), max_queue=1).queue("a", "m", concurrency=1)
    await queue.acquire()
    waiting = asyncio.create_task(queue.acquire())
    await asyncio.sleep(0)
    with pytest.raises(QueueFull):
        await queue.acquire()
    waiting.cancel()


async def test_a_cancelled_waiter_gives_its_place_up() -> None:
    queue = QueueBoard(Clock(0.0)).queue("a", "m", concurrency=1)
    holder = await queue.acquire()
    waiting = asyncio.create_task(queue.acquire())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert queue.pending == 0
    holder.release(ok=True)
    assert queue.in_flight == 0
    again = await queue.acquire()
    assert queue.in_flight == 1
    again.release(ok=True)


async def test_a_waiter_cancelled_after_being_handed_a_slot_passes_it_on() -> None:
    queue = QueueBoard(Clock(0.0)).queue("a", "m", concurrency=1)
    holder = await queue.acquire()
    handed = asyncio.create_task(queue.acquire())
    after = asyncio.create_task(queue.acquire())
    await asyncio.sleep(0)
    holder.release(ok=True)  # hands the slot to `handed` ...
    handed.cancel()  # ... which is cancelled before it runs
    slot = await after
    assert queue.in_flight == 1
    slot.release(ok=True)
    assert queue.in_flight == 0


async def test_release_is_idempotent() -> None:
    queue = QueueBoard(Clock(0.0)).queue("a", "m", concurrency=1)
    slot = await queue.acquire()
    slot.release(ok=True)
    slot.release(ok=False)
    assert (queue.in_flight, queue.done, queue.failed) == (0, 1, 0)


async def test_raising_the_concurrency_admits_waiters() -> None:
    board = QueueBoard(Clock(0.0))
    queue = board.queue("a", "m", concurrency=1)
    await queue.acquire()
    waiting = asyncio.create_task(queue.acquire())
    await asyncio.sleep(0)
    assert not waiting.done()
    board.queue("a", "m", concurrency=2)
    slot = await waiting
    assert queue.in_flight == 2
    slot.release(ok=True)


async def test_the_reaper_frees_only_stalled_slots() -> None:
    clock = Clock(0.0)
    board = QueueBoard(clock)
    queue = board.queue("a", "m", concurrency=2)
    stalled = await queue.acquire()
    busy = await queue.acquire()
    reaped_calls: list[str] = []
    stalled.on_reap = lambda: reaped_calls.append("stalled")
    clock.now = 100.0
    busy.touch(clock.now)
    freed = board.reap(now=clock.now, timeout_s=60.0)
    assert freed == [stalled] and stalled.reaped and reaped_calls == ["stalled"]
    assert (queue.in_flight, queue.failed, queue.reaped) == (1, 1, 1)
    busy.release(ok=True)


async def test_board_counts_and_stats() -> None:
    board = QueueBoard(Clock(0.0))
    a = await board.queue("a", "m1", 2).acquire()
    await board.queue("b", "m1", 1).acquire()
    assert board.total_in_flight == 2
    assert board.in_flight_on("a") == 1
    assert board.depth("a", "m1") == (0, 1) and board.depth("z", "m") == (0, 0)
    stats = board.stats()
    assert stats["a:m1"].in_flight == 1 and stats["b:m1"].concurrency == 1
    a.release(ok=True)
    assert board.stats()["a:m1"].done == 1


async def test_the_load_sums_the_running_requests_elapsed_seconds() -> None:
    clock = Clock(0.0)
    clock.now = 1_700_000_000.0
    board = QueueBoard(clock)
    queue = board.queue("a", "m1", 3)
    first = await queue.acquire()
    clock.now += 2.0
    second = await queue.acquire()
    clock.now += 1.0
    assert board.depths()[("a", "m1")] == (0, 2, pytest.approx(4.0))
    first.release(ok=True)
    first.release(ok=True)  # idempotent: counted once
    assert queue.load() == (0, 1, pytest.approx(1.0))
    second.release(ok=False)
    assert queue.load() == (0, 0, 0.0)
    clock.now += 5.0
    await queue.acquire()
    clock.now += 0.5
    assert queue.load() == (0, 1, pytest.approx(0.5))


async def test_a_slot_ahead_is_admitted_beyond_the_concurrency_up_to_the_spare() -> None:
    board = QueueBoard(Clock(0.0), max_queue=10)
    queue = board.queue("a", "m", concurrency=1)
    running = queue.try_acquire_ahead(spare=1)
    assert running is not None and not running.ahead  # a free slot: an ordinary one
    assert board.has_room("a", "m", spare=1) and not board.has_room("a", "m")
    ahead = queue.try_acquire_ahead(spare=1)
    assert ahead is not None and ahead.ahead and queue.in_flight == 2
    assert queue.try_acquire_ahead(spare=1) is None
    assert not board.has_room("a", "m", spare=1)
    # Someone waiting here for a slot keeps its place: nothing overtakes it.
    running.release(ok=True)
    waiter = asyncio.create_task(queue.acquire())
    await asyncio.sleep(0)
    assert queue.pending == 1 and queue.try_acquire_ahead(spare=5) is None
    ahead.release(ok=True)
    (await waiter).release(ok=True)
    assert queue.in_flight == 0
