"""Node-state checks: no nodes, offline, degraded, Ollama unreachable, memory pressure and
under-used nodes, each from the registry snapshot (and the per-node request counts).

Owns those checks' logic and wording. It must never read a clock, the network, the database or the
environment; everything comes in ``HealthInputs``.
"""

from __future__ import annotations

from .findings import gb, is_live, label, sorted_nodes
from .model import Findings, HealthCheck, HealthInputs, Severity
from .registry import health_check
from .thresholds import (
    UNDERUTILIZED_FAIR_SHARE_FRACTION,
    UNDERUTILIZED_MIN_BUSY_NODE_REQUESTS,
    UNDERUTILIZED_MIN_FLEET_REQUESTS,
)


@health_check
def check_no_nodes(inputs: HealthInputs) -> Findings:
    """At least one node has joined the fleet."""
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


@health_check
def check_offline_nodes(inputs: HealthInputs) -> Findings:
    """No node has stopped sending heartbeats."""
    nodes = sorted_nodes(inputs.nodes)
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
                    f"Node {label(node)} has not sent a heartbeat for "
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


@health_check
def check_degraded_nodes(inputs: HealthInputs) -> Findings:
    """Every node's heartbeats arrive on time."""
    findings = []
    for node in sorted_nodes(inputs.nodes):
        if node.status != "degraded":
            continue
        findings.append(
            HealthCheck(
                check_id="degraded_nodes",
                severity="warning",
                title=f"Node {node.node_id} is missing heartbeats",
                description=(
                    f"Node {label(node)} last sent a heartbeat "
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


@health_check
def check_ollama_unreachable(inputs: HealthInputs) -> Findings:
    """Every node's Ollama answers its agent."""
    findings = []
    for node in sorted_nodes(inputs.nodes):
        if not is_live(node) or node.ollama.reachable:
            continue
        findings.append(
            HealthCheck(
                check_id="ollama_unreachable",
                severity="warning",
                title=f"Ollama is not answering on {node.node_id}",
                description=(
                    f"The agent on {label(node)} is sending heartbeats, but cannot reach Ollama "
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


@health_check
def check_memory_pressure(inputs: HealthInputs) -> Findings:
    """No node is short of memory."""
    findings = []
    for node in sorted_nodes(inputs.nodes):
        pressure = node.memory.pressure
        if not is_live(node) or pressure == "normal":
            continue
        severity: Severity = "critical" if pressure == "critical" else "warning"
        mem = node.memory
        swap = (
            f", swap {gb(mem.swap_used_gb)} of {gb(mem.swap_total_gb)} in use"
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
                    f"Node {label(node)} reports {pressure} memory pressure: "
                    f"{gb(mem.used_gb)} of {gb(mem.total_gb)} used, "
                    f"{gb(mem.available_gb)} available{swap}. Loaded models: {loaded}. "
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


@health_check
def check_underutilized_nodes(inputs: HealthInputs) -> Findings:
    """Traffic is spread over the nodes that could take it."""
    counts = {node_id: max(0, n) for node_id, n in inputs.per_node_requests.items()}
    total = sum(counts.values())
    if total < UNDERUTILIZED_MIN_FLEET_REQUESTS:
        return []
    eligible = [
        n
        for n in sorted_nodes(inputs.nodes)
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
                    f"Node {label(node)} is online with normal memory pressure and "
                    f"{gb(node.memory.available_gb)} available, yet served {served} of {total} "
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
