"""The health engine: automated checks over the fleet and the recorded traffic.

Owns what ``GET /dashboard/api/health`` says: which checks exist, their thresholds, how severe a
finding is, the score and the overall status. Each check is a small function from
``HealthInputs`` to zero or more ``HealthCheck`` findings (one per node where that is what the
operator acts on). ``evaluate`` runs them all and builds the ``HealthReport``.

This module is pure: it never reads a clock, the network, the database or the environment. The
router computes ``TrafficStats`` from its SQLite store, takes a registry snapshot and passes both
in, together with ``now``. Same inputs, same report, in the same order.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from router.wire import LoadedModel, NodeView

Severity = Literal["info", "warning", "critical"]
OverallStatus = Literal["healthy", "warning", "critical"]

# --- thresholds ----------------------------------------------------------------------------------
# Rates are fractions of ``TrafficStats.requests_total`` over the window. A rate check only speaks
# when the window holds at least MIN_REQUESTS_FOR_RATES requests and the event count reaches the
# check's own minimum, so that one unlucky request on a quiet day does not raise an alarm.

MIN_REQUESTS_FOR_RATES = 20
"""Below this many requests in the window, rate-based checks stay silent (too little evidence)."""

ERROR_RATE_WARNING = 0.05
"""Failed requests / requests: 5% failing is noticeable to users."""
ERROR_RATE_CRITICAL = 0.20
"""One request in five failing: the fleet is effectively broken for someone."""
ERROR_MIN_COUNT = 3

RETRY_RATE_WARNING = 0.10
"""Extra attempts / requests. Retries hide failures from clients but cost latency and capacity."""
RETRY_RATE_CRITICAL = 0.30
RETRY_MIN_COUNT = 3

TIMEOUT_RATE_WARNING = 0.01
"""Upstream timeouts / requests. A timeout holds a slot for minutes, so even 1% hurts."""
TIMEOUT_RATE_CRITICAL = 0.05
TIMEOUT_MIN_COUNT = 3

DISCONNECT_RATE_INFO = 0.05
"""Requests the client abandoned / requests. Some is normal (users press stop)."""
DISCONNECT_RATE_WARNING = 0.20
"""One in five clients giving up usually means they wait too long for a first token."""
DISCONNECT_MIN_COUNT = 3

INCOMPLETE_RATE_WARNING = 0.01
"""Streams that broke after bytes reached the client / requests. These cannot be retried."""
INCOMPLETE_RATE_CRITICAL = 0.05
INCOMPLETE_MIN_COUNT = 2

VRAM_FALLBACK_RATE_INFO = 0.01
"""Requests served by an already-loaded stand-in model instead of the cold one asked for."""
VRAM_FALLBACK_RATE_WARNING = 0.10
"""A tenth of requests answered by a different model than requested deserves attention."""
VRAM_FALLBACK_MIN_COUNT = 3

MODEL_FALLBACK_RATE_INFO = 0.01
"""Requests served by one of the client's ``fallback_models`` because the first choice failed."""
MODEL_FALLBACK_RATE_WARNING = 0.10
MODEL_FALLBACK_MIN_COUNT = 3

CONTEXT_PROTECTION_MIN_COUNT = 1
"""Any context-protection event is worth an info: clients send a ``num_ctx`` the node won't use."""
CONTEXT_PROTECTION_RATE_WARNING = 0.25
"""A quarter of requests asking for another context size: the node's setting is probably wrong."""

ZOMBIE_MIN_COUNT = 1
"""Any reaped (stalled) request is an info: a slot was stuck until the reaper freed it."""
ZOMBIE_RATE_WARNING = 0.01
ZOMBIE_COUNT_WARNING = 10
ZOMBIE_RATE_CRITICAL = 0.05

THRASH_WARNING = 5
"""Cold loads of the same model on the same node in the window. Default OLLAMA_KEEP_ALIVE (5m)
explains a few loads a day; five or more means the model is being evicted while still wanted."""
THRASH_CRITICAL = 20

UNDERUTILIZED_MIN_FLEET_REQUESTS = 50
"""The fleet must have served at least this many requests before idleness means anything."""
UNDERUTILIZED_MIN_BUSY_NODE_REQUESTS = 20
"""Some other node must have served at least this many: "while others were busy"."""
UNDERUTILIZED_FAIR_SHARE_FRACTION = 0.05
"""An eligible node is under-used when it served at most 5% of an even split of the traffic."""

KV_CACHE_RATIO_WARNING = 0.25
"""Estimated KV cache of the loaded models / node memory. Above a quarter, the KV cache crowds out
model weights and forces evictions."""
KV_CACHE_RATIO_CRITICAL = 0.50
"""Half the node's memory for KV cache alone: loads fail or spill to CPU/swap."""

KV_KIB_PER_TOKEN_PER_BILLION_PARAMS = 16.0
"""The per-token KV size assumption. An fp16 KV cache costs 2 (K and V) x layers x KV heads x
head dim x 2 bytes per token. For a Llama-3-8B-class model with grouped-query attention (32 layers,
8 KV heads of 128) that is 128 KiB per token, i.e. 16 KiB per billion parameters. We scale that
linearly with the parameter count in ``details.parameter_size`` and clamp it, because larger models
share KV heads more aggressively. It is an estimate for spotting an order-of-magnitude problem, not
an allocator; a quantised KV cache (OLLAMA_KV_CACHE_TYPE=q8_0) halves the real figure."""
KV_KIB_PER_TOKEN_MIN = 32.0
KV_KIB_PER_TOKEN_MAX = 320.0
"""Llama-3-70B (80 layers, 8 KV heads of 128) costs 320 KiB per token in fp16: the ceiling."""
KV_KIB_PER_TOKEN_UNKNOWN = 128.0
"""Used when the parameter size is unknown: the 8B-class figure."""
OLLAMA_DEFAULT_CONTEXT = 4096
"""Context assumed when neither the loaded model nor the node reports one (Ollama's default)."""
OLLAMA_DEFAULT_NUM_PARALLEL = 1
"""Parallel slots assumed when the agent cannot see OLLAMA_NUM_PARALLEL (Ollama's default)."""
MIN_SUGGESTED_CONTEXT = 2048

