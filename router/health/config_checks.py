"""Configuration checks: KV cache sizing against node memory, router/agent/Ollama version
mismatches, and an open fleet (no fleet token or API key), with the KV-per-token and version
arithmetic they rest on (``kv_bytes_per_token``, ``parameter_billions``).

Owns those checks' logic and wording. It must never read a clock, the network, the database or the
environment; everything comes in ``HealthInputs``.
"""

from __future__ import annotations

import math
import re
from typing import Any

from herd_contract.units import GB
from herd_contract.versions import parse_version, version_key
from router.fleet_status import LoadedModelView, NodeView

from .findings import gb, is_live, label, pct, sorted_nodes
from .model import Findings, HealthCheck, HealthInputs, Severity
from .registry import health_check
from .thresholds import (
    KV_CACHE_RATIO_CRITICAL,
    KV_CACHE_RATIO_WARNING,
    KV_KIB_PER_TOKEN_MAX,
    KV_KIB_PER_TOKEN_MIN,
    KV_KIB_PER_TOKEN_PER_BILLION_PARAMS,
    KV_KIB_PER_TOKEN_UNKNOWN,
    MIN_SUGGESTED_CONTEXT,
    OLLAMA_DEFAULT_CONTEXT,
    OLLAMA_DEFAULT_NUM_PARALLEL,
)


def _version_gap(a: str, b: str) -> Severity:
    """How far apart two differing version strings are: major, minor, or less."""
    pa, pb = parse_version(a), parse_version(b)
    if pa is None or pb is None:
        return "warning"
    if pa[0] != pb[0]:
        return "critical"
    if pa[1] != pb[1]:
        return "warning"
    return "info"


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


def kv_bytes_per_token(model: LoadedModelView) -> float:
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


def _model_context(model: LoadedModelView, node: NodeView) -> int:
    return model.context_length or node.ollama.context_length or OLLAMA_DEFAULT_CONTEXT


def _node_memory_gb(node: NodeView) -> float:
    return node.memory.total_gb or node.hardware.memory_gb


@health_check
def check_kv_cache_bloat(inputs: HealthInputs) -> Findings:
    """Loaded models' context windows are not wastefully large."""
    findings = []
    for node in sorted_nodes(inputs.nodes):
        memory_gb = _node_memory_gb(node)
        loaded = sorted(node.ollama.models_loaded, key=lambda m: m.name)
        if not is_live(node) or memory_gb <= 0 or not loaded:
            continue
        parallel = node.ollama.num_parallel or OLLAMA_DEFAULT_NUM_PARALLEL
        assumed = "" if node.ollama.num_parallel else " (assumed: the agent cannot see it)"
        per_model: list[dict[str, Any]] = []
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
                    "kv_gb": parallel * ctx * bpt / GB,
                }
            )
        kv_gb = parallel * per_slot_bytes / GB
        ratio = kv_gb / memory_gb
        if ratio <= KV_CACHE_RATIO_WARNING:
            continue
        severity: Severity = "critical" if ratio >= KV_CACHE_RATIO_CRITICAL else "warning"
        budget_bytes = KV_CACHE_RATIO_WARNING * memory_gb * GB
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
                    f"(largest context {max_ctx} tokens), the KV cache on {label(node)} is "
                    f"estimated at {gb(kv_gb)}, {pct(ratio)} of its {gb(memory_gb)} memory; "
                    f"{biggest['model']} alone accounts for {gb(biggest['kv_gb'])}. Every "
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


@health_check
def check_version_mismatch(inputs: HealthInputs) -> Findings:
    """Router, agents and Ollama versions agree."""
    findings = []
    nodes = sorted_nodes(inputs.nodes)
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
        versions = sorted(set(agents.values()), key=version_key)
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
    distinct = sorted(set(ollamas.values()), key=version_key)
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


@health_check
def check_open_fleet(inputs: HealthInputs) -> Findings:
    """Keys guard the fleet, the API and the admin calls, as ``router.auth`` enforces them; a
    router that listens on loopback only is reached by this machine alone, so nothing is open."""
    if not inputs.listens_on_network:
        return []
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
                title="Admin calls only from this machine",
                description=(
                    "HERD_ADMIN_KEY is not set, so pulls, deletes, settings changes and benchmark "
                    "runs are accepted only from the router's own machine (loopback); other "
                    "devices are refused with 403."
                ),
                fix=(
                    "To manage the fleet from another device, set HERD_ADMIN_KEY on the router "
                    "(e.g. `openssl rand -hex 32`), restart it and send the key as a Bearer token."
                ),
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
