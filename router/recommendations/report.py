"""The report: ``recommend`` runs demand, budgets, selection, reasons and removal for every node
and assembles the ``RecommendationsReport`` with its notes and ``generated_from`` summary.

Owns the fleet-level role split (the largest live node) and the per-node notes. It must never do
I/O, read a clock, or pull or delete anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from router.catalogue import DEFAULT, Catalogue
from router.fleet_status import NodeView

from .assumptions import (
    DEFAULT_CONTEXT_TOKENS,
    EPS,
    MEMORY_HEADROOM,
    MIN_DECODE_TPS,
    ROLE_SPLIT_CAP,
    ROLE_SPLIT_RATIO,
)
from .budget import NodeFacts, gb, node_facts
from .demand import ROLE_ORDER, Demand, Role, demand_of
from .model import ModelRecommendation, NodeRecommendation, RecommendationsReport, UsageSummary
from .reasons import explain
from .removal import removable_models
from .selection import Candidate, plan_mix


def recommend_node(
    facts: NodeFacts,
    demand: Demand,
    usage: UsageSummary,
    catalogue: Catalogue,
    fleet_best: tuple[str, float] | None,
) -> NodeRecommendation:
    node = facts.node
    notes: list[str] = []
    if node.status == "offline":
        notes.append("Node is offline: figures come from its last heartbeat.")
    size_cap, big_node = _role_split(facts, fleet_best, notes)
    if facts.memory_gb <= 0:
        notes.append("Memory size unknown: no mix can be planned.")
    if facts.disk_free_gb is None:
        notes.append("Free disk unknown: downloads were not checked against it.")

    picks = plan_mix(facts, demand, catalogue, size_cap)
    by_model: dict[str, tuple[Candidate, list[Role]]] = {}
    for role in demand.roles:
        c = picks.get(role.name)
        if c is not None:
            by_model.setdefault(c.entry.name, (c, []))[1].append(role)
    mix_gb = gb(sum(c.memory_gb for c, _ in by_model.values()))
    recommended = [
        _model_recommendation(c, roles, facts, demand, usage, mix_gb, size_cap, big_node)
        for c, roles in by_model.values()
    ]
    recommended.sort(key=lambda r: (-r.memory_gb, r.model))

    missing = {r.name for r in demand.roles} - set(picks)
    if missing and facts.usable_gb > 0:
        names = ", ".join(sorted(missing, key=ROLE_ORDER.index))
        notes.append(f"No catalogue model fits the remaining budget for: {names}.")
    max_loaded = node.ollama.max_loaded_models
    if max_loaded is not None and len(recommended) >= max_loaded and missing:
        notes.append(f"OLLAMA_MAX_LOADED_MODELS={max_loaded} limits the mix to {max_loaded}.")

    removable, used_elsewhere = removable_models(facts, demand, usage, catalogue, recommended)
    removable_gb = gb(sum(r.size_gb for r in removable))
    disk = _disk_note(facts, demand, catalogue, size_cap, picks, removable_gb)
    if disk is not None:
        notes.append(disk)
    to_load = sum(r.memory_gb for r in recommended if not r.loaded)
    if recommended and node.memory.available_gb + EPS < to_load:
        notes.append(
            f"{node.memory.available_gb:.1f} GB of memory is free right now and loading the rest "
            f"of the mix needs {to_load:.1f} GB: Ollama will evict idle models, or other "
            "applications hold memory."
        )
    notes.extend(used_elsewhere)
    if demand.default_mix:
        notes.append("No usage recorded yet: default mix shown and nothing is marked removable.")

    return NodeRecommendation(
        node_id=node.node_id,
        memory_gb=gb(facts.memory_gb),
        usable_gb=facts.usable_gb,
        disk_free_gb=gb(facts.disk_free_gb) if facts.disk_free_gb is not None else None,
        recommended=recommended,
        total_recommended_gb=mix_gb,
        removable=removable,
        notes=notes,
        disk_budget_gb=facts.disk_budget_gb,
        download_gb=gb(sum(r.download_gb for r in recommended)),
        removable_gb=removable_gb,
        model_size_cap_gb=size_cap,
    )


def _role_split(
    facts: NodeFacts, fleet_best: tuple[str, float] | None, notes: list[str]
) -> tuple[float | None, str | None]:
    """The size cap on this node's models when a much bigger node takes the biggest ones."""
    if (
        fleet_best is None
        or fleet_best[0] == facts.node.node_id
        or facts.usable_gb <= 0
        or fleet_best[1] < ROLE_SPLIT_RATIO * facts.usable_gb
    ):
        return None, None
    size_cap, big_node = gb(facts.usable_gb * ROLE_SPLIT_CAP), fleet_best[0]
    notes.append(
        f"{big_node} has {fleet_best[1]:.1f} GB usable against {facts.usable_gb:.1f} GB here: "
        f"the biggest models go there, and each model here is capped at {size_cap:.1f} GB."
    )
    return size_cap, big_node


