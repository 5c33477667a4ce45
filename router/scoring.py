"""The scorer: ranks the fleet's nodes for one request, and says why.

Owns the hard filters, the seven signals of REFERENCE.md §3 plus session affinity and the health
penalty, and their weights. ``rank`` is a pure function: snapshots, the request, the router's
per-request counters and ``now`` go in; a ``Decision`` (ranked candidates with a per-signal
breakdown, rejections with a reason) comes out. It never reads a clock, does I/O or keeps state.

How the router uses it: it builds one ``NodeSnapshot`` per node whenever a heartbeat arrives
(``snapshot_from_heartbeat``), keeps them, and per request passes them with the request and its
live queue, latency and session maps. Everything that depends only on the heartbeat (CPU trend,
hardware penalty, memory needs of the models on disk) is computed once, in the snapshot.

Scales. Every signal is a raw number, documented below, multiplied by its weight (``Weights``, in
points). The breakdown stores the weighted points, so ``score == sum(breakdown.values())``:

=============  ==============  ================================================================
key            raw range       meaning
=============  ==============  ================================================================
thermal        -0.5 .. 1       1 loaded (hot), 0.5 unloaded < ``warm_window_s`` ago (warm), 0 on
                               disk (cold); hardware throttling -0.5, hardware "warm" -0.15
memory_fit     -0.6 .. 1       1 loaded or fits free memory with headroom; 0.5..1 fits without
                               headroom; -0.3 fits only by evicting idle models; -0.3 more at
                               "warn" pressure, -0.5 loaded under "critical" pressure
queue          -3 .. 0         0 idle; -0.3 x fill while a slot is free; -(0.3 + 0.7 x turns to
                               wait) once saturated
latency        -3 .. 0         -(expected completion seconds / ``latency_scale_s``) from the
                               recent p75 x queue depth; unknown history: the mean of the known
role           -1 .. 1         (2 x bigness - 1) x (2 x power - 1): big models on big/fast nodes,
                               small models on small nodes (a tie-breaker, outweighed by a queue).
                               bigness = need / (a quarter of the fleet's largest memory), capped
                               at 1; power = memory share of the largest node, averaged with the
                               bandwidth share when the node reports bandwidth
availability   -1 .. 0.2       -(0.6 x CPU busy + 0.3 x user active + 0.5 x rising trend +
                               0.3 x how much busier the weekly pattern expects the next hour) +
                               0.2 x falling trend, from the heartbeat's CPU samples
context        -1 .. 0         prompt + expected output against the window it will run in (the
                               loaded one; for a load, ``num_ctx`` or the node's default or 4096):
                               0 fits, -0.3 over 90 % full, -1 overflows; at most -0.5 when the
                               requested ``num_ctx`` forces a reload of a loaded model
session        0 .. 1          1 on the node that served this session while it is hot, needs no
                               reload and has a free slot; 0 elsewhere or when saturated
health         -1 .. 0         -1 for a degraded node (heartbeats late), 0 online
=============  ==============  ================================================================

Hard filters run first and record a reason per rejected node (``rejected``): offline, draining,
excluded (a retry), critical memory pressure (unless the model is already loaded there), model
absent (neither loaded nor on disk), too large for the node, not enough memory with nothing to
evict, or blocked by busy models that Ollama cannot evict. Fit counts idle loaded models as free,
since Ollama evicts them to make room (comparing with free memory alone refused every request for
the largest model in an earlier system). A model's need on a node is read from that node's file
size when it has one, else the request's pessimistic ``size_bytes``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from router import model_size
from router.model_names import normalize
from router.wire import Heartbeat

NodeState = Literal["online", "degraded", "offline"]
Pressure = Literal["normal", "warn", "critical"]
Thermal = Literal["normal", "warm", "throttled", "unknown"]

GB = 1e9
"""Bytes per GB on the wire. Agents that send GiB make every check slightly pessimistic."""

SIGNALS = (
    "thermal",
    "memory_fit",
    "queue",
    "latency",
    "role",
    "availability",
    "context",
    "session",
    "health",
)
"""Every key of ``Candidate.breakdown``, in this order."""

# Rejection codes: every reason string starts with one of these, then ": detail" when useful.
OFFLINE = "offline"
DRAINING = "draining"
EXCLUDED = "excluded"
CRITICAL_PRESSURE = "critical_memory_pressure"
ABSENT = "model_absent"
TOO_LARGE = "too_large"
BLOCKED = "blocked_by_busy_models"
INSUFFICIENT = "insufficient_memory"

_EMPTY: Mapping = {}


# --- inputs --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadedInfo:
    """A model loaded on a node (one ``/api/ps`` entry)."""

    size_bytes: int
    context_length: int = 0
    """The loaded context window in tokens; 0 when the node did not say."""
    in_flight: int = 0
    """Requests the node reports running on it (work that did not come through this router)."""


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Recent observed latency of one model on one node (from the trace store)."""

    p75_ms: float
    """75th percentile of recent request durations, milliseconds."""
    tokens_per_s: float | None = None
    samples: int = 0


