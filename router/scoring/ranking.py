"""The decision: every node that may serve a request, ranked by its expected time to last token.

Owns ``RouteRequest`` (the per-request facts), ``Candidate`` (a node with its estimate and the
breakdown by term, in seconds), ``Decision`` and ``rank``: filter (``router.scoring.filters``),
estimate each survivor (``router.scoring.terms``, speeds from ``router.scoring.speed``), sort by
estimate, ties by node id. ``rank`` is pure: snapshots, the request, the live queue loads, what the
router has learned about speed and demand, and ``now`` go in; a ``Decision`` comes out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from herd_contract.units import GB
from router import model_size
from router.scoring import terms
from router.scoring.filters import Fit, QueueLoad, admit
from router.scoring.snapshot import NodeSnapshot, effective_parallel
from router.scoring.speed import (
    DEFAULT_OUTPUT_TOKENS,
    NO_SPEEDS,
    RUNNER_START_S,
    ModelSpeed,
    NodeSpeed,
    Speeds,
    decode_tps,
    load_seconds,
    prefill_tps,
)

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
"""Every key of ``Candidate.breakdown``, in this order; each value is seconds."""

WARM_WINDOW_S = 600.0
"""A model unloaded less than this long ago is warm (its file is likely in the page cache)."""

_EMPTY: Mapping[object, object] = {}
_IDLE: QueueLoad = (0, 0, 0.0)
_POSITION = {signal: i for i, signal in enumerate(SIGNALS)}


class Breakdown(Mapping[str, float]):
    """Seconds per signal, in ``SIGNALS`` order: a read-only view of a candidate's terms (built
    for every node of every decision, so it copies nothing)."""

    __slots__ = ("terms",)

    def __init__(self, terms: tuple[float, ...]) -> None:
        self.terms = terms

    def __getitem__(self, signal: str) -> float:
        return self.terms[_POSITION[signal]]

    def __iter__(self) -> Iterator[str]:
        return iter(SIGNALS)

    def __len__(self) -> int:
        return len(SIGNALS)

    def __repr__(self) -> str:
        return f"Breakdown({dict(zip(SIGNALS, self.terms, strict=True))})"


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
    output_tokens: int = 256
    """Expected output tokens (``num_predict`` when given, else the model's typical answer)."""
    num_ctx: int | None = None
    """``options.num_ctx`` as the request will be forwarded (after context protection)."""
    session_key: str | None = None
    excluded: frozenset[str] = frozenset()
    """Nodes already tried for this request (retries)."""
    context_protection: bool = True
    """Whether the router drops a ``num_ctx`` no larger than the loaded window (then only a larger
    one forces a reload); when off, any ``num_ctx`` that differs from the loaded window does."""


@dataclass(slots=True)
class Candidate:
    """A node that passed the filters, with its estimate and how it was reached (read-only by
    convention: not frozen, because a frozen dataclass costs microseconds per candidate)."""

    node_id: str
    estimate_s: float
    """Expected seconds until the request's last token on this node (the sum of the terms)."""
    terms: tuple[float, ...]
    """Seconds per term, in ``SIGNALS`` order."""
    hot: bool
    """The model is loaded there now."""
    needs_load: bool
    """Serving needs a (re)load: not loaded, or the window it needs exceeds the loaded one."""
    evicts: tuple[str, ...] = ()
    """Idle models Ollama would evict to load it."""
    queue_depth: int = 0
    """Pending plus in flight on this node:model when scored."""
    parallel: int = 1
    """The slot count the queue term assumed (``effective_parallel``)."""
    run_s: float = 0.0
    """The run alone (prompt and generation), without waiting or loading."""
    num_ctx: int | None = None
    """A larger window to ask for, when the prompt does not fit the one it would run in."""
    loaded_context: int = 0
    """The window the model is loaded with there (0: not loaded, or the node did not say)."""

    @property
    def breakdown(self) -> Breakdown:
        """Seconds per signal (``SIGNALS``); the values sum to ``estimate_s``."""
        return Breakdown(self.terms)

    @property
    def free_slot(self) -> bool:
        return self.queue_depth < self.parallel


@dataclass(frozen=True, slots=True)
class Decision:
    ranked: list[Candidate]
    """Best (soonest finish) first; equal estimates ordered by node id."""
    rejected: dict[str, str]
    """node_id -> reason (starts with one of the rejection codes)."""
    waiting: list[Candidate] = field(default_factory=list)
    """Nodes rejected as ``BLOCKED`` (busy models hold the memory), estimated with the wait for
    those models to finish, soonest first: where the request could wait for memory."""

    @property
    def best(self) -> Candidate | None:
        return self.ranked[0] if self.ranked else None


@dataclass(frozen=True, slots=True)
class _Fleet:
    """Per-decision inputs shared by every candidate."""

    request: RouteRequest
    now: float
    queues: Mapping[tuple[str, str], QueueLoad]
    speeds: Speeds
    demand: Mapping[str, float]
    session_node: str | None
    big_gb: float
    """A model this large is "big" in this fleet (a quarter of its largest memory)."""
    max_memory_gb: float
    max_bandwidth: float


def rank(
    nodes: Iterable[NodeSnapshot],
    request: RouteRequest,
    *,
    now: float,
    queues: Mapping[tuple[str, str], QueueLoad] = _EMPTY,  # type: ignore[assignment]
    speeds: Speeds = NO_SPEEDS,
    sessions: Mapping[str, str] = _EMPTY,  # type: ignore[assignment]
    demand: Mapping[str, float] = _EMPTY,  # type: ignore[assignment]
) -> Decision:
    """Rank ``nodes`` for ``request`` by expected time to last token, soonest first.

    ``queues`` maps (node_id, model) -> (pending, in_flight, in-flight seconds so far) as the
    router's queues see them; ``speeds`` is what the router learned; ``sessions`` maps a session
    key to the node that last served it; ``demand`` maps a model to its recent requests per
    second; ``now`` is epoch seconds. Missing keys mean idle / unmeasured / none.
    """
    nodes = list(nodes)
    max_mem = max((n.memory_total_gb for n in nodes), default=0.0)
    fleet = _Fleet(
        request=request,
        now=now,
        queues=queues,
        speeds=speeds,
        demand=demand,
        session_node=sessions.get(request.session_key) if request.session_key else None,
        big_gb=max_mem / 4.0 if max_mem > 0 else 1.0,
        max_memory_gb=max_mem,
        max_bandwidth=max((n.bandwidth_gbps or 0.0 for n in nodes), default=0.0),
    )
    need_default_gb = request.size_bytes / GB
    rejected: dict[str, str] = {}
    ranked: list[Candidate] = []
    waiting: list[Candidate] = []
    for node in nodes:
        fit = admit(node, request.model, need_default_gb, request.excluded, queues, demand)
        if isinstance(fit, str):
            rejected[node.node_id] = fit
        elif fit.blocked_by:
            rejected[node.node_id] = fit.reason
            waiting.append(_estimate(node, fit, fleet))
        else:
            ranked.append(_estimate(node, fit, fleet))
    ranked.sort(key=_order)
    waiting.sort(key=_order)
    return Decision(ranked, rejected, waiting)


def _order(candidate: Candidate) -> tuple[float, str]:
    return (candidate.estimate_s, candidate.node_id)


def _estimate(node: NodeSnapshot, fit: Fit, fleet: _Fleet) -> Candidate:
    """One candidate: its speeds, then each term in seconds (terms that are zero in the common
    case are only computed when they apply: this runs for every node on every request)."""
    request = fleet.request
    node_id = node.node_id
    model = request.model
    speeds = fleet.speeds
    model_speed = speeds.models.get((node_id, model))
    node_speed = speeds.nodes.get(node_id)
    decode = decode_tps(model_speed, node_speed, node.bandwidth_gbps, fit.weights)
    prefill_s = request.prompt_tokens / prefill_tps(model_speed, node_speed, decode)
    decode_s = request.output_tokens / decode
    run_s = prefill_s + decode_s
    typical_s = prefill_s + speeds.output_tokens.get(model, request.output_tokens) / decode
    load_s = load_seconds(model_speed, node_speed, fit.weights)

    pending, in_flight, elapsed_s = fleet.queues.get((node_id, model), _IDLE)
    elapsed_s /= speeds.wall_per_reported
    loaded = fit.loaded
    if loaded is not None and loaded.in_flight > in_flight:
        in_flight = loaded.in_flight
    parallel = effective_parallel(node, fit.need_gb)
    queue_s = terms.queue_wait(pending, in_flight, elapsed_s, parallel, typical_s)
    if pending + in_flight:
        queue_s += terms.contention(min(pending + in_flight, parallel - 1), decode_s)

    window, num_ctx = _window(node, fit, request)
    if loaded is None:
        memory_s = load_s
        if fit.blocked_by:
            memory_s += _memory_wait(node, fit, fleet, node_speed)
        if fit.evicted:
            memory_s += terms.eviction_cost(_reloads(node, fit, fleet, node_speed))
        if fit.tight or node.pressure == "warn":
            memory_s += terms.memory_risk(load_s, fit.tight, node.pressure == "warn")
        reload_ctx = False
    else:
        # A load the router sent is under way: what is left of it.
        left = loaded.ready_at - fleet.now
        memory_s = left / speeds.wall_per_reported if left > 0 else 0.0
        reload_ctx = 0 < loaded.context_length != window
    context_s = 0.0
    if reload_ctx:
        drain = min(max(in_flight * typical_s - elapsed_s, 0.0), typical_s)
        context_s = terms.context_reload(load_s + terms.warm_credit(load_s, RUNNER_START_S), drain)
    thermal_s = terms.throttling(node.thermal, run_s) if node.thermal in terms.SLOWDOWN else 0.0
    unloaded_at = node.recently_unloaded.get(model) if loaded is None else None
    if unloaded_at is not None and unloaded_at >= fleet.now - WARM_WINDOW_S:
        thermal_s += terms.warm_credit(load_s, RUNNER_START_S)
    session_s = 0.0
    if fleet.session_node == node_id and loaded is not None and not reload_ctx:
        session_s = terms.session(prefill_s)
    values = (
        thermal_s,
        memory_s,
        queue_s,
        run_s,
        terms.role(_bigness(fit, fleet), _power(node, fleet), run_s),
        terms.availability(node.availability, run_s),
        context_s,
        session_s,
        terms.health(True, run_s) if node.state == "degraded" else 0.0,
    )
    # Positional: keyword arguments cost a measurable share of a 500-node decision.
    return Candidate(
        node_id,
        sum(values),
        values,
        loaded is not None,
        loaded is None or reload_ctx,
        fit.evicted,
        pending + in_flight,
        parallel,
        run_s,
        num_ctx,
        loaded.context_length if loaded is not None else 0,
    )


def _window(node: NodeSnapshot, fit: Fit, request: RouteRequest) -> tuple[int, int | None]:
    """The context window the request will run in, and a larger ``num_ctx`` to ask for when
    the prompt and its answer do not fit the window it would otherwise get (never truncated)."""
    needed = request.prompt_tokens + request.output_tokens
    asked = request.num_ctx
    loaded_ctx = fit.loaded.context_length if fit.loaded is not None else 0
    if loaded_ctx:
        keeps = (
            asked is None
            or asked == loaded_ctx
            or (asked < loaded_ctx and request.context_protection)
        )
        window = loaded_ctx if keeps else (asked or loaded_ctx)
    else:
        window = asked or node.default_context_length or model_size.DEFAULT_CONTEXT_TOKENS
    if needed <= window:
        return window, None
    upgraded = 1 << (needed - 1).bit_length()
    return upgraded, upgraded


def _reloads(
    node: NodeSnapshot, fit: Fit, fleet: _Fleet, node_speed: NodeSpeed | None
) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for name in fit.evicted:
        info = node.loaded.get(name)
        weights = node.on_disk.get(name) or (info.size_bytes if info else 0)
        speed: ModelSpeed | None = fleet.speeds.models.get((node.node_id, name))
        out.append((load_seconds(speed, node_speed, weights), fleet.demand.get(name, 0.0)))
    return out


def _memory_wait(
    node: NodeSnapshot, fit: Fit, fleet: _Fleet, node_speed: NodeSpeed | None
) -> float:
    """Seconds until the busy models it must evict have finished their work (queued included)."""
    longest = 0.0
    for name in fit.blocked_by:
        info = node.loaded.get(name)  # None: still loading (``filters._loading``)
        weights = node.on_disk.get(name) or (info.size_bytes if info else 0)
        speed = fleet.speeds.models.get((node.node_id, name))
        decode = decode_tps(speed, node_speed, node.bandwidth_gbps, weights)
        typical_s = fleet.speeds.output_tokens.get(name, DEFAULT_OUTPUT_TOKENS) / decode
        pending, in_flight, elapsed_s = fleet.queues.get((node.node_id, name), _IDLE)
        elapsed_s /= fleet.speeds.wall_per_reported
        in_flight = max(in_flight, info.in_flight if info else 0)
        slots = effective_parallel(node, (info.size_bytes if info else weights) / GB)
        drain = terms.queue_wait(pending, in_flight, elapsed_s, 1, typical_s) / slots
        longest = max(longest, drain)
    return longest


def _bigness(fit: Fit, fleet: _Fleet) -> float:
    return min(fit.need_gb / fleet.big_gb, 1.0)


def _power(node: NodeSnapshot, fleet: _Fleet) -> float:
    """Memory share of the largest node, averaged with the bandwidth share when known."""
    mem_share = node.memory_total_gb / fleet.max_memory_gb if fleet.max_memory_gb > 0 else 0.0
    bandwidth = node.bandwidth_gbps
    if bandwidth is None or fleet.max_bandwidth <= 0:
        return mem_share
    return 0.5 * mem_share + 0.5 * bandwidth / fleet.max_bandwidth
