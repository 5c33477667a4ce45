"""Placement over time: which models an eviction pushed off a node should come back to it now.

When a request loads a model onto a node whose memory was full, Ollama evicts idle models to make
room; the requests for those models then go cold to slower nodes, or pay the reload on the next
request. Once that node is quiet again and has the room, loading the displaced model back off the
request path puts it where it ran before, where the scorer had sent it as the soonest finisher.

Owns ``Restore`` and ``plan``: a displaced model comes back to a node when
- it left that node less than ``DISPLACED_WINDOW_S`` ago because another model arrived there
  (``Registry`` records it as displaced; a model that merely expired or was unloaded is not);
- it is still in demand (at least ``MIN_DEMAND_PER_S``, from ``router.demand``);
- the node is online, not draining, runs nothing at all, and the model fits in its free memory
  without evicting anything and with the usual headroom (``filters.admit``), so a restore never
  displaces another model or competes with a request;
- the model is still on the node's disk.
At most one model per node per plan, the most demanded first. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from router.scoring.filters import Fit, QueueLoad, admit
from router.scoring.snapshot import NodeSnapshot

DISPLACED_WINDOW_S = 900.0
"""A model displaced longer ago than this stays where demand took it since."""
MIN_DEMAND_PER_S = 1 / 300
"""About one request in the last five minutes (the demand's half-life is two)."""


@dataclass(frozen=True, slots=True)
class Restore:
    node_id: str
    model: str
    displaced_at: float
    demand_per_s: float


def plan(
    nodes: Iterable[NodeSnapshot],
    displaced: Mapping[str, Mapping[str, float]],
    demand: Mapping[str, float],
    queues: Mapping[tuple[str, str], QueueLoad],
    busy: Callable[[str], bool],
    need_gb: Callable[[str], float],
    now: float,
) -> list[Restore]:
    """The models to load back now, one per node at most.

    ``displaced`` maps node -> model -> when it was displaced there; ``busy(node_id)`` says
    whether the router has requests running or queued on the node; ``need_gb(model)`` is the
    pessimistic memory need when the node has no file size for the model."""
    restores: list[Restore] = []
    for node in nodes:
        gone = displaced.get(node.node_id)
        if not gone or node.state != "online" or node.draining or busy(node.node_id):
            continue
        if any(info.in_flight for info in node.loaded.values()):
            continue
        wanted = sorted(
            (
                (demand.get(model, 0.0), model, at)
                for model, at in gone.items()
                if now - at < DISPLACED_WINDOW_S
                and model not in node.loaded
                and model in node.on_disk
                and demand.get(model, 0.0) >= MIN_DEMAND_PER_S
            ),
            reverse=True,
        )
        for rate, model, at in wanted:
            fit = admit(node, model, need_gb(model), frozenset(), queues, demand)
            if isinstance(fit, Fit) and not fit.evicted and not fit.tight and not fit.blocked_by:
                restores.append(Restore(node.node_id, model, at, rate))
                break
    return restores
