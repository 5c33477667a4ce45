"""Read-only views of the fleet: ``/fleet/status`` and the model lists merged over nodes.

Pure functions over registry records and queue statistics; the HTTP layer passes them in. Ollama's
own fields (digest, details, expires_at, size_vram, context_length) are kept untouched; herd adds
which nodes hold each model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from herd_contract.heartbeat import NodeStatus
from herd_contract.model_names import normalize
from herd_contract.versions import version_key
from router import __version__
from router.fleet_status import (
    DiskView,
    FleetStatus,
    FleetSummary,
    HardwareView,
    MemoryView,
    NodeView,
    OllamaView,
    QueueStats,
)
from router.registry import NodeRecord, reachable_ollama_url


def node_view(
    record: NodeRecord, status: NodeStatus, now: float, requests_active: int = 0
) -> NodeView:
    hb = record.heartbeat
    return NodeView(
        node_id=record.node_id,
        status=status,
        draining=record.draining,
        agent_version=hb.agent_version,
        last_seen=record.last_seen,
        seconds_since_heartbeat=round(max(0.0, now - record.last_seen), 3),
        ollama_url=record.ollama_url,
        hardware=HardwareView.of(hb.hardware),
        cpu=hb.cpu,
        memory=MemoryView.of(hb.memory),
        disk=DiskView.of(hb.disk) if hb.disk is not None else None,
        ollama=OllamaView.of(hb.ollama),
        capabilities=hb.capabilities,
        backends=[
            b.model_copy(update={"url": reachable_ollama_url(b.url, record.source_ip)})
            for b in hb.backends
        ],
        requests_active=requests_active,
        identity=record.identity,
    )


def fleet_status(
    nodes: Iterable[tuple[NodeRecord, NodeStatus]],
    queues: Mapping[str, QueueStats],
    now: float,
    router_info: dict[str, Any] | None = None,
    waiting: Mapping[str, int] | None = None,
) -> FleetStatus:
    """``/fleet/status``; ``waiting`` counts, per model, requests waiting in the router's line."""
    views: list[NodeView] = []
    in_flight_by_node: dict[str, int] = {}
    for key, stats in queues.items():
        node_id = key.split(":", 1)[0]
        in_flight_by_node[node_id] = in_flight_by_node.get(node_id, 0) + stats.in_flight
    for record, status in nodes:
        views.append(node_view(record, status, now, in_flight_by_node.get(record.node_id, 0)))
    live = [v for v in views if v.status != "offline"]
    loaded = {normalize(m.name) for v in live for m in v.ollama.models_loaded}
    available = {normalize(m.name) for v in live for m in v.ollama.models_available}
    summary = FleetSummary(
        nodes_total=len(views),
        nodes_online=sum(v.status == "online" for v in views),
        nodes_degraded=sum(v.status == "degraded" for v in views),
        nodes_offline=sum(v.status == "offline" for v in views),
        models_loaded=len(loaded),
        models_available=len(available),
        requests_active=sum(q.in_flight for q in queues.values()),
        requests_queued=sum(q.pending for q in queues.values()) + sum((waiting or {}).values()),
    )
    return FleetStatus(
        fleet=summary,
        nodes=views,
        queues=dict(queues),
        waiting=dict(waiting or {}),
        router={"version": __version__, **(router_info or {})},
    )


def merged_tags(records: Iterable[NodeRecord]) -> dict[str, Any]:
    """``/api/tags`` over the given nodes: one entry per model, listing the nodes that hold it,
    with its ``kind`` (``ollama``, or the backend kind: ``openai``, ``image``, ``stt``)."""
    records = list(records)
    merged: dict[str, dict[str, Any]] = {}
    for record in records:
        for model in record.heartbeat.ollama.models_available:
            key = normalize(model.name)
            entry = merged.get(key)
            if entry is None:
                entry = model.model_dump(exclude={"context_length"}, exclude_none=True)
                entry["name"] = model.name
                entry["model"] = model.model or model.name
                entry["kind"] = "ollama"
                entry["nodes"] = []
                merged[key] = entry
            entry["nodes"].append(record.node_id)
    for found in backend_models(records):
        key = normalize(found["name"])
        if key not in merged:
            merged[key] = {
                "name": found["name"],
                "model": found["name"],
                "size": 0,
                "digest": "",
                "details": {
                    "format": "",
                    "family": "",
                    "parameter_size": "",
                    "quantization_level": "",
                },
                "kind": found["kind"],
                "nodes": found["nodes"],
            }
    return {"models": [merged[k] for k in sorted(merged)]}