GIB = 1024**3
"""Memory ``*_gb`` fields are read as GiB (2**30 bytes), as the node agents report them."""

SEVERITY_PENALTY: dict[Severity, int] = {"critical": 30, "warning": 10, "info": 2}
"""Points subtracted from 100 per finding; the score is clamped to 0..100."""

_SEVERITY_RANK: dict[Severity, int] = {"critical": 0, "warning": 1, "info": 2}


# --- inputs --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrafficStats:
    """What the recorded traffic says about the window; the router fills it with SQL.

    ``requests_total`` counts client requests (one per request id, not per attempt); every rate in
    the report is a fraction of it.
    """

    window_s: float = 86_400.0
    """Length of the window the numbers cover, in seconds (24 h by default)."""
    requests_total: int = 0
    completed: int = 0
    failed: int = 0
    retried: int = 0
    """Attempts recorded with status ``retried`` (failed before the first byte, tried elsewhere)."""
    client_disconnected: int = 0
    incomplete: int = 0
    """Streams that broke after bytes reached the client."""
    timeouts: int = 0
    """Attempts that hit the connect, first-byte or read timeout upstream."""
    retries: int = 0
    """Extra attempts made (sum of ``retry_count``)."""
    model_fallbacks: int = 0
    """Requests served by one of the client's ``fallback_models``."""
    vram_fallbacks: int = 0
    """Requests served by a loaded stand-in instead of the cold model asked for."""
    context_protections: int = 0
    """Requests whose ``num_ctx`` was dropped to avoid a needless reload."""
    zombie_reaps: int = 0
    """Stalled requests whose slot the zombie reaper freed."""
    cold_loads: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """Cold loads per ``(node_id, model)``."""
    cold_loads_total: int = 0
    """All cold loads; when 0, the sum of ``cold_loads`` is used."""
    ttft_p50_ms: float | None = None
    """Median time to first token over the window."""
    error_rate: float | None = None
    """Failed / total as the store computed it; when ``None``, derived from the counts."""

    @property
    def effective_cold_loads(self) -> int:
        return self.cold_loads_total or sum(self.cold_loads.values())

    @property
    def effective_error_rate(self) -> float:
        if self.error_rate is not None:
            return self.error_rate
        return _ratio(self.failed, self.requests_total)


@dataclass(frozen=True, slots=True)
class HealthInputs:
    """Everything a health evaluation looks at; nothing else is consulted."""

    nodes: Sequence[NodeView]
    """The registry snapshot (``FleetStatus.nodes``)."""
    router_version: str
    now: float
    """Epoch seconds of the evaluation; becomes ``HealthReport.checked_at``."""
    traffic: TrafficStats = field(default_factory=TrafficStats)
    per_node_requests: Mapping[str, int] = field(default_factory=dict)
    """Requests each node served in the window, by node id."""
    fleet_token_set: bool = False
    api_key_set: bool = False
    admin_key_set: bool = False


# --- outputs -------------------------------------------------------------------------------------


class HealthCheck(BaseModel):
    """One finding: what is wrong, the numbers that show it, and what to do."""

    check_id: str = Field(description="Stable snake_case id of the check that produced this.")
    severity: Severity
    title: str
    description: str = Field(description="One paragraph, with the numbers that triggered it.")
    fix: str = Field(description="A concrete action: a command, an env var or a setting.")
    node_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class HealthVitals(BaseModel):
    nodes_total: int
    nodes_online: int
    nodes_degraded: int
    nodes_offline: int
    nodes_draining: int
    models_loaded: int
    window_s: float
    requests_24h: int
    """Requests in the window (named for the default 24 h window)."""
    error_rate: float
    retries_24h: int
    timeouts_24h: int
    cold_loads_24h: int
    ttft_p50_ms: float | None


class HealthReport(BaseModel):
    score: int = Field(ge=0, le=100)
    status: OverallStatus
    vitals: HealthVitals
    checks: list[HealthCheck]
    checked_at: float


# --- helpers -------------------------------------------------------------------------------------


def _ratio(count: int, total: int) -> float:
    return count / total if total > 0 else 0.0


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _gb(value: float) -> str:
    return f"{value:.1f} GB"


def _window(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 60:.0f} min"


def _sorted_nodes(nodes: Iterable[NodeView]) -> list[NodeView]:
    return sorted(nodes, key=lambda n: n.node_id)


def _label(node: NodeView) -> str:
    host = node.hardware.hostname
    return f"{node.node_id} ({host})" if host and host != node.node_id else node.node_id


def _rate_severity(
    count: int,
    total: int,
    *,
    min_count: int,
    levels: Sequence[tuple[float, Severity]],
) -> Severity | None:
    """The severity of the highest level whose rate threshold ``count/total`` reaches."""
    if total < MIN_REQUESTS_FOR_RATES or count < min_count:
        return None
    rate = _ratio(count, total)
    found: Severity | None = None
    for threshold, severity in sorted(levels, key=lambda item: item[0]):
        if rate >= threshold:
            found = severity
    return found


