"""A load the router sent unloads models before any heartbeat says so: rankings know at once.

A real registry, queue board and ranker with an injected clock; no network.
"""

from __future__ import annotations

from router.config import RouterSettings
from router.pipeline.candidates import EVICTION_HOLD_S, Ranker
from router.pipeline.request import InferenceRequest
from router.queues import QueueBoard
from router.registry import Registry
from tests.factories import heartbeat

OLD, NEW = "old:8b", "new:8b"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def setup() -> tuple[Clock, Registry, Ranker]:
    clock = Clock()
    registry = Registry(clock, degraded_after_s=300.0, offline_after_s=600.0)
    ranker = Ranker(registry, QueueBoard(clock), RouterSettings(), clock)
    # 12 GB node: the idle 8 GB "old" model must go for the 8 GB "new" one to load.
    registry.apply(
        heartbeat(
            "n",
            loaded=[(OLD, 8.0)],
            available=[(OLD, 8.0), (NEW, 8.0)],
            memory_gb=12.0,
            available_gb=3.0,
        )
    )
    return clock, registry, ranker


def ask(ranker: Ranker, model: str) -> bool:
    """Whether the ranking sees ``model`` hot on the node."""
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    request = InferenceRequest(kind="chat", model=model, body=body, stream=True)
    return any(choice.hot for choice in ranker.rank(model, request, frozenset()).choices)


def test_a_model_a_load_unloads_is_cold_until_a_heartbeat_shows_the_load() -> None:
    clock, registry, ranker = setup()
    body = {"model": NEW, "messages": [{"role": "user", "content": "hi"}]}
    cold = ranker.rank(
        NEW, InferenceRequest(kind="chat", model=NEW, body=body, stream=True), frozenset()
    )
    choice = cold.choices[0]
    assert not choice.hot and choice.evicts == (OLD,)
    assert ask(ranker, OLD)
    ranker.loading("n", NEW, choice.evicts)
    assert not ask(ranker, OLD)  # the heartbeat still lists it; the router knows better
    clock.now += 2
    registry.apply(  # a heartbeat gathered before the load: the old model still listed
        heartbeat(
            "n",
            loaded=[(OLD, 8.0)],
            available=[(OLD, 8.0), (NEW, 8.0)],
            memory_gb=12.0,
            available_gb=3.0,
        )
    )
    assert not ask(ranker, OLD)
    registry.apply(  # the load shows: the node's own report is the truth again
        heartbeat(
            "n",
            loaded=[(NEW, 8.0)],
            available=[(OLD, 8.0), (NEW, 8.0)],
            memory_gb=12.0,
            available_gb=3.0,
        )
    )
    assert ask(ranker, NEW) and not ask(ranker, OLD)
    registry.apply(  # the old model is back (loaded again later): hot
        heartbeat(
            "n",
            loaded=[(OLD, 8.0)],
            available=[(OLD, 8.0), (NEW, 8.0)],
            memory_gb=12.0,
            available_gb=3.0,
        )
    )
    assert ask(ranker, OLD)


def test_without_a_heartbeat_the_assumption_lasts_only_the_hold() -> None:
    clock, _registry, ranker = setup()
    ranker.loading("n", NEW, (OLD,))
    assert not ask(ranker, OLD)
    clock.now += EVICTION_HOLD_S
    assert ask(ranker, OLD)