def backend_models(records: Iterable[NodeRecord]) -> list[dict[str, Any]]:
    """Every model the nodes' non-Ollama backends serve: ``{name, kind, adapters, nodes}``."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        for backend in record.heartbeat.backends:
            if not backend.reachable:
                continue
            for name in backend.models:
                entry = found.setdefault(
                    (backend.kind, name),
                    {"name": name, "kind": backend.kind, "adapters": [], "nodes": []},
                )
                if backend.adapter not in entry["adapters"]:
                    entry["adapters"].append(backend.adapter)
                if record.node_id not in entry["nodes"]:
                    entry["nodes"].append(record.node_id)
    return [found[key] for key in sorted(found)]


def heartbeat_ps(record: NodeRecord) -> list[dict[str, Any]]:
    """A node's loaded models as its last heartbeat reported them, in ``/api/ps`` form."""
    return [
        {
            **m.model_dump(exclude_none=True),
            "model": m.model or m.name,
        }
        for m in record.heartbeat.ollama.models_loaded
    ]


def merged_ps(per_node: Iterable[tuple[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """``/api/ps`` over nodes: one entry per model, as Ollama lists each name once.

    ``per_node`` holds each node's own ``/api/ps`` entries. A model's entry is the one from the node
    where it stays loaded longest, untouched (digest, details, expires_at, size_vram,
    context_length), with ``node_id`` naming that node, ``nodes`` listing every node that holds
    it hot and ``node_details`` giving each one's ``size_vram``, ``context_length`` and
    ``expires_at``.
    """
    merged: dict[str, dict[str, Any]] = {}
    for node_id, entries in per_node:
        for entry in entries:
            key = normalize(str(entry.get("name", "")))
            detail = {
                "node_id": node_id,
                "size_vram": entry.get("size_vram", 0),
                "context_length": entry.get("context_length", 0),
                "expires_at": entry.get("expires_at", ""),
            }
            known = merged.get(key)
            if known is None:
                merged[key] = {
                    **entry,
                    "node_id": node_id,
                    "nodes": [node_id],
                    "node_details": [detail],
                }
                continue
            nodes, details = known["nodes"] + [node_id], known["node_details"] + [detail]
            if str(entry.get("expires_at", "")) > str(known.get("expires_at", "")):
                known = {**entry, "node_id": node_id}
            merged[key] = {**known, "nodes": nodes, "node_details": details}
    return {"models": list(merged.values())}


def openai_models(records: Iterable[NodeRecord], created: int) -> dict[str, Any]:
    """``/v1/models``: every model available on a routable node, with its kind."""
    records = list(records)
    owners: dict[str, tuple[str, list[str]]] = {}
    for record in records:
        for model in record.heartbeat.ollama.models_available:
            owners.setdefault(model.name, ("ollama", []))[1].append(record.node_id)
    for found in backend_models(records):
        owners.setdefault(found["name"], (found["kind"], found["nodes"]))
    return {
        "object": "list",
        "data": [
            {
                "id": name,
                "object": "model",
                "created": created,
                "owned_by": "herd",
                "kind": kind,
                "nodes": nodes,
            }
            for name, (kind, nodes) in sorted(owners.items())
        ],
    }


def fleet_ollama_version(records: Iterable[NodeRecord]) -> str:
    """The lowest Ollama version across nodes: what a client can rely on everywhere."""
    versions = [r.heartbeat.ollama.version for r in records if r.heartbeat.ollama.version]
    if not versions:
        return "0.0.0"
    return min(versions, key=version_key)
