"""Budgets: what a node can hold. Usable memory (RAM minus headroom and the OS share), the disk
reserve and download budget, model sizes, and ``NodeFacts``, the node's snapshot as the planner
reads it (which catalogue models it has installed and loaded, context, parallelism, bandwidth).

Owns those figures and the GB rounding every output uses. It must never choose models or phrase
reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from herd_contract.model_names import normalize
from router.catalogue import Catalogue
from router.fleet_status import AvailableModelView, LoadedModelView, NodeView

from .assumptions import (
    DEFAULT_CONTEXT_TOKENS,
    DISK_RESERVE_FRACTION,
    DISK_RESERVE_MAX_GB,
    DISK_RESERVE_MIN_GB,
    MEMORY_HEADROOM,
    OS_SHARE_FRACTION,
    OS_SHARE_MAX_GB,
    OS_SHARE_MIN_GB,
)


def gb(value: float) -> float:
    return round(value + 0.0, 2)


def usable_memory(total_gb: float) -> float:
    if total_gb <= 0:
        return 0.0
    os_share = min(OS_SHARE_MAX_GB, max(OS_SHARE_MIN_GB, total_gb * OS_SHARE_FRACTION))
    return gb(max(0.0, total_gb * (1 - MEMORY_HEADROOM) - os_share))


def disk_reserve(total_gb: float) -> float:
    return min(DISK_RESERVE_MAX_GB, max(DISK_RESERVE_MIN_GB, total_gb * DISK_RESERVE_FRACTION))


def node_memory(node: NodeView) -> float:
    return node.memory.total_gb or node.hardware.memory_gb


def size_of(model: AvailableModelView | LoadedModelView) -> float:
    return model.size_gb


@dataclass(slots=True)
class NodeFacts:
    node: NodeView
    memory_gb: float
    usable_gb: float
    disk_free_gb: float | None
    disk_budget_gb: float | None
    disk_reserve_gb: float
    context_tokens: int
    parallel: int
    bandwidth: float | None
    installed: dict[str, AvailableModelView | LoadedModelView] = field(default_factory=dict)
    """Catalogue name -> the node's model that holds those weights."""
    loaded: dict[str, LoadedModelView] = field(default_factory=dict)


def node_facts(node: NodeView, catalogue: Catalogue) -> NodeFacts:
    memory_gb = node_memory(node)
    disk_free = node.disk.free_gb if node.disk is not None else None
    reserve = disk_reserve(node.disk.total_gb) if node.disk is not None else 0.0
    budget = gb(max(0.0, disk_free - reserve)) if disk_free is not None else None
    facts = NodeFacts(
        node=node,
        memory_gb=memory_gb,
        usable_gb=usable_memory(memory_gb),
        disk_free_gb=disk_free,
        disk_budget_gb=budget,
        disk_reserve_gb=reserve,
        context_tokens=node.ollama.context_length or DEFAULT_CONTEXT_TOKENS,
        parallel=node.ollama.num_parallel or 1,
        bandwidth=node.hardware.memory_bandwidth_gbps or None,
    )
    for loaded in node.ollama.models_loaded:
        entry = catalogue.get(loaded.name)
        if entry is not None and entry.name not in facts.loaded:
            facts.loaded[entry.name] = loaded
    for available in node.ollama.models_available:
        entry = catalogue.get(available.name)
        if entry is None:
            continue
        current = facts.installed.get(entry.name)
        hot = facts.loaded.get(entry.name)
        if current is None or (hot is not None and same_name(available.name, hot.name)):
            facts.installed[entry.name] = available
    for name, loaded in facts.loaded.items():
        facts.installed.setdefault(name, loaded)
    return facts


def same_name(a: str, b: str) -> bool:
    return normalize(a) == normalize(b)
