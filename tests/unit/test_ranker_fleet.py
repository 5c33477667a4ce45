"""The ranker's view of the fleet is reused between decisions, yet never stale: a node that falls
silent turns degraded, then offline, with no heartbeat to tell the ranker; a heartbeat is seen at
once. And the breakdown a choice carries is the scorer's, term for term."""

from __future__ import annotations

from router.config import RouterSettings
from router.pipeline.candidates import Ranker
from router.pipeline.request import InferenceRequest
from router.queues import QueueBoard
from router.registry import Registry
from router.scoring import SIGNALS, terms
from tests.factories import Clock, heartbeat

MODEL = "llama3.1:8b"


def fleet() -> tuple[Clock, Registry, Ranker]:
    clock = Clock()
    registry = Registry(clock, degraded_after_s=15.0, offline_after_s=30.0)
    ranker = Ranker(registry, QueueBoard(clock), RouterSettings(), clock)
    return clock, registry, ranker


def beat(registry: Registry, node_id: str) -> None:
    registry.apply(heartbeat(node_id, loaded=[(MODEL, 5.0)], available=[(MODEL, 5.0)]))


def ask() -> InferenceRequest:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    return InferenceRequest(kind="chat", model=MODEL, body=body, stream=False)


def test_a_silent_node_turns_degraded_then_offline_between_decisions() -> None:
    clock, registry, ranker = fleet()
    beat(registry, "a")
    beat(registry, "b")
    first = ranker.rank(MODEL, ask(), set())
    assert {c.node_id for c in first.choices} == {"a", "b"}
    assert all(c.breakdown["health"] == 0.0 for c in first.choices)

    clock.now += 10.0
    beat(registry, "b")  # only b keeps talking
    clock.now += 6.0  # a: 16 s of silence
    degraded = {c.node_id: c for c in ranker.rank(MODEL, ask(), set()).choices}
    assert degraded["a"].breakdown["health"] >= terms.DEGRADED_PENALTY_S
    assert degraded["b"].breakdown["health"] == 0.0

    clock.now += 15.0  # a: 31 s of silence, b: 21 s
    late = ranker.rank(MODEL, ask(), set())
    assert [c.node_id for c in late.choices] == ["b"]
    assert late.choices[0].breakdown["health"] >= terms.DEGRADED_PENALTY_S


def test_a_new_node_is_ranked_at_the_next_decision() -> None:
    _clock, registry, ranker = fleet()
    beat(registry, "a")
    assert [c.node_id for c in ranker.rank(MODEL, ask(), set()).choices] == ["a"]
    beat(registry, "b")
    assert {c.node_id for c in ranker.rank(MODEL, ask(), set()).choices} == {"a", "b"}


def test_a_choice_breaks_its_estimate_down_by_every_signal() -> None:
    _clock, registry, ranker = fleet()
    beat(registry, "a")
    choice = ranker.rank(MODEL, ask(), set()).choices[0]
    assert tuple(choice.breakdown) == SIGNALS
    assert sum(choice.breakdown.values()) == choice.estimate_s
    assert dict(choice.breakdown)["latency"] == choice.run_s > 0
    explained = ranker.rank(MODEL, ask(), set()).explain("a")[0]
    assert set(explained["breakdown"]) == set(SIGNALS) and explained["outcome"] == "chosen"


def test_a_large_fleets_trace_names_the_best_nodes_and_counts_the_rest() -> None:
    _clock, registry, ranker = fleet()
    for i in range(30):
        beat(registry, f"hot-{i:02d}")
    for i in range(15):  # nothing of the model on them: rejected
        registry.apply(heartbeat(f"empty-{i:02d}", loaded=[], available=[]))
    ranking = ranker.rank(MODEL, ask(), set())
    assert len(ranking.choices) == 30 and len(ranking.rejected) == 15
    last = ranking.choices[-1].node_id
    explained = ranking.explain(last)
    ranked = [e for e in explained if e["outcome"] in ("chosen", "ranked lower")]
    assert [e["node_id"] for e in ranked[:-1]] == [c.node_id for c in ranking.choices[:10]]
    assert ranked[-1]["node_id"] == last and ranked[-1]["outcome"] == "chosen"
    assert len([e for e in explained if e["outcome"] == "rejected"]) == 10
    assert explained[-1] == {
        "node_id": "+24 more",
        "outcome": "not shown",
        "reason": "19 more ranked lower, 5 more rejected",
    }
    small = fleet()
    beat(small[1], "a")
    assert [e["outcome"] for e in small[2].rank(MODEL, ask(), set()).explain("a")] == ["chosen"]
