"""Node snapshots: everything about one node the scorer reads, built once per heartbeat.

Owns ``NodeSnapshot`` (memory, pressure, thermal state, bandwidth, slots, loaded and on-disk
models, recently unloaded models, the CPU history and its availability figure), ``LoadedInfo``,
``snapshot_from_heartbeat`` (the only reader of the heartbeat's shape) and ``effective_parallel``.
Everything that depends only on a heartbeat (the availability trend, memory needs of the models on
disk) is computed here once, so a routing decision only reads fields. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from herd_contract.heartbeat import Heartbeat
from herd_contract.model_names import normalize
from herd_contract.units import GB
from router import model_size

NodeState = Literal["online", "degraded", "offline"]
Pressure = Literal["normal", "warn", "critical"]
Thermal = Literal["normal", "warm", "throttled", "unknown"]


@dataclass(frozen=True, slots=True)
class LoadedInfo:
    """A model loaded on a node (one ``/api/ps`` entry)."""

    size_bytes: int
    context_length: int = 0
    """The loaded context window in tokens; 0 when the node did not say."""
    in_flight: int = 0
    """Requests the node reports running on it (work that did not come through this router)."""
    weights_blob: str = ""
    """Its weights' blob file (``sha256-<hex>``), "" when the node did not say."""
    kept_forever: bool = False
    """Loaded with a negative keep-alive (Ollama shows it expiring centuries from now)."""
    ready_at: float = 0.0
    """Epoch seconds its load is expected to be done, for a load the router sent that no
    heartbeat shows yet (``router.pipeline.candidates``); 0 once the node lists it."""

    @property
    def unload_order(self) -> tuple[bool, str]:
        """Where Ollama puts it among idle models to unload (``ByDurationAndName``): the shortest
        keep-alive first, then by the blob's path. Keep-alives of equal kind are taken as equal:
        ``/api/ps`` shows when a model expires, not the keep-alive it was given."""
        return (self.kept_forever, self.weights_blob)


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    """Everything about one node that changes only with its heartbeat; built once per heartbeat.

    Model names are normalised keys (``model_names.normalize``). Memory is in GB (10^9 B),
    model sizes in bytes. ``cpu_history`` holds recent utilisation samples in percent, oldest first.
    """

    node_id: str
    state: NodeState = "online"
    memory_total_gb: float = 0.0
    memory_available_gb: float = 0.0
    pressure: Pressure = "normal"
    thermal: Thermal = "unknown"
    bandwidth_gbps: float | None = None
    cpu_history: tuple[float, ...] = ()
    user_active: bool | None = None
    num_parallel: int | None = None
    max_loaded_models: int | None = None
    default_context_length: int | None = None
    loaded: Mapping[str, LoadedInfo] = field(default_factory=dict)
    on_disk: Mapping[str, int] = field(default_factory=dict)
    """Models on disk: name -> file size in bytes (0 when unknown)."""
    recently_unloaded: Mapping[str, float] = field(default_factory=dict)
    """Models the node unloaded: name -> epoch seconds when it was last seen loaded."""
    disk_free_gb: float | None = None
    draining: bool = False
    expected_busy_pct: float | None = None
    """The node's usual CPU utilisation for the coming hour (its learned weekly pattern)."""

    # Derived once, in __post_init__.
    availability: float = field(init=False, default=0.0)
    """How available the device is, -1 (busy, getting busier) .. 0.2 (idle, calming down): minus
    0.6 x CPU busy, 0.3 x user active, 0.5 x a rising trend and 0.3 x how much busier the weekly
    pattern expects the next hour; plus 0.2 x a falling trend."""
    disk_need_gb: Mapping[str, float] = field(init=False, default_factory=dict)
    """Pessimistic memory need of each model on disk, from its file size (GB)."""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(
            self,
            "availability",
            _availability(self.cpu_history, self.user_active, self.expected_busy_pct),
        )
        set_(
            self,
            "disk_need_gb",
            {
                name: model_size.estimate_from_file(size) / GB
                for name, size in self.on_disk.items()
                if size > 0
            },
        )


# --- per-heartbeat derivations -------------------------------------------------------------------

CPU_HISTORY_LEN = 12
"""CPU samples a snapshot keeps for the availability trend: a minute at one heartbeat per 5 s."""

UNLOADED_MEMORY_S = 3600.0
"""How long a snapshot remembers that a model was unloaded (longer than any warm window)."""


def _availability(
    history: Sequence[float], user_active: bool | None, expected_busy_pct: float | None = None
) -> float:
    now_busy = min(max(history[-1], 0.0), 100.0) / 100.0 if history else 0.0
    trend = 0.0
    if len(history) >= 2:
        half = len(history) // 2
        older = sum(history[:half]) / half
        newer = sum(history[-half:]) / half
        trend = max(-1.0, min(1.0, (newer - older) / 100.0))
    raw = -0.6 * now_busy - (0.3 if user_active else 0.0)
    raw += -0.5 * trend if trend > 0 else -0.2 * trend
    if expected_busy_pct is not None:
        # Busier than now in the coming hour, as the weekly pattern learned: that work is coming.
        raw -= 0.3 * max(0.0, min(expected_busy_pct, 100.0) / 100.0 - now_busy)
    return max(-1.0, min(0.2, raw))