_VERSION_RE = re.compile(r"^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def _parse_version(version: str) -> tuple[int, int, int] | None:
    match = _VERSION_RE.match(version)
    if not match:
        return None
    major, minor, patch = (int(part) if part else 0 for part in match.groups())
    return major, minor, patch


def _version_gap(a: str, b: str) -> Severity:
    """How far apart two differing version strings are: major, minor, or less."""
    pa, pb = _parse_version(a), _parse_version(b)
    if pa is None or pb is None:
        return "warning"
    if pa[0] != pb[0]:
        return "critical"
    if pa[1] != pb[1]:
        return "warning"
    return "info"


def _version_key(version: str) -> tuple[int, int, int, str]:
    parsed = _parse_version(version) or (-1, -1, -1)
    return (*parsed, version)


_PARAM_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([KMBT])?\s*$", re.IGNORECASE)
_PARAM_SCALE = {"K": 1e-6, "M": 1e-3, "B": 1.0, "T": 1e3}


def parameter_billions(parameter_size: str) -> float | None:
    """``"8.0B"`` -> 8.0, ``"567M"`` -> 0.567; ``None`` when Ollama did not say."""
    match = _PARAM_RE.match(parameter_size or "")
    if not match:
        return None
    value = float(match.group(1))
    unit = (match.group(2) or "B").upper()
    billions = value * _PARAM_SCALE[unit]
    return billions if billions > 0 else None


def kv_bytes_per_token(model: LoadedModel) -> float:
    """The documented per-token KV size assumption for one loaded model, in bytes."""
    billions = parameter_billions(model.details.parameter_size)
    if billions is None:
        kib = KV_KIB_PER_TOKEN_UNKNOWN
    else:
        kib = min(
            KV_KIB_PER_TOKEN_MAX,
            max(KV_KIB_PER_TOKEN_MIN, billions * KV_KIB_PER_TOKEN_PER_BILLION_PARAMS),
        )
    return kib * 1024


def _model_context(model: LoadedModel, node: NodeView) -> int:
    return model.context_length or node.ollama.context_length or OLLAMA_DEFAULT_CONTEXT


def _node_memory_gb(node: NodeView) -> float:
    return node.memory.total_gb or node.hardware.memory_gb


def _is_live(node: NodeView) -> bool:
    return node.status != "offline"


# --- checks --------------------------------------------------------------------------------------

Findings = list[HealthCheck]


def check_no_nodes(inputs: HealthInputs) -> Findings:
    if inputs.nodes:
        return []
    return [
        HealthCheck(
            check_id="no_nodes",
            severity="critical",
            title="No nodes in the fleet",
            description=(
                "The router knows 0 nodes, so every inference request is refused. Nodes join by "
                "running the herd-node agent, which finds the router over mDNS and sends a "
                "heartbeat every few seconds."
            ),
            fix=(
                "Start `herd-node` on each device running Ollama. If mDNS discovery fails (VLANs, "
                "Wi-Fi client isolation, containers), point it at the router explicitly: "
                "`herd-node --router-url http://<router-ip>:11435`."
            ),
            data={"nodes_total": 0},
        )
    ]


def check_offline_nodes(inputs: HealthInputs) -> Findings:
    nodes = _sorted_nodes(inputs.nodes)
    offline = [n for n in nodes if n.status == "offline"]
    if not offline:
        return []
    live = len(nodes) - len(offline)
    severity: Severity = "critical" if live == 0 else "warning"
    findings = []
    for node in offline:
        findings.append(
            HealthCheck(
                check_id="offline_nodes",
                severity=severity,
                title=f"Node {node.node_id} is offline",
                description=(
                    f"Node {_label(node)} has not sent a heartbeat for "
                    f"{node.seconds_since_heartbeat:.0f} s, so the router no longer sends it "
                    f"requests. {len(offline)} of {len(nodes)} nodes are offline and {live} "
                    "can still serve."
                ),
                fix=(
                    f"On {node.node_id}, check that Ollama and `herd-node` are running "
                    "(restart with `herd-node --router-url http://<router-ip>:11435`), and that "
                    "the device is awake and can reach the router on port 11435."
                ),
                node_id=node.node_id,
                data={
                    "seconds_since_heartbeat": node.seconds_since_heartbeat,
                    "last_seen": node.last_seen,
                    "nodes_offline": len(offline),
                    "nodes_total": len(nodes),
                },
            )
        )
    return findings


def check_degraded_nodes(inputs: HealthInputs) -> Findings:
    findings = []
    for node in _sorted_nodes(inputs.nodes):
        if node.status != "degraded":
            continue
        findings.append(
            HealthCheck(
                check_id="degraded_nodes",
                severity="warning",
                title=f"Node {node.node_id} is missing heartbeats",
                description=(
                    f"Node {_label(node)} last sent a heartbeat "
                    f"{node.seconds_since_heartbeat:.0f} s ago (they normally arrive every ~5 s). "
                    "It is marked degraded and will be taken offline if heartbeats stay away."
                ),
                fix=(
                    f"Check the network between {node.node_id} and the router, and whether the "
                    "device is sleeping or overloaded; the `herd-node` log on that device shows "
                    "failed heartbeats."
                ),
                node_id=node.node_id,
                data={"seconds_since_heartbeat": node.seconds_since_heartbeat},
            )
        )
    return findings


def check_ollama_unreachable(inputs: HealthInputs) -> Findings:
    findings = []
    for node in _sorted_nodes(inputs.nodes):
        if not _is_live(node) or node.ollama.reachable:
            continue
        findings.append(
            HealthCheck(
                check_id="ollama_unreachable",
                severity="warning",
                title=f"Ollama is not answering on {node.node_id}",
                description=(
                    f"The agent on {_label(node)} is sending heartbeats, but cannot reach Ollama "
                    f"at {node.ollama.url}; the node has 0 usable models until it answers."
                ),
                fix=(
                    f"Start Ollama on {node.node_id} (`ollama serve`, or restart the Ollama app) "
                    "and make sure it listens where the agent looks (OLLAMA_HOST)."
                ),
                node_id=node.node_id,
                data={"ollama_url": node.ollama.url},
            )
        )
    return findings


def check_memory_pressure(inputs: HealthInputs) -> Findings:
    findings = []
    for node in _sorted_nodes(inputs.nodes):
        pressure = node.memory.pressure
        if not _is_live(node) or pressure == "normal":
            continue
        severity: Severity = "critical" if pressure == "critical" else "warning"
        mem = node.memory
        swap = (
            f", swap {_gb(mem.swap_used_gb)} of {_gb(mem.swap_total_gb)} in use"
            if mem.swap_total_gb
            else ""
        )
        consequence = (
            "The router stops sending it new requests until pressure drops."
            if severity == "critical"
            else "Inference slows down and loads may evict models other requests need."
        )
        loaded = ", ".join(m.name for m in node.ollama.models_loaded) or "none"
        findings.append(
            HealthCheck(
                check_id="memory_pressure",
                severity=severity,
                title=f"Memory pressure {pressure} on {node.node_id}",
                description=(
                    f"Node {_label(node)} reports {pressure} memory pressure: "
                    f"{_gb(mem.used_gb)} of {_gb(mem.total_gb)} used, "
                    f"{_gb(mem.available_gb)} available{swap}. Loaded models: {loaded}. "
                    f"{consequence}"
                ),
                fix=(
                    f"On {node.node_id}, unload models it does not need (`ollama stop <model>`), "
                    "set OLLAMA_MAX_LOADED_MODELS=1 or a lower OLLAMA_NUM_PARALLEL, and close "
                    "other memory-hungry applications."
                ),
                node_id=node.node_id,
                data={
                    "pressure": pressure,
                    "used_gb": mem.used_gb,
                    "total_gb": mem.total_gb,
                    "available_gb": mem.available_gb,
                    "swap_used_gb": mem.swap_used_gb,
                },
            )
        )
    return findings


def check_underutilized_nodes(inputs: HealthInputs) -> Findings:
    counts = {node_id: max(0, n) for node_id, n in inputs.per_node_requests.items()}
    total = sum(counts.values())
    if total < UNDERUTILIZED_MIN_FLEET_REQUESTS:
        return []
    eligible = [
        n
        for n in _sorted_nodes(inputs.nodes)
        if n.status == "online"
        and not n.draining
        and n.ollama.reachable
        and n.memory.pressure == "normal"
    ]
    if len(eligible) < 2:
        return []
    fair_share = total / len(eligible)
    limit = fair_share * UNDERUTILIZED_FAIR_SHARE_FRACTION
    findings = []
    for node in eligible:
        served = counts.get(node.node_id, 0)
        if served > limit:
            continue
        others = {k: v for k, v in counts.items() if k != node.node_id}
        if not others:
            continue
        busiest_id, busiest = max(sorted(others.items()), key=lambda item: item[1])
        if busiest < UNDERUTILIZED_MIN_BUSY_NODE_REQUESTS:
            continue
        severity: Severity = "warning" if served == 0 else "info"
        models = len(node.ollama.models_loaded)
        findings.append(
            HealthCheck(
                check_id="underutilized_nodes",
                severity=severity,
                title=f"Node {node.node_id} is barely used",
                description=(
                    f"Node {_label(node)} is online with normal memory pressure and "
                    f"{_gb(node.memory.available_gb)} available, yet served {served} of {total} "
                    f"requests in the window (an even split would be {fair_share:.0f}), while "
                    f"{busiest_id} served {busiest}. It has {models} model(s) loaded and "
                    f"{len(node.ollama.models_available)} on disk."
                ),
                fix=(
                    f"Pull the models clients ask for onto {node.node_id} "
                    f'(`POST /api/pull {{"model": "<model>", "node_id": "{node.node_id}"}}`), '
                    "then compare its scores with the busy node's in `/dashboard/api/traces` "
                    "(thermal state, memory fit and role affinity explain the choice)."
                ),
                node_id=node.node_id,
                data={
                    "requests": served,
                    "fleet_requests": total,
                    "fair_share": fair_share,
                    "busiest_node": busiest_id,
                    "busiest_requests": busiest,
                },
            )
        )
    return findings


def check_kv_cache_bloat(inputs: HealthInputs) -> Findings:
    findings = []
    for node in _sorted_nodes(inputs.nodes):
        memory_gb = _node_memory_gb(node)
        loaded = sorted(node.ollama.models_loaded, key=lambda m: m.name)
        if not _is_live(node) or memory_gb <= 0 or not loaded:
            continue
        parallel = node.ollama.num_parallel or OLLAMA_DEFAULT_NUM_PARALLEL
        assumed = "" if node.ollama.num_parallel else " (assumed: the agent cannot see it)"
        per_model = []
        per_slot_bytes = 0.0
        for model in loaded:
            ctx = _model_context(model, node)
            bpt = kv_bytes_per_token(model)
            per_slot_bytes += ctx * bpt
            per_model.append(
                {
                    "model": model.name,
                    "context_length": ctx,
                    "kv_kib_per_token": bpt / 1024,
                    "kv_gb": parallel * ctx * bpt / GIB,
                }
            )
        kv_gb = parallel * per_slot_bytes / GIB
        ratio = kv_gb / memory_gb
        if ratio <= KV_CACHE_RATIO_WARNING:
            continue
        severity: Severity = "critical" if ratio >= KV_CACHE_RATIO_CRITICAL else "warning"
        budget_bytes = KV_CACHE_RATIO_WARNING * memory_gb * GIB
        max_ctx = max(item["context_length"] for item in per_model)
        suggested_parallel = max(1, math.floor(budget_bytes / per_slot_bytes))
        scaled_ctx = max_ctx * budget_bytes / (parallel * per_slot_bytes)
        suggested_ctx = max(MIN_SUGGESTED_CONTEXT, 2 ** math.floor(math.log2(max(scaled_ctx, 1))))
        biggest = max(per_model, key=lambda item: item["kv_gb"])
        advice = []
        if suggested_parallel < parallel:
            advice.append(f"OLLAMA_NUM_PARALLEL={suggested_parallel} (now {parallel})")
        if suggested_ctx < max_ctx:
            advice.append(f"OLLAMA_CONTEXT_LENGTH={suggested_ctx} (now up to {max_ctx})")
        if not advice:
            advice.append("OLLAMA_MAX_LOADED_MODELS=1 so fewer contexts are allocated at once")
        findings.append(
            HealthCheck(
                check_id="kv_cache_bloat",
                severity=severity,
                title=f"KV cache estimate too large on {node.node_id}",
                description=(
                    f"With OLLAMA_NUM_PARALLEL={parallel}{assumed} and "
                    f"{len(loaded)} loaded model(s) "
                    f"(largest context {max_ctx} tokens), the KV cache on {_label(node)} is "
                    f"estimated at {_gb(kv_gb)}, {_pct(ratio)} of its {_gb(memory_gb)} memory; "
                    f"{biggest['model']} alone accounts for {_gb(biggest['kv_gb'])}. Every "
                    "parallel slot reserves a full context, so this memory is taken from model "
                    "weights and forces evictions. (Estimate: fp16 KV, "
                    f"{KV_KIB_PER_TOKEN_PER_BILLION_PARAMS:.0f} KiB per token per billion "
                    "parameters.)"
                ),
                fix=(
                    f"On {node.node_id}, set {' or '.join(advice)} in Ollama's environment and "
                    "restart Ollama; OLLAMA_KV_CACHE_TYPE=q8_0 (with OLLAMA_FLASH_ATTENTION=1) "
                    "roughly halves the KV cache."
                ),
                node_id=node.node_id,
                data={
                    "num_parallel": parallel,
                    "kv_cache_gb": kv_gb,
                    "memory_gb": memory_gb,
                    "ratio": ratio,
                    "suggested_num_parallel": suggested_parallel,
                    "suggested_context_length": suggested_ctx,
                    "models": per_model,
                },
            )
        )
    return findings


def check_version_mismatch(inputs: HealthInputs) -> Findings:
    findings = []
    nodes = _sorted_nodes(inputs.nodes)
    router = inputs.router_version
    agents = {n.node_id: n.agent_version for n in nodes if n.agent_version}
    if router:
        for node_id, version in agents.items():
            if version == router:
                continue
            findings.append(
                HealthCheck(
                    check_id="version_mismatch",
                    severity=_version_gap(version, router),
                    title=f"herd-node {version} on {node_id} differs from router {router}",
                    description=(
                        f"Node {node_id} runs herd-node {version} while the router runs {router}. "
                        "Mismatched versions can disagree on the heartbeat format and on which "
                        "fields the router uses for scoring."
                    ),
                    fix=(
                        f"Upgrade both to the same release: `pip install -U ollama-herd` on "
                        f"{node_id} and on the router host, then restart `herd-node` and `herd`."
                    ),
                    node_id=node_id,
                    data={"kind": "agent", "agent_version": version, "router_version": router},
                )
            )
    elif len(set(agents.values())) > 1:
        versions = sorted(set(agents.values()), key=_version_key)
        findings.append(
            HealthCheck(
                check_id="version_mismatch",
                severity=_version_gap(versions[0], versions[-1]),
                title="Nodes run different herd-node versions",
                description=(
                    f"The fleet runs {len(versions)} herd-node versions ({', '.join(versions)}): "
                    + "; ".join(f"{k} {v}" for k, v in agents.items())
                    + "."
                ),
                fix="Run `pip install -U ollama-herd` on every node and restart `herd-node`.",
                data={"kind": "agent", "versions": dict(agents)},
            )
        )
    ollamas = {n.node_id: n.ollama.version for n in nodes if n.ollama.version}
    distinct = sorted(set(ollamas.values()), key=_version_key)
    if len(distinct) > 1:
        newest = distinct[-1]
        behind = [k for k, v in ollamas.items() if v != newest]
        findings.append(
            HealthCheck(
                check_id="version_mismatch",
                severity="warning" if _version_gap(distinct[0], newest) != "info" else "info",
                title="Nodes run different Ollama versions",
                description=(
                    f"The fleet runs {len(distinct)} Ollama versions ({', '.join(distinct)}): "
                    + "; ".join(f"{k} {v}" for k, v in ollamas.items())
                    + ". Versions differ in supported models, context handling and memory "
                    "estimates, so the same request can behave differently per node."
                ),
                fix=(
                    f"Upgrade Ollama to {newest} on {', '.join(behind)} "
                    "(`curl -fsSL https://ollama.com/install.sh | sh` on Linux, or update the app)."
                ),
                data={"kind": "ollama", "versions": dict(ollamas), "newest": newest},
            )
        )
    return findings


def check_vram_fallbacks(inputs: HealthInputs) -> Findings:
    t = inputs.traffic
    severity = _rate_severity(
        t.vram_fallbacks,
        t.requests_total,
        min_count=VRAM_FALLBACK_MIN_COUNT,
        levels=[(VRAM_FALLBACK_RATE_INFO, "info"), (VRAM_FALLBACK_RATE_WARNING, "warning")],
    )
    if severity is None:
        return []
    rate = _ratio(t.vram_fallbacks, t.requests_total)
    return [
        HealthCheck(
            check_id="vram_fallbacks",
            severity=severity,
            title="Loaded models often stand in for cold ones",
            description=(
                f"{t.vram_fallbacks} of {t.requests_total} requests ({_pct(rate)}) were served "
                "by an already-loaded model of the same kind instead of the model requested, "
                "because loading the requested one would have been slow. Clients see the "
                "substitute in the X-Fleet-Fallback header."
            ),
            fix=(
                "Keep the requested models loaded where there is room (OLLAMA_KEEP_ALIVE=30m or "
                "OLLAMA_MAX_LOADED_MODELS higher on the large nodes), or turn the behaviour off: "
                'POST /dashboard/api/settings {"vram_fallback": false}.'
            ),
            data={"vram_fallbacks": t.vram_fallbacks, "requests": t.requests_total, "rate": rate},
        )
    ]


def check_model_fallbacks(inputs: HealthInputs) -> Findings:
    t = inputs.traffic
    severity = _rate_severity(
        t.model_fallbacks,
        t.requests_total,
        min_count=MODEL_FALLBACK_MIN_COUNT,
        levels=[(MODEL_FALLBACK_RATE_INFO, "info"), (MODEL_FALLBACK_RATE_WARNING, "warning")],
    )
    if severity is None:
        return []
    rate = _ratio(t.model_fallbacks, t.requests_total)
    return [
        HealthCheck(
            check_id="model_fallbacks",
            severity=severity,
            title="Requests fall back to their second-choice model",
            description=(
                f"{t.model_fallbacks} of {t.requests_total} requests ({_pct(rate)}) were served "
                "by a model from the client's fallback_models list because the first choice "
                "was missing or failing on every node."
            ),
            fix=(
                "Make the primary model available: pull it onto a node with room "
                '(`POST /api/pull {"model": "<model>"}`) and check the failing attempts in '
                "/dashboard/api/traces."
            ),
            data={"model_fallbacks": t.model_fallbacks, "requests": t.requests_total, "rate": rate},
        )
    ]


def check_context_protection(inputs: HealthInputs) -> Findings:
    t = inputs.traffic
    if t.context_protections < CONTEXT_PROTECTION_MIN_COUNT or t.requests_total <= 0:
        return []
    rate = _ratio(t.context_protections, t.requests_total)
    severity: Severity = (
        "warning"
        if t.requests_total >= MIN_REQUESTS_FOR_RATES and rate >= CONTEXT_PROTECTION_RATE_WARNING
        else "info"
    )
    return [
        HealthCheck(
            check_id="context_protection",
            severity=severity,
            title="Clients ask for a context size the nodes are not loaded with",
            description=(
                f"Context protection dropped options.num_ctx from {t.context_protections} of "
                f"{t.requests_total} requests ({_pct(rate)}); honouring it would have reloaded "
                "the model (seconds of delay and a lost prompt cache) on every such request."
            ),
            fix=(
                "Set OLLAMA_CONTEXT_LENGTH on the nodes to the context your clients need, or stop "
                "sending options.num_ctx from the clients; to honour num_ctx anyway, "
                'POST /dashboard/api/settings {"context_protection": false}.'
            ),
            data={
                "context_protections": t.context_protections,
                "requests": t.requests_total,
                "rate": rate,
            },
        )
    ]


def check_zombie_reaper(inputs: HealthInputs) -> Findings:
    t = inputs.traffic
    if t.zombie_reaps < ZOMBIE_MIN_COUNT:
        return []
    rate = _ratio(t.zombie_reaps, t.requests_total)
    severity: Severity = "info"
    if t.zombie_reaps >= ZOMBIE_COUNT_WARNING or (
        t.requests_total >= MIN_REQUESTS_FOR_RATES and rate >= ZOMBIE_RATE_WARNING
    ):
        severity = "warning"
    if t.requests_total >= MIN_REQUESTS_FOR_RATES and rate >= ZOMBIE_RATE_CRITICAL:
        severity = "critical"
    return [
        HealthCheck(
            check_id="zombie_reaper",
            severity=severity,
            title="Stalled requests were reaped",
            description=(
                f"The zombie reaper freed {t.zombie_reaps} stalled request slot(s) out of "
                f"{t.requests_total} requests ({_pct(rate)}): requests that stopped producing "
                "output and held a queue slot until the reaper timeout."
            ),
            fix=(
                "Look at the reaped requests in /dashboard/api/traces to find the node, then check "
                "that node's Ollama log for hangs or out-of-memory. If long generations are "
                'legitimate, raise the timeout: POST /dashboard/api/settings {"reaper_timeout_s": '
                "900} (or HERD_REAPER_TIMEOUT_S=900)."
            ),
            data={"zombie_reaps": t.zombie_reaps, "requests": t.requests_total, "rate": rate},
        )
    ]


def check_model_thrashing(inputs: HealthInputs) -> Findings:
    nodes = {n.node_id: n for n in inputs.nodes}
    window = _window(inputs.traffic.window_s)
    findings = []
    for (node_id, model), loads in sorted(inputs.traffic.cold_loads.items()):
        if loads < THRASH_WARNING:
            continue
        severity: Severity = "critical" if loads >= THRASH_CRITICAL else "warning"
        node = nodes.get(node_id)
        settings = ""
        url = node.ollama.url.rstrip("/") if node is not None else f"http://{node_id}:11434"
        if node is not None:
            keep = node.ollama.keep_alive or "5m (default)"
            max_loaded = node.ollama.max_loaded_models or "3 (default)"
            settings = (
                f" The node runs OLLAMA_KEEP_ALIVE={keep}, OLLAMA_MAX_LOADED_MODELS={max_loaded}."
            )
        findings.append(
            HealthCheck(
                check_id="model_thrashing",
                severity=severity,
                title=f"{model} keeps reloading on {node_id}",
                description=(
                    f"{model} was cold-loaded {loads} times on {node_id} in the last "
                    f"{window}: it is evicted or expires while still in demand, and every "
                    f"load costs seconds before the first token.{settings}"
                ),
                fix=(
                    f"On {node_id}, keep it loaded longer with OLLAMA_KEEP_ALIVE=30m (or -1 to "
                    "never unload), raise OLLAMA_MAX_LOADED_MODELS if memory allows, or pin it: "
                    f'`curl {url}/api/generate -d \'{{"model": "{model}", '
                    '"keep_alive": -1}\'`.'
                ),
                node_id=node_id,
                data={"model": model, "cold_loads": loads, "window_s": inputs.traffic.window_s},
            )
        )
    return findings


def check_request_timeouts(inputs: HealthInputs) -> Findings:
    t = inputs.traffic
    severity = _rate_severity(
        t.timeouts,
        t.requests_total,
        min_count=TIMEOUT_MIN_COUNT,
        levels=[(TIMEOUT_RATE_WARNING, "warning"), (TIMEOUT_RATE_CRITICAL, "critical")],
    )
    if severity is None:
        return []
    rate = _ratio(t.timeouts, t.requests_total)
    return [
        HealthCheck(
            check_id="request_timeouts",
            severity=severity,
            title="Upstream requests time out",
            description=(
                f"{t.timeouts} of {t.requests_total} requests ({_pct(rate)}) hit an upstream "
                f"timeout (connect, first byte or between chunks); {t.effective_cold_loads} cold "
                "loads in the same window are a common cause."
            ),
            fix=(
                "Find the node in /dashboard/api/traces; if cold loads of large models are slow, "
                "raise HERD_FIRST_BYTE_TIMEOUT_S (default 600) or keep the model loaded "
                "(OLLAMA_KEEP_ALIVE); if streams stall mid-way, raise HERD_READ_TIMEOUT_S or "
                "check the node for memory pressure."
            ),
            data={"timeouts": t.timeouts, "requests": t.requests_total, "rate": rate},
        )
    ]


def check_error_rate(inputs: HealthInputs) -> Findings:
    t = inputs.traffic
    rate = t.effective_error_rate
    failed = t.failed or round(rate * t.requests_total)
    if t.requests_total < MIN_REQUESTS_FOR_RATES or failed < ERROR_MIN_COUNT:
        return []
    if rate < ERROR_RATE_WARNING:
        return []
    severity: Severity = "critical" if rate >= ERROR_RATE_CRITICAL else "warning"
    return [
        HealthCheck(
            check_id="error_rate",
            severity=severity,
            title="Many requests fail",
            description=(
                f"{failed} of {t.requests_total} requests failed in the window, an error rate "
                f"of {_pct(rate)} (warning at {_pct(ERROR_RATE_WARNING)}, critical at "
                f"{_pct(ERROR_RATE_CRITICAL)})."
            ),
            fix=(
                "Group the failures by error_message and node in /dashboard/api/traces "
                "(`curl 'http://localhost:11435/dashboard/api/traces?limit=200'`); missing models "
                "need a pull, out-of-memory errors a smaller OLLAMA_NUM_PARALLEL or model."
            ),
            data={"failed": failed, "requests": t.requests_total, "error_rate": rate},
        )
    ]


def check_retry_rate(inputs: HealthInputs) -> Findings:
    t = inputs.traffic
    severity = _rate_severity(
        t.retries,
        t.requests_total,
        min_count=RETRY_MIN_COUNT,
        levels=[(RETRY_RATE_WARNING, "warning"), (RETRY_RATE_CRITICAL, "critical")],
    )
    if severity is None:
        return []
    rate = _ratio(t.retries, t.requests_total)
    return [
        HealthCheck(
            check_id="retry_rate",
            severity=severity,
            title="Requests often need a retry",
            description=(
                f"The router made {t.retries} retry attempts for {t.requests_total} requests "
                f"({_pct(rate)}); {t.retried} attempts failed before the first byte and were "
                "sent to another node. Clients still got answers, but later."
            ),
            fix=(
                "Find which node the retried attempts left in /dashboard/api/traces and fix it "
                "(Ollama crashing, model missing, memory pressure), or drain it until fixed."
            ),
            data={"retries": t.retries, "retried": t.retried, "requests": t.requests_total},
        )
    ]


def check_client_disconnects(inputs: HealthInputs) -> Findings:
    t = inputs.traffic
    severity = _rate_severity(
        t.client_disconnected,
        t.requests_total,
        min_count=DISCONNECT_MIN_COUNT,
        levels=[(DISCONNECT_RATE_INFO, "info"), (DISCONNECT_RATE_WARNING, "warning")],
    )
    if severity is None:
        return []
    rate = _ratio(t.client_disconnected, t.requests_total)
    ttft = f" The median time to first token is {t.ttft_p50_ms:.0f} ms." if t.ttft_p50_ms else ""
    return [
        HealthCheck(
            check_id="client_disconnects",
            severity=severity,
            title="Clients abandon requests",
            description=(
                f"{t.client_disconnected} of {t.requests_total} requests ({_pct(rate)}) ended "
                f"because the client disconnected before the reply was complete.{ttft}"
            ),
            fix=(
                "Raise the client's HTTP timeout (cold loads can take a minute), and cut the wait: "
                "keep popular models loaded (OLLAMA_KEEP_ALIVE) and add capacity for busy models "
                "(OLLAMA_NUM_PARALLEL on a node with spare memory)."
            ),
            data={
                "client_disconnected": t.client_disconnected,
                "requests": t.requests_total,
                "rate": rate,
                "ttft_p50_ms": t.ttft_p50_ms,
            },
        )
    ]


def check_incomplete_streams(inputs: HealthInputs) -> Findings:
    t = inputs.traffic
    severity = _rate_severity(
        t.incomplete,
        t.requests_total,
        min_count=INCOMPLETE_MIN_COUNT,
        levels=[(INCOMPLETE_RATE_WARNING, "warning"), (INCOMPLETE_RATE_CRITICAL, "critical")],
    )
    if severity is None:
        return []
    rate = _ratio(t.incomplete, t.requests_total)
    return [
        HealthCheck(
            check_id="incomplete_streams",
            severity=severity,
            title="Streams break before the end",
            description=(
                f"{t.incomplete} of {t.requests_total} requests ({_pct(rate)}) ended with a "
                "truncated stream: the node stopped or sent an error after output had reached the "
                "client, so the router could not retry."
            ),
            fix=(
                "Check the nodes named on the incomplete traces in /dashboard/api/traces for "
                "Ollama crashes or out-of-memory (lower OLLAMA_NUM_PARALLEL or "
                "OLLAMA_CONTEXT_LENGTH there), and for network drops between router and node."
            ),
            data={"incomplete": t.incomplete, "requests": t.requests_total, "rate": rate},
        )
    ]


def check_open_fleet(inputs: HealthInputs) -> Findings:
    findings = []
    if not inputs.fleet_token_set:
        findings.append(
            HealthCheck(
                check_id="open_fleet",
                severity="warning",
                title="Any device on the network can join the fleet",
                description=(
                    "HERD_FLEET_TOKEN is not set, so the router accepts heartbeats from anyone "
                    f"who can reach it ({len(inputs.nodes)} node(s) registered now). A rogue node "
                    "would receive prompts and could return anything."
                ),
                fix=(
                    "Generate a secret (`openssl rand -hex 32`) and set HERD_FLEET_TOKEN to it on "
                    "the router and on every herd-node, then restart them."
                ),
                data={"setting": "HERD_FLEET_TOKEN"},
            )
        )
    if not inputs.admin_key_set:
        findings.append(
            HealthCheck(
                check_id="open_fleet",
                severity="info",
                title="Admin endpoints need no key",
                description=(
                    "HERD_ADMIN_KEY is not set: anyone who can reach the router can pull and "
                    "delete models and change settings."
                ),
                fix="Set HERD_ADMIN_KEY on the router (e.g. `openssl rand -hex 32`) and restart.",
                data={"setting": "HERD_ADMIN_KEY"},
            )
        )
    if not inputs.api_key_set:
        findings.append(
            HealthCheck(
                check_id="open_fleet",
                severity="info",
                title="Inference needs no key",
                description=(
                    "HERD_API_KEY is not set: anyone who can reach the router can run inference "
                    "and read the dashboard API."
                ),
                fix=(
                    "Set HERD_API_KEY on the router and give clients the key as a Bearer token "
                    "(OpenAI clients: api_key=...)."
                ),
                data={"setting": "HERD_API_KEY"},
            )
        )
    return findings


CHECKS: tuple[Callable[[HealthInputs], Findings], ...] = (
    check_no_nodes,
    check_offline_nodes,
    check_degraded_nodes,
    check_ollama_unreachable,
    check_memory_pressure,
    check_underutilized_nodes,
    check_kv_cache_bloat,
    check_version_mismatch,
    check_vram_fallbacks,
    check_model_fallbacks,
    check_context_protection,
    check_zombie_reaper,
    check_model_thrashing,
    check_request_timeouts,
    check_error_rate,
    check_retry_rate,
    check_client_disconnects,
    check_incomplete_streams,
    check_open_fleet,
)
"""Every check ``evaluate`` runs."""


# --- the engine ----------------------------------------------------------------------------------


def score(checks: Iterable[HealthCheck]) -> int:
    """100 minus ``SEVERITY_PENALTY`` per finding, clamped to 0..100."""
    penalty = sum(SEVERITY_PENALTY[c.severity] for c in checks)
    return max(0, min(100, 100 - penalty))


def overall_status(checks: Iterable[HealthCheck]) -> OverallStatus:
    """The worst finding decides: any critical, else any warning, else healthy (info is fine)."""
    severities = {c.severity for c in checks}
    if "critical" in severities:
        return "critical"
    if "warning" in severities:
        return "warning"
    return "healthy"


def vitals(inputs: HealthInputs) -> HealthVitals:
    nodes = inputs.nodes
    t = inputs.traffic
    return HealthVitals(
        nodes_total=len(nodes),
        nodes_online=sum(1 for n in nodes if n.status == "online"),
        nodes_degraded=sum(1 for n in nodes if n.status == "degraded"),
        nodes_offline=sum(1 for n in nodes if n.status == "offline"),
        nodes_draining=sum(1 for n in nodes if n.draining),
        models_loaded=sum(len(n.ollama.models_loaded) for n in nodes if _is_live(n)),
        window_s=t.window_s,
        requests_24h=t.requests_total,
        error_rate=t.effective_error_rate,
        retries_24h=t.retries,
        timeouts_24h=t.timeouts,
        cold_loads_24h=t.effective_cold_loads,
        ttft_p50_ms=t.ttft_p50_ms,
    )


def _order(check: HealthCheck) -> tuple[int, str, str, str]:
    return (_SEVERITY_RANK[check.severity], check.check_id, check.node_id or "", check.title)


def evaluate(inputs: HealthInputs) -> HealthReport:
    """Run every check over ``inputs``; findings sorted critical first, then by check id."""
    found = [finding for check in CHECKS for finding in check(inputs)]
    found.sort(key=_order)
    return HealthReport(
        score=score(found),
        status=overall_status(found),
        vitals=vitals(inputs),
        checks=found,
        checked_at=inputs.now,
    )
