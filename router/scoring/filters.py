"""The hard filters: which nodes may take a request at all, and what loading there would evict.

Owns the rejection codes (every reason string starts with one, then ": detail" when useful) and
``admit``: a node that passes gets a ``Fit`` (the model's memory need and weight bytes there, the
loaded entry when it is hot, the idle models Ollama would evict to make room); one that fails gets
its reason. The filters, in order: offline, draining, excluded (a retry), model absent (neither
loaded nor on disk), too large for the node, not enough memory with nothing to evict, or blocked
by busy models Ollama cannot evict.

Critical memory pressure (the agent's reading: under 5 % of memory available) is no filter of its
own: loading into what is left would swap, so a node under it loads a model only by evicting
enough idle models to leave ``CRITICAL_AVAILABLE_FRACTION`` free as well; when its busy models
hold that memory it is blocked (the request waits for them, as for any busy model), and only a
node with nothing loaded to free is rejected as ``critical_memory_pressure``. A model already
loaded there is served as usual.

Fit counts idle loaded models as free, since Ollama evicts them to make room (comparing with free
memory alone refused every request for the largest model in an earlier system). A model's need on a
node is read from that node's file size when it has one, else the request's pessimistic size.
Which idle models go is Ollama's order (``findRunnerToUnload``, ``ByDurationAndName``): the shortest
keep-alive first, then by the path of the weights blob, which the agent reads from ``/api/show``;
so the estimate charges the models Ollama will really evict. When a node did not say where a
loaded model's blob is, it assumes the least demanded go first, the largest of them first. Pure:
no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from herd_contract.units import GB
from router.scoring.snapshot import LoadedInfo, NodeSnapshot

OFFLINE = "offline"
DRAINING = "draining"
EXCLUDED = "excluded"
CRITICAL_PRESSURE = "critical_memory_pressure"
ABSENT = "model_absent"
TOO_LARGE = "too_large"
BLOCKED = "blocked_by_busy_models"
INSUFFICIENT = "insufficient_memory"

HEADROOM_FRACTION = 0.10
"""Free memory to keep after a load, as a share of the node's total (at least 2 GB)."""
WEIGHTS_SHARE_OF_NEED = 0.8
CRITICAL_AVAILABLE_FRACTION = 0.05
"""Below this share of its memory available a node reports critical pressure (the agent's rule);
a load there must free this much besides the model's own need."""
"""Weights as a share of the memory need, when the node has no file size for the model."""

QueueLoad = tuple[int, int, float]
"""(pending, in_flight, seconds the in-flight requests have run so far, summed) of a node:model."""
_IDLE: QueueLoad = (0, 0, 0.0)


@dataclass(slots=True)
class Fit:
    """A node that may serve the model, and what serving there takes from its memory (read-only
    by convention; not frozen, which would cost a microsecond per node and request)."""

    need_gb: float
    """Memory the model needs there (loaded size when hot)."""
    weights: float
    """Bytes of weights read per token (the file size), for speed and load time."""
    loaded: LoadedInfo | None
    """The loaded entry when the model is hot there."""
    evicted: tuple[str, ...] = ()
    """Idle models Ollama would evict to make room (none when hot or when it fits)."""
    tight: bool = False
    """It fits, but leaves less free memory than the headroom."""
    blocked_by: tuple[str, ...] = ()
    """Busy models that must finish before it fits (the node is then rejected as ``BLOCKED``,
    but still estimated: Ollama loads it once they are idle)."""
    reason: str = ""
    """The rejection reason when ``blocked_by`` is set."""


def admit(
    node: NodeSnapshot,
    model: str,
    need_default_gb: float,
    excluded: frozenset[str],
    queues: Mapping[tuple[str, str], QueueLoad],
    demand: Mapping[str, float],
) -> Fit | str:
    """A ``Fit`` for a node that may take ``model``, else the rejection reason."""
    node_id = node.node_id
    if node.state == "offline":
        return OFFLINE
    if node.draining:
        return DRAINING
    if node_id in excluded:
        return EXCLUDED
    file_size = node.on_disk.get(model, 0)
    info = node.loaded.get(model)
    if info is not None:
        need_gb = info.size_bytes / GB if info.size_bytes else need_default_gb
        return Fit(need_gb, file_size or need_gb * GB * WEIGHTS_SHARE_OF_NEED, info)
    if model not in node.on_disk:
        return ABSENT
    need_gb, weights = cold_need(node, model, need_default_gb)
    total = node.memory_total_gb
    if need_gb > total:
        return f"{TOO_LARGE}: needs {need_gb:.1f} GB, node has {total:.1f} GB"
    critical = node.pressure == "critical"
    spare = node.memory_available_gb - need_gb
    if critical:
        spare -= CRITICAL_AVAILABLE_FRACTION * total
    max_loaded = node.max_loaded_models
    room_for_one_more = max_loaded is None or len(node.loaded) < max_loaded
    if spare >= 0 and room_for_one_more and not critical:
        tight = spare < max(2.0, HEADROOM_FRACTION * total)
        return Fit(need_gb, weights, None, (), tight)
    if queues.get((node_id, model), _IDLE)[1]:
        # The router has requests for it running there, yet the node does not list it loaded:
        # its load is under way (and holds the memory). It takes the rest once it is up.
        return Fit(need_gb, weights, None, (), True)
    return _fit_by_evicting(node, need_gb, weights, spare, room_for_one_more, queues, demand)


