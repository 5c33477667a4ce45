"""Loads under way: what a node looks like between the load the router sent and the heartbeat
that shows it.

Heartbeats lag by seconds. Once the router sends a request that loads a model on a node, the
rankings in between must not count on the node's last report: the loading model already holds
its memory and is busy (ready when its load time is up), and the idle models it unloads are gone.
Owns ``Load`` (one such load), ``LOAD_HOLD_S`` and ``LoadsUnderWay``, which keeps them per node
and lays them over a node's snapshot. The ranker (``pipeline.candidates``) records each load and
asks for the view when it rebuilds the fleet. No clock and no I/O of its own: times come in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from herd_contract.units import GB
from router import scoring

LOAD_HOLD_S = 30.0
"""Longest a load the router sent is assumed without a heartbeat showing it."""


@dataclass(frozen=True, slots=True)
class Load:
    """A load the router sent to a node, as the rankings assume it until the node shows it."""

    model: str
    evicts: tuple[str, ...]
    """Idle models it unloads (Ollama's order, as the ranking that chose it saw them)."""
    need_gb: float
    since: float
    ready_at: float
    """When it is expected to be done (epoch seconds)."""


class LoadsUnderWay:
    """The loads the router sent that no heartbeat shows yet, per node."""

    def __init__(self, running: Callable[[str, str], int]) -> None:
        self._running = running
        """(node id, model) -> the router's requests for it in flight there."""
        self._loads: dict[str, dict[str, Load]] = {}

    def __bool__(self) -> bool:
        return bool(self._loads)

    def has(self, node_id: str, model: str) -> bool:
        loads = self._loads.get(node_id)
        return loads is not None and model in loads

    def add(self, node_id: str, load: Load) -> None:
        self._loads.setdefault(node_id, {})[load.model] = load

    def view(
        self, snap: scoring.NodeSnapshot, heard_at: float, now: float
    ) -> tuple[scoring.NodeSnapshot, float]:
        """``snap`` with the loads the router sent there that it does not show yet, and until
        when that view holds. A load ends its hold once the node lists the model, once the node
        reported after it while the router has nothing running for it there (it failed, or is
        over), or after ``LOAD_HOLD_S``."""
        node_id = snap.node_id
        loads = self._loads.get(node_id)
        if loads is None:
            return snap, float("inf")
        for model, load in list(loads.items()):
            if (
                model in snap.loaded
                or now >= load.since + LOAD_HOLD_S
                or (heard_at > load.since and not self._running(node_id, model))
            ):
                del loads[model]
        if not loads:
            del self._loads[node_id]
            return snap, float("inf")
        loaded = dict(snap.loaded)
        available = snap.memory_available_gb
        for load in loads.values():
            for name in load.evicts:
                info = loaded.pop(name, None)
                if info is not None:
                    available += info.size_bytes / GB
            if load.model not in loaded:
                loaded[load.model] = scoring.LoadedInfo(
                    int(load.need_gb * GB), ready_at=load.ready_at
                )
                available -= load.need_gb
        view = dataclasses.replace(snap, loaded=loaded, memory_available_gb=max(available, 0.0))
        return view, min(load.since for load in loads.values()) + LOAD_HOLD_S
