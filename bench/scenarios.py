"""The fleet benchmark's scenarios: the hard cases a router must survive, as plain data.

Owns ``Scenario`` (the fleet's make-up, the model mix, the arrival rate phase by phase, and
events such as a node going away) and ``SCENARIOS``:

1. ``memory-pressure``: the biggest node (64 GB) cannot hold the 70B model (42 GB) together with
   the 27-32B models, and all of them are in demand at once, beside 8-14B and small models; the
   24 GB laptop, four times slower, holds the 27-32B models too (issue 9's fleet: when the 70B
   evicts them from the big node, a router may send them cold to the laptop or wait for the big
   node); ``memory-pressure-big-only`` is the same without that choice (every router must queue
   the large models on the big node);
2. ``speed-skew``: one node about 4x faster than the other two (800 GB/s against 200 GB/s); every
   node holds the small and medium models;
3. ``burst``: quiet (40 % of capacity), then three times that rate for a minute, then quiet;
4. ``node-away``: steady load; the laptop is killed a third of the way in (its agent and its
   simulated Ollama: heartbeats stop and connections are refused) and comes back, cold, later.

Times and rates are *modelled* seconds (the simulator's clock); the runner multiplies by the time
scale. ``workload`` builds a scenario's seeded sessions. Pure: no clock, no process, no request.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from bench.workload import CLASS_WEIGHTS, Session, build_sessions, estimate_capacity
from herd_contract.model_names import normalize
from node.sim.catalogue import PROFILES


@dataclass(frozen=True)
class NodeSpec:
    node_id: str
    profile: str
    memory_gb: float | None = None
    """Overrides the profile's memory (a smaller machine of the same kind)."""
    extra_models: tuple[str, ...] = ()
    """Models on its disk besides the profile's."""

    @property
    def models(self) -> tuple[str, ...]:
        """Every model on its disk."""
        return (*PROFILES[self.profile].models, *self.extra_models)


@dataclass(frozen=True)
class Event:
    at_s: float
    """Modelled seconds after the first arrival."""
    node_id: str
    action: Literal["stop", "start"]


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    nodes: tuple[NodeSpec, ...]
    classes: dict[str, tuple[str, ...]]
    class_weights: dict[str, float]
    phases: tuple[tuple[float, float], ...]
    """(end second, share of the fleet's estimated capacity) per phase, in order."""
    events: tuple[Event, ...] = ()
    rate_rps: float | None = None
    """The capacity figure the phases are shares of, when the estimate cannot place the mix
    (under memory pressure no placement holds every model at once)."""
    time_scale: float = 0.2
    """Real seconds per modelled second: keeps the real request rate within what two shared
    cores serve without the benchmark itself becoming the bottleneck."""

    @property
    def window_s(self) -> float:
        return self.phases[-1][0]

    def present(self) -> dict[str, list[str]]:
        """Each class's models that at least one node holds on disk."""
        on_disk = {normalize(m) for n in self.nodes for m in n.models}
        return {c: [m for m in names if m in on_disk] for c, names in self.classes.items()}

    def capacity_rps(self) -> float:
        """Requests per modelled second the fleet sustains for this mix (``estimate_capacity``)."""
        if self.rate_rps is not None:
            return self.rate_rps
        estimate = estimate_capacity(
            self.present(),
            [(n.node_id, n.profile) for n in self.nodes],
            self.class_weights,
            {n.node_id: n.memory_gb for n in self.nodes if n.memory_gb is not None},
        )
        return float(estimate["capacity_modelled_rps"])

    def workload(self, seed: int) -> list[Session]:
        capacity = self.capacity_rps()
        phases = tuple((end, share * capacity) for end, share in self.phases)
        return build_sessions(seed, phases, self.present(), self.class_weights)


DEFAULT_NODES = (
    NodeSpec("workstation", "workstation"),
    NodeSpec("laptop", "laptop"),
    NodeSpec("mini", "mini"),
)
MIX: dict[str, tuple[str, ...]] = {
    "small": ("llama3.2:3b", "llama3.2:1b", "qwen3:0.6b"),
    "medium": ("llama3.1:8b", "qwen2.5-coder:7b", "qwen3:8b"),
    "large": ("qwen3:32b", "gemma3:27b", "llama3.3:70b"),
}
PRESSURE_MIX: dict[str, tuple[str, ...]] = {
    "small": ("llama3.2:3b", "qwen3:0.6b"),
    "medium": ("llama3.1:8b", "qwen3:8b", "deepseek-r1:14b"),
    "large": ("qwen3:32b", "gemma3:27b", "llama3.3:70b"),
}
PRESSURE_WEIGHTS = {"small": 0.35, "medium": 0.40, "large": 0.25}

MEMORY_PRESSURE = Scenario(
    "memory-pressure",
    "64 GB node 4x faster than a 24 GB laptop that also holds the 27-32B models; a 42 GB"
    " 70B and the 27-32B models in demand at once, beside 8-14B models",
    (
        NodeSpec("big", "workstation", memory_gb=64),
        NodeSpec("laptop", "laptop", memory_gb=24, extra_models=("qwen3:32b", "gemma3:27b")),
        NodeSpec("mini", "mini"),
    ),
    PRESSURE_MIX,
    PRESSURE_WEIGHTS,
    ((240.0, 1.0),),
    rate_rps=0.45,
    time_scale=0.1,
)

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        MEMORY_PRESSURE,
        dataclasses.replace(
            MEMORY_PRESSURE,
            name="memory-pressure-big-only",
            summary="as memory-pressure, but only the 64 GB node holds the 27-70B models",
            nodes=(
                NodeSpec("big", "workstation", memory_gb=64),
                NodeSpec("laptop", "laptop", memory_gb=24),
                NodeSpec("mini", "mini"),
            ),
        ),
        Scenario(
            "speed-skew",
            "one node ~4x faster than the other two; all hold the small and medium models",
            (
                NodeSpec("fast", "workstation"),
                NodeSpec("slow-a", "laptop"),
                NodeSpec("slow-b", "laptop"),
            ),
            {"small": ("llama3.2:3b", "gemma3:4b"), "medium": ("llama3.1:8b", "qwen3:8b")},
            {"small": 0.6, "medium": 0.4},
            ((60.0, 0.6),),
            time_scale=0.5,
        ),
        Scenario(
            "burst",
            "a quiet minute at 40 % of capacity, a minute at 3x that (120 %), then quiet again",
            DEFAULT_NODES,
            MIX,
            CLASS_WEIGHTS,
            ((40.0, 0.4), (100.0, 1.2), (150.0, 0.4)),
        ),
        Scenario(
            "node-away",
            "steady 50 % load; the laptop is killed at 50 s and back (cold) at 100 s",
            DEFAULT_NODES,
            MIX,
            CLASS_WEIGHTS,
            ((150.0, 0.5),),
            (Event(50.0, "laptop", "stop"), Event(100.0, "laptop", "start")),
        ),
    )
}