def _model_recommendation(
    c: Candidate,
    roles: list[Role],
    facts: NodeFacts,
    demand: Demand,
    usage: UsageSummary,
    mix_gb: float,
    size_cap: float | None,
    big_node: str | None,
) -> ModelRecommendation:
    name = c.installed_name or c.entry.name
    return ModelRecommendation(
        model=name,
        category=c.entry.category,
        size_gb=c.size_gb,
        quality=c.entry.quality,
        reason=explain(c, roles, facts, demand, usage, mix_gb, size_cap, big_node),
        already_installed=c.installed_name is not None,
        loaded=c.loaded,
        action="keep" if c.installed_name is not None else f"ollama pull {name}",
        roles=sorted((r.name for r in roles), key=ROLE_ORDER.index),
        memory_gb=c.memory_gb,
        kv_cache_gb=c.kv_gb,
        download_gb=c.download_gb,
        requests=c.requests,
        est_tokens_per_s=round(c.tps, 1) if c.tps is not None else None,
    )


def _disk_note(
    facts: NodeFacts,
    demand: Demand,
    catalogue: Catalogue,
    size_cap: float | None,
    picks: dict[str, Candidate],
    removable_gb: float,
) -> str | None:
    """What the disk keeps out of the mix, and what deleting the removable models frees."""
    if facts.disk_budget_gb is None:
        return None
    unconstrained = plan_mix(facts, demand, catalogue, size_cap, check_disk=False)
    wanted = {c.entry.name: c for c in unconstrained.values() if c.download_gb > 0}
    blocked = sorted(set(wanted) - {c.entry.name for c in picks.values()})
    if not blocked:
        return None
    need = gb(sum(wanted[n].download_gb for n in blocked))
    note = (
        f"Disk limits the mix: {facts.disk_free_gb:.1f} GB free leaves "
        f"{facts.disk_budget_gb:.1f} GB for downloads after a {facts.disk_reserve_gb:.1f} "
        f"GB reserve; with more space the mix would pull {', '.join(blocked)} "
        f"({need:.1f} GB)."
    )
    if removable_gb:
        note += f" Deleting the removable models frees {removable_gb:.1f} GB."
    return note


def recommend(
    nodes: Sequence[NodeView],
    usage: UsageSummary | None = None,
    catalogue: Catalogue = DEFAULT,
) -> RecommendationsReport:
    """For every node, the mix of models to keep, why, and what could be deleted."""
    usage = usage if usage is not None else UsageSummary()
    demand = demand_of(usage, catalogue)
    facts = [node_facts(node, catalogue) for node in nodes]
    live = [f for f in facts if f.node.status != "offline"] or facts
    fleet_best: tuple[str, float] | None = None
    if live:
        top = max(live, key=lambda f: (f.usable_gb, f.node.node_id))
        fleet_best = (top.node.node_id, top.usable_gb)
    results = [recommend_node(f, demand, usage, catalogue, fleet_best) for f in facts]

    total = sum(demand.raw_counts.values())
    top_models = sorted(demand.model_requests.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    generated_from: dict[str, Any] = {
        "window_days": usage.window_days,
        "total_requests": total,
        "default_mix": demand.default_mix,
        "requests_by_category": {c: n for c, n in demand.raw_counts.items() if n},
        "category_share_pct": {
            c: round(100 * n / total, 1) for c, n in demand.raw_counts.items() if n and total
        },
        "planning_role_shares": {r.name: round(r.share, 3) for r in demand.roles},
        "top_models": [{"model": m, "requests": n} for m, n in top_models],
        "uncatalogued_models": demand.uncatalogued,
        "catalogue_models": len(catalogue),
        "largest_node": fleet_best[0] if fleet_best else None,
        "assumptions": {
            "memory_headroom_pct": round(100 * MEMORY_HEADROOM),
            "default_context_tokens": DEFAULT_CONTEXT_TOKENS,
            "role_split_ratio": ROLE_SPLIT_RATIO,
            "min_decode_tokens_per_s": MIN_DECODE_TPS,
        },
    }
    return RecommendationsReport(nodes=results, generated_from=generated_from)
