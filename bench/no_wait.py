"""The no-wait bound: what no router can beat, because it ignores every other request.

Owns ``alone``: each request's latency if it were served by itself, the moment it arrived, on the
fastest node that holds its model, with the model already loaded (no queue, no load, no batching
slowdown), from the simulator's physics (``node.sim.catalogue``). Every router's latency for a
request is at least this, so any percentile of a router's latencies (with every request served)
is at least the same percentile of these. When the bound's p95 is above half of
least-connections' p95 for a seed, issue 9's target "p95 <= 0.5x least-connections" cannot be met
there by any router: the target is out of reach, whatever the routing.

It is a loose bound (memory pressure forces loads no request alone would pay), and a true one.
Times are modelled seconds. Pure: no clock, no I/O.
"""

from __future__ import annotations

from bench.clairvoyant import Result, prompt_tokens
from bench.scenarios import Scenario
from bench.workload import Session
from herd_contract.model_names import normalize
from node.sim.catalogue import CATALOGUE, PROFILES


def alone(scenario: Scenario, sessions: list[Session]) -> list[Result]:
    """Every request's latency served alone, hot, on the fastest node holding its model (even
    one that is away at the time: the bound stays a bound)."""
    disks = {n.node_id: {normalize(m) for m in n.models} for n in scenario.nodes}
    results: list[Result] = []
    for session in sessions:
        spec = CATALOGUE[session.model]
        for index, turn in enumerate(session.turns):
            options = turn.body.get("options") or {}
            output = int(options.get("num_predict", 128)) if isinstance(options, dict) else 128
            prompt = prompt_tokens(turn.body)
            best: tuple[float, float, str] | None = None
            for node in scenario.nodes:
                if session.model not in disks[node.node_id]:
                    continue
                profile = PROFILES[node.profile]
                first = prompt / profile.prompt_tps(spec)
                finish = first + output / profile.decode_tps(spec)
                if best is None or finish < best[1]:
                    best = (first, finish, node.node_id)
            if best is None:
                continue
            first, finish, node_id = best
            results.append(
                Result(
                    session.session_id,
                    index,
                    session.size_class,
                    session.model,
                    finish,
                    first,
                    node_id,
                    False,
                )
            )
    return results
