"""A load the router sent changes a node before any heartbeat says so: rankings know at once.

Heartbeats lag by seconds. Between the moment the router sends a cold load and the first heartbeat
that shows it, rankings see the loading model as loaded and busy (holding its memory, with the load
time still to go), and the idle models it unloads as gone. A real registry, queue board and ranker
with an injected clock; no network.
"""

from __future__ import annotations

from typing import Any

from router.config import RouterSettings
from router.pipeline.candidates import Ranker, Ranking
from router.pipeline.loads_under_way import LOAD_HOLD_S
from router.pipeline.request import InferenceRequest
from router.queues import QueueBoard, Slot
from router.registry import Registry
from tests.factories import Clock, heartbeat

OLD, NEW, THIRD = "old:8b", "new:8b", "third:8b"
ON_DISK = [(OLD, 5.0), (NEW, 5.0), (THIRD, 5.0)]


class Fleet:
    def __init__(self) -> None:
        self.clock = Clock()
        self.registry = Registry(self.clock, degraded_after_s=300.0, offline_after_s=600.0)
        self.queues = QueueBoard(self.clock)
        self.ranker = Ranker(self.registry, self.queues, RouterSettings(), self.clock)

    def report(self, loaded: list[tuple[str, float]], free_gb: float, **extra: Any) -> None:
        """A heartbeat from the one 16 GB node ``n`` (decimal GB)."""
        self.registry.apply(
            heartbeat(
                "n",
                loaded=loaded,
                available=ON_DISK,
                memory_gb=16.0,
                available_gb=free_gb,
                **extra,
            )
        )

    def rank(self, model: str) -> Ranking:
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        request = InferenceRequest(kind="chat", model=model, body=body, stream=True)
        return self.ranker.rank(model, request, frozenset())

    def hot(self, model: str) -> bool:
        """Whether the ranking sees ``model`` loaded on the node."""
        return any(choice.hot for choice in self.rank(model).choices)

    def send(self, model: str) -> Slot:
        """The router sends a request for ``model`` that loads it, as the pipeline does."""
        ranking = self.rank(model)
        choice = (ranking.choices or ranking.blocked)[0]
        assert not choice.hot
        slot = self.queues.queue("n", model, 2).try_acquire()
        assert slot is not None
        self.ranker.loading("n", model, choice.evicts)
        return slot


def test_the_models_a_load_unloads_are_gone_until_a_later_report_shows_the_node() -> None:
    fleet = Fleet()
    fleet.report([(OLD, 9.0)], free_gb=3.0)  # NEW needs OLD's memory
    assert fleet.rank(NEW).choices[0].evicts == (OLD,)
    assert fleet.hot(OLD)
    fleet.send(NEW)
    assert not fleet.hot(OLD)  # the heartbeat still lists it; the router knows
    fleet.clock.now += 1
    fleet.report([(OLD, 9.0)], free_gb=3.0)  # gathered before the load: the node lags
    assert not fleet.hot(OLD)
    fleet.clock.now += 1
    fleet.report([(NEW, 9.0)], free_gb=3.0)  # the load shows: the node's report is the truth
    assert fleet.hot(NEW)
    assert not fleet.hot(OLD)


def test_the_loading_model_holds_its_memory() -> None:
    fleet = Fleet()
    fleet.report([(OLD, 5.0)], free_gb=11.0)  # room for one more 5 GB model, not two
    assert fleet.rank(THIRD).choices[0].evicts == ()
    fleet.send(NEW)
    third = fleet.rank(THIRD).choices[0]
    assert third.evicts == (OLD,)  # NEW took the free memory: THIRD must unload the idle OLD


def test_a_request_for_the_loading_model_pays_what_is_left_of_the_load() -> None:
    fleet = Fleet()
    fleet.report([], free_gb=16.0)
    cold = fleet.rank(NEW).choices[0]
    fleet.send(NEW)
    loading = fleet.rank(NEW).choices[0]
    assert loading.hot
    assert 0 < loading.breakdown["memory_fit"] <= cold.breakdown["memory_fit"] + 1e-9
    fleet.clock.now += cold.breakdown["memory_fit"] + 1  # past the expected load, no report yet
    assert fleet.rank(NEW).choices[0].breakdown["memory_fit"] == 0


def test_under_critical_pressure_a_node_whose_memory_goes_to_a_load_makes_others_wait() -> None:
    """The first version removed the unloaded models without giving their memory to the loading
    one: a node under critical pressure looked empty and a request was refused (503)."""
    fleet = Fleet()
    critical = {"total_bytes": 16 * 10**9, "used_bytes": 15_6 * 10**8, "available_bytes": 4 * 10**8}
    fleet.report([(OLD, 9.0)], free_gb=0.4, memory={**critical, "pressure": "critical"})
    fleet.send(NEW)  # unloads OLD: its memory goes to NEW, busy
    ranking = fleet.rank(THIRD)
    assert not ranking.choices
    assert [b.node_id for b in ranking.blocked] == ["n"]  # it waits for NEW; nothing refused


def test_the_view_ends_when_the_node_reports_and_the_router_has_nothing_running_there() -> None:
    fleet = Fleet()
    fleet.report([(OLD, 9.0)], free_gb=3.0)
    slot = fleet.send(NEW)
    slot.release(ok=False)  # the load failed
    assert not fleet.hot(OLD)  # no report since: still assumed gone
    fleet.clock.now += 1
    fleet.report([(OLD, 9.0)], free_gb=3.0)
    assert fleet.hot(OLD)


def test_without_a_report_the_view_lasts_only_the_hold() -> None:
    fleet = Fleet()
    fleet.report([(OLD, 9.0)], free_gb=3.0)
    fleet.send(NEW)
    assert not fleet.hot(OLD)
    fleet.clock.now += LOAD_HOLD_S
    assert fleet.hot(OLD)
