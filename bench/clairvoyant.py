"""The clairvoyant bound: a scenario's workload scheduled greedily with the simulator's true times.

Owns ``schedule``: every request, in arrival order (a conversation's next turn arrives when the
previous one finished, plus its gap), goes to the node where it would *finish* first, knowing what
no router can know: the exact service time from the simulator's physics (``node.sim.catalogue``:
load seconds, prompt and decode speed, the batching slowdown), when every slot frees, and which
nodes will go away while it runs. Loads evict the models that go idle first, as many as the
memory and ``max_loaded_models`` require, and wait until those are idle; meanwhile that node takes
no later request, as Ollama's scheduler takes them one at a time. It is greedy, not optimal
(no future arrivals are considered), which is the "best a router could do without knowing the
future" the scenarios compare against.

Times are modelled seconds. Pure: no clock, no I/O.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from bench.scenarios import Scenario
from bench.workload import CONTEXT_TOKENS, Session
from herd_contract.model_names import normalize
from node.sim.catalogue import CATALOGUE, GIB, PROFILES, Profile
from node.sim.replies import count_tokens

MESSAGE_OVERHEAD_TOKENS = 4


@dataclass
class Result:
    session_id: int
    turn: int
    size_class: str
    model: str
    latency_s: float
    ttft_s: float
    node: str | None
    cold: bool


@dataclass
class _Loaded:
    size: int
    slots: list[float]
    """When each slot frees (modelled seconds)."""


@dataclass
class _Node:
    node_id: str
    profile: Profile
    memory: int
    down: list[tuple[float, float]]
    loaded: dict[str, _Loaded] = field(default_factory=dict)
    up_since: float = 0.0
    takes_from: float = 0.0
    """Ollama takes requests one at a time: none before a load waiting for busy models starts."""

    def available(self, start: float, end: float) -> bool:
        return all(end <= a or start >= b for a, b in self.down)

    def restart_if_back(self, now: float) -> None:
        """A node that came back since the last look starts empty (its models were lost)."""
        for a, b in self.down:
            if a < now and b <= now and self.up_since < b:
                self.loaded.clear()
                self.up_since = b


def prompt_tokens(body: dict[str, object]) -> int:
    messages = body.get("messages")
    if isinstance(messages, list):
        return sum(
            count_tokens(str(m.get("content", ""))) + MESSAGE_OVERHEAD_TOKENS
            for m in messages
            if isinstance(m, dict)
        )
    return count_tokens(str(body.get("prompt", "")))


def _plan(
    node: _Node, model: str, arrival: float, prompt: int, output: int
) -> tuple[float, float, list[str], bool, float] | None:
    """(start of generation, finish, models to evict, cold, when Ollama took it) on ``node``;
    None when it cannot."""
    arrival = max(arrival, node.takes_from)
    spec = CATALOGUE[model]
    profile = node.profile
    loaded = node.loaded.get(model)
    evict: list[str] = []
    if loaded is not None:
        start = max(arrival, min(loaded.slots))
        busy = sum(1 for t in loaded.slots if t > start)
        cold = False
        taken = arrival
    else:
        need = spec.loaded_size(CONTEXT_TOKENS, profile.num_parallel)
        if need > node.memory:
            return None
        free = node.memory - sum(m.size for m in node.loaded.values())
        count = len(node.loaded)
        ready = arrival
        for name, other in sorted(node.loaded.items(), key=lambda item: max(item[1].slots)):
            if free >= need and count < profile.max_loaded_models:
                break
            evict.append(name)
            free += other.size
            count -= 1
            ready = max(ready, max(other.slots))
        start = ready + profile.load_seconds(spec)
        busy = 0
        cold = True
        taken = ready
    prompt_s = prompt / profile.prompt_tps(spec)
    decode_s = output / profile.decode_tps(spec) * (1 + profile.batch_penalty * busy)
    return start + prompt_s, start + prompt_s + decode_s, evict, cold, taken


def schedule(scenario: Scenario, sessions: list[Session], gap_scale: float) -> list[Result]:
    """Every request's outcome under the greedy clairvoyant schedule. ``gap_scale`` converts the
    sessions' think-time gaps (real seconds) to modelled seconds (1 / time scale)."""
    downs: dict[str, list[tuple[float, float]]] = {n.node_id: [] for n in scenario.nodes}
    stopped: dict[str, float] = {}
    for event in sorted(scenario.events, key=lambda e: e.at_s):
        if event.action == "stop":
            stopped[event.node_id] = event.at_s
        elif event.node_id in stopped:
            downs[event.node_id].append((stopped.pop(event.node_id), event.at_s))
    for node_id, at in stopped.items():
        downs[node_id].append((at, float("inf")))
    nodes = [
        _Node(
            n.node_id,
            PROFILES[n.profile],
            int((n.memory_gb or PROFILES[n.profile].memory_gb) * GIB),
            downs[n.node_id],
        )
        for n in scenario.nodes
    ]
    disks = {n.node_id: {normalize(m) for m in n.models} for n in scenario.nodes}
    arrivals: list[tuple[float, int, int]] = [(s.start_s, s.session_id, 0) for s in sessions]
    heapq.heapify(arrivals)
    by_id = {s.session_id: s for s in sessions}
    results: list[Result] = []
    while arrivals:
        at, session_id, turn_index = heapq.heappop(arrivals)
        session = by_id[session_id]
        turn = session.turns[turn_index]
        body = turn.body
        options = body.get("options") or {}
        output = int(options.get("num_predict", 128)) if isinstance(options, dict) else 128
        prompt = prompt_tokens(body)
        best: tuple[float, float, list[str], bool, float, _Node] | None = None
        for node in nodes:
            node.restart_if_back(at)
            if session.model not in disks[node.node_id]:
                continue
            plan = _plan(node, session.model, at, prompt, output)
            if plan is None or not node.available(at, plan[1]):
                continue
            if best is None or plan[1] < best[1]:
                best = (*plan, node)
        if best is None:
            results.append(
                Result(
                    session_id, turn_index, session.size_class, session.model, 0.0, 0.0, None, False
                )
            )
            finish = at
        else:
            first, finish, evict, cold, taken, node = best
            _commit(node, session.model, first, finish, evict, cold)
            node.takes_from = max(node.takes_from, taken)
            results.append(
                Result(
                    session_id,
                    turn_index,
                    session.size_class,
                    session.model,
                    finish - at,
                    first - at,
                    node.node_id,
                    cold,
                )
            )
        if turn_index + 1 < len(session.turns):
            gap = session.turns[turn_index + 1].gap_s * gap_scale
            heapq.heappush(arrivals, (finish + gap, session_id, turn_index + 1))
    return results


def _commit(
    node: _Node, model: str, first: float, finish: float, evict: list[str], cold: bool
) -> None:
    for name in evict:
        del node.loaded[name]
    loaded = node.loaded.get(model)
    if loaded is None or cold:
        spec = CATALOGUE[model]
        slots = [first] * node.profile.num_parallel
        loaded = node.loaded[model] = _Loaded(
            spec.loaded_size(CONTEXT_TOKENS, node.profile.num_parallel), slots
        )
    index = min(range(len(loaded.slots)), key=lambda i: loaded.slots[i])
    loaded.slots[index] = finish