def effective_parallel(node: NodeSnapshot, need_gb: float) -> int:
    """Parallel slots a node:model serves: ``num_parallel`` when known, else derived from memory.

    An agent that cannot see ``OLLAMA_NUM_PARALLEL`` must not make the router serialise every
    model (a known trap), so the unknown case is never 1: 2 to 4 slots, by how many copies of the
    model's need the node's memory holds twice over.
    """
    if node.num_parallel:
        return node.num_parallel
    per_slot = max(need_gb, 1.0) * 2.0
    return max(2, min(4, int(node.memory_total_gb / per_slot)))


def snapshot_from_heartbeat(
    heartbeat: Heartbeat,
    *,
    state: NodeState = "online",
    previous: NodeSnapshot | None = None,
    now: float | None = None,
    cpu_history: Iterable[float] | None = None,
    recently_unloaded: Mapping[str, float] | None = None,
    in_flight: Mapping[str, int] | None = None,
    expected_busy_pct: float | None = None,
) -> NodeSnapshot:
    """Build a ``NodeSnapshot`` from a node's ``Heartbeat`` (call once per heartbeat).

    History is carried forward from ``previous`` (this node's last snapshot) unless given:
    ``cpu_history`` keeps the last ``CPU_HISTORY_LEN`` ``cpu.utilization_pct`` samples, the new one
    last; ``recently_unloaded`` gains, at ``now``, every model ``previous`` had loaded that this
    heartbeat no longer lists, and forgets entries older than ``UNLOADED_MEMORY_S``. ``in_flight``
    holds per-model running counts the node reports, if any; ``expected_busy_pct`` the node's
    learned CPU utilisation for the coming hour (``router.weekly``), if known.
    """
    hb = heartbeat
    hw = hb.hardware
    mem = hb.memory
    ollama = hb.ollama
    running = in_flight or {}
    loaded: dict[str, LoadedInfo] = {}
    media = {normalize(m) for b in hb.backends if b.kind in ("image", "stt") for m in b.models}
    on_disk: dict[str, int] = {}
    blobs: dict[str, str] = {}
    for available in ollama.models_available:
        key = normalize(available.name)
        on_disk[key] = available.size
        blobs[key] = available.weights_blob
    for entry in ollama.models_loaded:
        name = normalize(entry.name)
        if name not in media:  # an Ollama's image model, in its memory, is no language model
            loaded[name] = LoadedInfo(
                entry.size,
                entry.context_length,
                running.get(name, 0),
                blobs.get(name, ""),
                _kept_forever(entry.expires_at),
            )

    if cpu_history is None:
        older = previous.cpu_history[-(CPU_HISTORY_LEN - 1) :] if previous is not None else ()
        history = (*older, hb.cpu.utilization_pct)
    else:
        history = tuple(cpu_history) or (hb.cpu.utilization_pct,)
    if recently_unloaded is not None:
        unloaded = dict(recently_unloaded)
    else:
        unloaded = dict(previous.recently_unloaded) if previous is not None else {}
        if previous is not None and now is not None:
            for name in previous.loaded:
                if name not in loaded:
                    unloaded[name] = now
            unloaded = {k: t for k, t in unloaded.items() if t >= now - UNLOADED_MEMORY_S}
        for name in loaded:
            unloaded.pop(name, None)

    disk = hb.disk
    return NodeSnapshot(
        node_id=hb.node_id,
        state=state,
        memory_total_gb=(mem.total_bytes or hw.memory_bytes) / GB,
        memory_available_gb=mem.available_bytes / GB,
        pressure=mem.pressure,
        thermal=hw.thermal_state,
        bandwidth_gbps=hw.memory_bandwidth_gbps,
        cpu_history=history,
        user_active=hb.user_active,
        num_parallel=ollama.num_parallel,
        max_loaded_models=ollama.max_loaded_models,
        default_context_length=ollama.context_length,
        loaded=loaded,
        on_disk=on_disk,
        recently_unloaded=unloaded,
        disk_free_gb=disk.free_bytes / GB if disk is not None else None,
        draining=hb.status == "draining",
        expected_busy_pct=expected_busy_pct,
    )


FOREVER_AFTER_YEAR = 2200
"""Ollama shows a model kept forever as expiring in the 2300s (now plus Go's longest duration)."""


def _kept_forever(expires_at: str) -> bool:
    year = expires_at[:4]
    return year.isdigit() and int(year) >= FOREVER_AFTER_YEAR
