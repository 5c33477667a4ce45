"""The fleet benchmark's no-wait bound is a bound: no schedule serves a request sooner."""

from __future__ import annotations

import pytest

from bench.clairvoyant import prompt_tokens, schedule
from bench.no_wait import alone
from bench.scenarios import SCENARIOS
from node.sim.catalogue import CATALOGUE, PROFILES


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_no_request_of_the_clairvoyant_schedule_beats_the_no_wait_bound(name: str) -> None:
    scenario = SCENARIOS[name]
    sessions = scenario.workload(1)
    floors = {(r.session_id, r.turn): r for r in alone(scenario, sessions)}
    scheduled = schedule(scenario, sessions, 1.0 / scenario.time_scale)
    served = [r for r in scheduled if r.node is not None]
    assert served and len(floors) == sum(len(s.turns) for s in sessions)
    for result in served:
        floor = floors[(result.session_id, result.turn)]
        assert floor.latency_s <= result.latency_s + 1e-9
        assert floor.ttft_s <= result.ttft_s + 1e-9


def test_a_request_goes_alone_to_the_fastest_node_holding_its_model() -> None:
    # Speed skew: every node holds the small models; the workstation decodes fastest, so each
    # request's bound is its prompt and answer at the workstation's speeds, nothing more.
    scenario = SCENARIOS["speed-skew"]
    session = scenario.workload(1)[0]
    first = alone(scenario, [session])[0]
    turn = session.turns[0]
    profile, spec = PROFILES["workstation"], CATALOGUE[session.model]
    prompt = prompt_tokens(turn.body) / profile.prompt_tps(spec)
    answer = turn.body["options"]["num_predict"] / profile.decode_tps(spec)
    assert first.node == "fast" and not first.cold
    assert first.ttft_s == pytest.approx(prompt)
    assert first.latency_s == pytest.approx(prompt + answer)
