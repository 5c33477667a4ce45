"""The restorer's own rules around the pure plan: one load per node at a time, no retry of the same
restore within ``RETRY_S``, nothing while the toggle is off, failures counted."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from router.config import RouterSettings
from router.demand import Demand
from router.http_client import ConnectError
from router.metrics import Metrics
from router.queues import QueueBoard
from router.registry import Registry
from router.restorer import RETRY_S, EvictionRestorer
from tests.factories import Clock, heartbeat

SMALL, BIG = "llama3.2:3b", "qwen3:32b"
DISK = [(SMALL, 2.0), (BIG, 20.0)]


class Answer:
    def __init__(self, status_code: int, content: bytes = b"{}") -> None:
        self.status_code = status_code
        self.content = content


class Upstream:
    """Records each load; answers it when the test releases it (or fails it)."""

    def __init__(self) -> None:
        self.loads: list[tuple[str, str, dict[str, Any]]] = []
        self.release = asyncio.Event()
        self.fail = False

    async def request_json(
        self, method: str, base_url: str, path: str, payload: dict[str, Any], timeout: float
    ) -> Answer:
        self.loads.append((base_url, path, payload))
        await self.release.wait()
        if self.fail:
            raise ConnectError("connection refused")
        return Answer(200)


def still_empty() -> Any:
    return heartbeat("a", loaded=[], available=DISK, memory_gb=32, available_gb=28)


def displaced_fleet(clock: Clock) -> Registry:
    """Node ``a`` ran the 3B, the 32B displaced it, then the 32B left: room for the 3B again."""
    registry = Registry(clock)
    for loaded in ([(SMALL, 2.0)], [(BIG, 20.0)], []):
        registry.apply(heartbeat("a", loaded=loaded, available=DISK, memory_gb=32, available_gb=28))
        clock.now += 5
    record = registry.get("a")
    assert record is not None and set(record.displaced) == {SMALL}
    return registry


def restorer(clock: Clock, upstream: Upstream, settings: RouterSettings) -> EvictionRestorer:
    demand = Demand()
    demand.note(SMALL, clock.now)
    board = QueueBoard(clock)
    metrics = Metrics()
    return EvictionRestorer(
        settings,
        displaced_fleet(clock),
        board,
        demand,
        upstream,  # type: ignore[arg-type]  (the stand-in has the one method used)
        metrics,
        clock,
    )


def restores_counted(keeper: EvictionRestorer, outcome: str) -> float:
    text = keeper.metrics.exposition().decode()
    line = f'herd_restores_total{{model="{SMALL}",node="a",outcome="{outcome}"}}'
    return sum(float(row.split()[-1]) for row in text.splitlines() if row.startswith(line))


async def counted(keeper: EvictionRestorer, outcome: str) -> None:
    """Let the load task finish (a few loop turns, bounded) and check it was counted once."""
    for _ in range(20):
        if restores_counted(keeper, outcome):
            break
        await asyncio.sleep(0)
    assert restores_counted(keeper, outcome) == 1


async def test_one_load_per_node_and_no_retry_before_its_time() -> None:
    clock, upstream = Clock(10_000.0), Upstream()
    keeper = restorer(clock, upstream, RouterSettings())
    [started] = await keeper.run_once()
    assert (started.node_id, started.model) == ("a", SMALL)
    await asyncio.sleep(0)  # the load is under way
    assert upstream.loads == [("http://127.0.0.1:11434", "/api/generate", {"model": SMALL})]
    assert await keeper.run_once() == []  # the node is busy loading
    upstream.release.set()
    await counted(keeper, "done")
    # The node's heartbeats have not shown the 3B loaded yet (a lagging heartbeat, say).
    clock.now += RETRY_S - 1
    keeper.registry.apply(still_empty())
    assert await keeper.run_once() == []  # tried a moment ago
    clock.now += 1
    keeper.registry.apply(still_empty())
    assert len(await keeper.run_once()) == 1
    await keeper.aclose()


async def test_nothing_while_the_toggle_is_off() -> None:
    clock, upstream = Clock(10_000.0), Upstream()
    settings = RouterSettings()
    settings.toggles.restore_evicted = False
    keeper = restorer(clock, upstream, settings)
    assert await keeper.run_once() == []
    assert upstream.loads == []


@pytest.mark.parametrize("fail", [True, False])
async def test_a_failed_load_is_counted_as_failed(fail: bool) -> None:
    clock, upstream = Clock(10_000.0), Upstream()
    upstream.fail = fail
    keeper = restorer(clock, upstream, RouterSettings())
    await keeper.run_once()
    upstream.release.set()
    await counted(keeper, "failed" if fail else "done")
    await keeper.aclose()