@dataclass(frozen=True, slots=True)
class Weights:
    """Points per unit of each raw signal (see the module docstring for the raw scales)."""

    thermal: float = 40.0
    memory_fit: float = 15.0
    queue: float = 30.0
    latency: float = 20.0
    role: float = 10.0
    availability: float = 10.0
    context: float = 15.0
    session: float = 25.0
    health: float = 30.0
    warm_window_s: float = 600.0
    """A model unloaded less than this long ago is warm (its file is likely in the page cache)."""
    latency_scale_s: float = 30.0
    """Expected seconds that cost one full ``latency`` weight."""
    headroom_fraction: float = 0.10
    """Free memory to keep after a load, as a share of the node's total (at least 2 GB)."""


DEFAULT_WEIGHTS = Weights()


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    """Everything about one node that changes only with its heartbeat; built once per heartbeat.

    Model names are normalised keys (``router.model_names.normalize``). Memory is in GB (10^9 B),
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
    """The raw availability signal (see module docstring)."""
    hardware_penalty: float = field(init=False, default=0.0)
    disk_need_gb: Mapping[str, float] = field(init=False, default_factory=dict)
    """Pessimistic memory need of each model on disk, from its file size (GB)."""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(
            self,
            "availability",
            _availability(self.cpu_history, self.user_active, self.expected_busy_pct),
        )
        set_(self, "hardware_penalty", _HARDWARE_PENALTY.get(self.thermal, 0.0))
        set_(
            self,
            "disk_need_gb",
            {
                name: model_size.estimate_from_file(size) / GB
                for name, size in self.on_disk.items()
                if size > 0
            },
        )


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """The per-request facts the scorer needs."""

    model: str
    """Normalised model name."""
    size_bytes: int = model_size.UNKNOWN_MODEL_BYTES
    """Pessimistic memory need when a node has no file size of its own for the model."""
    category: model_size.Category = "chat"
    prompt_tokens: int = 0
    """Estimated prompt size in tokens."""
    output_tokens: int = 512
    """Expected output tokens (``num_predict`` when given)."""
    num_ctx: int | None = None
    """``options.num_ctx`` as the request will be forwarded (after context protection)."""
    session_key: str | None = None
    excluded: frozenset[str] = frozenset()
    """Nodes already tried for this request (retries)."""
    context_protection: bool = True
    """Whether the router drops a ``num_ctx`` no larger than the loaded window (then only a larger
    one forces a reload); when off, any ``num_ctx`` that differs from the loaded window does."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A node that passed the filters, with its score and how it was reached."""

    node_id: str
    score: float
    breakdown: dict[str, float]
    hot: bool
    """The model is loaded there now."""
    needs_load: bool
    """Serving needs a (re)load: not loaded, or the requested ``num_ctx`` exceeds the loaded one."""
    evicts: bool = False
    """Loading requires Ollama to evict idle models."""
    queue_depth: int = 0
    """Pending plus in flight on this node:model when scored."""
    parallel: int = 1
    """The slot count the queue signal assumed (``effective_parallel``)."""


@dataclass(frozen=True, slots=True)
class Decision:
    ranked: list[Candidate]
    """Best first; equal scores ordered by node id."""
    rejected: dict[str, str]
    """node_id -> reason (starts with one of the rejection codes)."""

    @property
    def best(self) -> Candidate | None:
        return self.ranked[0] if self.ranked else None


# --- per-heartbeat derivations -------------------------------------------------------------------