def cold_need(node: NodeSnapshot, model: str, need_default_gb: float) -> tuple[float, float]:
    """A model not loaded on ``node``: the memory it needs there (GB; read from the node's file
    size when it has one, else ``need_default_gb``) and the bytes of weights a load reads."""
    need_gb = node.disk_need_gb.get(model, need_default_gb)
    return need_gb, node.on_disk.get(model, 0) or need_gb * GB * WEIGHTS_SHARE_OF_NEED


def _fit_by_evicting(
    node: NodeSnapshot,
    need_gb: float,
    weights: float,
    spare: float,
    room_for_one_more: bool,
    queues: Mapping[tuple[str, str], QueueLoad],
    demand: Mapping[str, float],
) -> Fit | str:
    node_id = node.node_id
    idle: list[tuple[tuple[float | str, ...], float, str]] = []
    busy: list[tuple[float, str]] = []
    busy_gb = 0.0
    known_order = True
    for name, info in node.loaded.items():
        running = info.in_flight or queues.get((node_id, name), _IDLE)[1]
        if running:
            busy_gb += info.size_bytes / GB
            busy.append((-info.size_bytes / GB, name))
        else:
            known_order = known_order and bool(info.weights_blob)
            idle.append((info.unload_order, -info.size_bytes / GB, name))
    if not known_order:  # Ollama's order unknown: assume the least demanded, largest first
        idle = [((demand.get(name, 0.0),), size, name) for _, size, name in idle]
    idle_gb = -sum(size for _, size, _ in idle)
    if spare + idle_gb >= 0 and (room_for_one_more or idle):
        idle.sort()
        evicted: list[str] = []
        for _, negative_size, name in idle:
            if spare >= 0 and (room_for_one_more or evicted):
                break
            spare -= negative_size
            evicted.append(name)
        return Fit(need_gb, weights, None, tuple(evicted), True)
    if busy_gb == 0:
        loading = _loading(node, queues)
        if loading:  # models still loading hold the memory: wait for their requests, as for busy
            reason = (
                f"{BLOCKED}: needs {need_gb:.1f} GB, {node.memory_available_gb:.1f} GB free; "
                f"loading {', '.join(loading)}"
            )
            return Fit(need_gb, weights, None, loading, True, loading, reason)
        # Nothing loaded to evict, yet it does not fit what is free: other work holds the memory.
        if node.pressure == "critical":
            return f"{CRITICAL_PRESSURE}: {node.memory_available_gb:.1f} GB available"
        return (
            f"{INSUFFICIENT}: needs {need_gb:.1f} GB, "
            f"{node.memory_available_gb:.1f} GB available and nothing to evict"
        )
    reason = (
        f"{BLOCKED}: needs {need_gb:.1f} GB, {node.memory_available_gb:.1f} GB free + "
        f"{idle_gb:.1f} GB idle; {busy_gb:.1f} GB held by busy models"
    )
    spare += idle_gb
    waits_for: list[str] = []
    for negative_size, name in sorted(busy):  # the largest first: the fewest to wait for
        if spare >= 0 and (room_for_one_more or idle or waits_for):
            break
        spare -= negative_size
        waits_for.append(name)
    freed = tuple(name for _, _, name in idle) + tuple(waits_for)
    return Fit(need_gb, weights, None, freed, True, tuple(waits_for), reason)


def _loading(node: NodeSnapshot, queues: Mapping[tuple[str, str], QueueLoad]) -> tuple[str, ...]:
    """Models the router has requests running for on ``node`` that the node does not list as
    loaded yet: their loads are under way (a heartbeat shows a load only once it is done)."""
    node_id = node.node_id
    return tuple(
        sorted(
            name
            for (owner, name), load in queues.items()
            if owner == node_id and load[1] and name not in node.loaded
        )
    )