_HARDWARE_PENALTY = {"throttled": -0.5, "warm": -0.15}

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
    """Build a ``NodeSnapshot`` from a ``router.wire.Heartbeat`` (call once per heartbeat).

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
    for entry in ollama.models_loaded:
        name = normalize(entry.name)
        size = entry.size or int(entry.size_gb * GB)
        loaded[name] = LoadedInfo(size, entry.context_length, running.get(name, 0))
    on_disk: dict[str, int] = {}
    for entry in ollama.models_available:
        on_disk[normalize(entry.name)] = entry.size or int(entry.size_gb * GB)

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
        memory_total_gb=mem.total_gb or hw.memory_gb,
        memory_available_gb=mem.available_gb,
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
        disk_free_gb=disk.free_gb if disk is not None else None,
        draining=hb.status == "draining",
        expected_busy_pct=expected_busy_pct,
    )


# --- the decision --------------------------------------------------------------------------------


def rank(
    nodes: Iterable[NodeSnapshot],
    request: RouteRequest,
    *,
    now: float,
    queues: Mapping[tuple[str, str], tuple[int, int]] = _EMPTY,
    latency: Mapping[tuple[str, str], LatencyStats] = _EMPTY,
    sessions: Mapping[str, str] = _EMPTY,
    weights: Weights = DEFAULT_WEIGHTS,
) -> Decision:
    """Rank ``nodes`` for ``request``: hard filters, then the weighted signals, best first.

    ``queues`` maps (node_id, model) -> (pending, in_flight) as the router's queues see them;
    ``latency`` maps (node_id, model) -> ``LatencyStats``; ``sessions`` maps a session key to the
    node that last served it; ``now`` is epoch seconds. Missing keys mean idle / unknown / none.
    """
    model = request.model
    need_default_gb = request.size_bytes / GB
    excluded = request.excluded
    session_node = sessions.get(request.session_key) if request.session_key else None
    ctx_needed = request.prompt_tokens + request.output_tokens
    num_ctx = request.num_ctx
    protect = request.context_protection
    warm_after = now - weights.warm_window_s
    w = weights

    rejected: dict[str, str] = {}
    # Pass 1: filters and the per-node facts; role and latency need fleet-wide figures.
    survivors: list[tuple] = []
    max_mem = 0.0
    max_bw = 0.0
    known_latency_sum = 0.0
    known_latency_n = 0
    for node in nodes:
        node_id = node.node_id
        if node.state == "offline":
            rejected[node_id] = OFFLINE
            continue
        if node.draining:
            rejected[node_id] = DRAINING
            continue
        if node_id in excluded:
            rejected[node_id] = EXCLUDED
            continue
        info = node.loaded.get(model)
        if info is None:
            if node.pressure == "critical":
                rejected[node_id] = CRITICAL_PRESSURE
                continue
            if model not in node.on_disk:
                rejected[node_id] = ABSENT
                continue
            need_gb = node.disk_need_gb.get(model, need_default_gb)
            fit = _fit(node, need_gb, queues, w.headroom_fraction)
            if isinstance(fit, str):
                rejected[node_id] = fit
                continue
            memory_raw, evicts = fit
        else:
            need_gb = info.size_bytes / GB if info.size_bytes else need_default_gb
            memory_raw = 1.0
            evicts = False

        pending, in_flight = queues.get((node_id, model), (0, 0))
        depth = pending + in_flight
        parallel = effective_parallel(node, need_gb)
        if depth < parallel:
            queue_raw = -0.3 * depth / parallel
            turns = 0.0
        else:
            turns = (depth - parallel + 1) / parallel
            queue_raw = max(-3.0, -(0.3 + 0.7 * turns))

        stats = latency.get((node_id, model))
        if stats is not None:
            expected_s = stats.p75_ms / 1000.0 * (1.0 + turns)
            latency_raw = max(-3.0, -expected_s / w.latency_scale_s)
            known_latency_sum += latency_raw
            known_latency_n += 1
        elif node.bandwidth_gbps and need_gb > 0:
            # No history yet: decoding is bound by memory bandwidth, so a model of ``need_gb``
            # makes about bandwidth / need_gb tokens per second on this node.
            expected_s = request.output_tokens * need_gb / node.bandwidth_gbps * (1.0 + turns)
            latency_raw = max(-3.0, -expected_s / w.latency_scale_s)
        else:
            latency_raw = None

        # Thermal and context.
        needs_load = info is None
        context_raw = 0.0
        if info is not None:
            heat = 1.0
            loaded_ctx = info.context_length
            if (
                num_ctx is not None
                and loaded_ctx
                and (num_ctx > loaded_ctx or (num_ctx != loaded_ctx and not protect))
            ):
                needs_load = True
                heat = 0.5  # a reload, from a file still in the page cache
                context_raw = min(-0.5, _context_raw(ctx_needed, num_ctx))
            elif loaded_ctx:
                context_raw = _context_raw(ctx_needed, loaded_ctx)
        else:
            unloaded_at = node.recently_unloaded.get(model)
            heat = 0.5 if unloaded_at is not None and unloaded_at >= warm_after else 0.0
            window = num_ctx or node.default_context_length or model_size.DEFAULT_CONTEXT_TOKENS
            context_raw = _context_raw(ctx_needed, window)
        thermal_raw = heat + node.hardware_penalty

        if pressure_adjust := _PRESSURE_ADJUST.get(node.pressure):
            memory_raw += pressure_adjust[info is not None]

        session_raw = (
            1.0 if session_node == node_id and not needs_load and depth < parallel else 0.0
        )

        mem_total = node.memory_total_gb
        if mem_total > max_mem:
            max_mem = mem_total
        bw = node.bandwidth_gbps
        if bw is not None and bw > max_bw:
            max_bw = bw
        survivors.append(
            (
                node,
                need_gb,
                thermal_raw,
                memory_raw,
                queue_raw,
                latency_raw,
                context_raw,
                session_raw,
                info is not None,
                needs_load,
                evicts,
                depth,
                parallel,
            )
        )

    # Pass 2: role affinity (relative to the fleet) and the weighted sum.
    neutral_latency = known_latency_sum / known_latency_n if known_latency_n else 0.0
    big_gb = max_mem / 4.0 if max_mem > 0 else 1.0  # a model this large is "big" in this fleet
    ranked: list[Candidate] = []
    for (
        node,
        need_gb,
        thermal_raw,
        memory_raw,
        queue_raw,
        latency_raw,
        context_raw,
        session_raw,
        hot,
        needs_load,
        evicts,
        depth,
        parallel,
    ) in survivors:
        bigness = need_gb / big_gb
        if bigness > 1.0:
            bigness = 1.0
        mem_share = node.memory_total_gb / max_mem if max_mem > 0 else 0.0
        bw = node.bandwidth_gbps
        power = mem_share if bw is None or max_bw <= 0 else 0.5 * mem_share + 0.5 * bw / max_bw
        role_raw = (2.0 * bigness - 1.0) * (2.0 * power - 1.0)

        breakdown = {
            "thermal": w.thermal * thermal_raw,
            "memory_fit": w.memory_fit * memory_raw,
            "queue": w.queue * queue_raw,
            "latency": w.latency * (neutral_latency if latency_raw is None else latency_raw),
            "role": w.role * role_raw,
            "availability": w.availability * node.availability,
            "context": w.context * context_raw,
            "session": w.session * session_raw,
            "health": -w.health if node.state == "degraded" else 0.0,
        }
        ranked.append(
            Candidate(
                node.node_id,
                sum(breakdown.values()),
                breakdown,
                hot,
                needs_load,
                evicts,
                depth,
                parallel,
            )
        )
    ranked.sort(key=_order)
    return Decision(ranked, rejected)


def _order(candidate: Candidate) -> tuple[float, str]:
    return (-candidate.score, candidate.node_id)


# index: [model not loaded, model loaded]
_PRESSURE_ADJUST = {"warn": (-0.3, -0.1), "critical": (0.0, -0.5)}


def _context_raw(needed: int, window: int) -> float:
    if needed > window:
        return -1.0
    if needed > 0.9 * window:
        return -0.3
    return 0.0


def _fit(
    node: NodeSnapshot,
    need_gb: float,
    queues: Mapping[tuple[str, str], tuple[int, int]],
    headroom_fraction: float,
) -> tuple[float, bool] | str:
    """Whether a model that is not loaded fits: (raw memory signal, evicts) or a rejection reason.

    Idle loaded models count as free memory (Ollama evicts them to make room); busy ones do not.
    """
    total = node.memory_total_gb
    if need_gb > total:
        return f"{TOO_LARGE}: needs {need_gb:.1f} GB, node has {total:.1f} GB"
    spare = node.memory_available_gb - need_gb
    headroom = max(2.0, headroom_fraction * total)
    max_loaded = node.max_loaded_models
    room_for_one_more = max_loaded is None or len(node.loaded) < max_loaded
    if spare >= 0 and room_for_one_more:
        if spare >= headroom:
            return 1.0, False
        return 0.5 + 0.5 * spare / headroom, False
    idle_gb = 0.0
    busy_gb = 0.0
    idle_count = 0
    node_id = node.node_id
    for name, info in node.loaded.items():
        running = info.in_flight or queues.get((node_id, name), (0, 0))[1]
        if running:
            busy_gb += info.size_bytes / GB
        else:
            idle_gb += info.size_bytes / GB
            idle_count += 1
    if spare + idle_gb >= 0 and (room_for_one_more or idle_count > 0):
        return -0.3, True
    if busy_gb == 0:
        # Nothing loaded to evict, yet it does not fit what is free: other work holds the memory.
        return (
            f"{INSUFFICIENT}: needs {need_gb:.1f} GB, "
            f"{node.memory_available_gb:.1f} GB available and nothing to evict"
        )
    return (
        f"{BLOCKED}: needs {need_gb:.1f} GB, {node.memory_available_gb:.1f} GB free + "
        f"{idle_gb:.1f} GB idle; {busy_gb:.1f} GB held by busy models"
    )
