"""Selection: the search for a node's mix. Builds a ``Candidate`` per catalogue model (memory with
KV cache, download, decode speed, usage bonus), keeps the eligible and Pareto-best per role, and
runs the exact branch-and-bound ``choose`` under the memory, disk and loaded-model limits.

Owns which models are picked. It must never phrase reasons, read a clock, or do I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from router.catalogue import Catalogue, CatalogueEntry

from .assumptions import (
    EMBEDDING_OVERHEAD_GB,
    EPS,
    FAST_MAX_PARAMS_B,
    FAST_MIN_DECODE_TPS,
    INSTALLED_BONUS,
    LLM_OVERHEAD_GB,
    LOADED_BONUS,
    MIN_DECODE_TPS,
    SECONDARY_PENALTY,
    TIE_PER_GB,
    USAGE_BONUS,
)
from .budget import NodeFacts, gb, size_of
from .demand import Demand, Role


@dataclass(slots=True)
class Candidate:
    entry: CatalogueEntry
    installed_name: str | None
    loaded: bool
    size_gb: float
    kv_gb: float
    memory_gb: float
    measured: bool
    download_gb: float
    tps: float | None
    requests: int
    bonus: float

    def value(self, role: Role) -> float:
        quality = self.entry.quality + self.bonus
        if self.entry.category != role.category:
            quality -= SECONDARY_PENALTY
        return role.share * quality


def eligible(entry: CatalogueEntry, role: Role) -> bool:
    if role.name == "fast":
        return entry.category == "chat" and entry.params_b <= FAST_MAX_PARAMS_B
    if role.name in ("chat", "code", "embedding"):
        return entry.category == role.category
    return entry.serves(role.category)


def min_tps(role: Role) -> float:
    if role.name == "embedding":
        return 0.0
    return FAST_MIN_DECODE_TPS if role.name == "fast" else MIN_DECODE_TPS


def candidate_for(
    entry: CatalogueEntry, facts: NodeFacts, demand: Demand, catalogue: Catalogue
) -> Candidate:
    held = facts.installed.get(entry.name)
    loaded = facts.loaded.get(entry.name)
    size = size_of(held) if held is not None and size_of(held) > 0 else entry.size_gb
    context = min(facts.context_tokens, entry.context_length)
    kv = entry.kv_gb_per_8k * context / 8192 * facts.parallel
    overhead = EMBEDDING_OVERHEAD_GB if entry.category == "embedding" else LLM_OVERHEAD_GB
    memory = size + kv + overhead
    measured = False
    if loaded is not None and size_of(loaded) > 0:
        memory, measured = size_of(loaded), True
    tps = None
    if facts.bandwidth and size > 0:
        tps = facts.bandwidth / (size * entry.active_b / entry.params_b)
    requests = demand.model_requests.get(entry.name, 0)
    in_category = demand.category_requests.get(entry.category, 0)
    bonus = USAGE_BONUS * requests / in_category if in_category else 0.0
    if held is not None:
        bonus += INSTALLED_BONUS
    if loaded is not None:
        bonus += LOADED_BONUS
    return Candidate(
        entry=entry,
        installed_name=held.name if held is not None else None,
        loaded=loaded is not None,
        size_gb=gb(size),
        kv_gb=gb(kv),
        memory_gb=gb(memory),
        measured=measured,
        download_gb=0.0 if held is not None else gb(entry.size_gb),
        tps=tps,
        requests=requests,
        bonus=bonus,
    )


def pareto(candidates: list[Candidate], role: Role, shareable: set[str]) -> list[Candidate]:
    """Drop candidates another beats on value without needing more memory or more download.

    A candidate that could also fill another role (``shareable``) is always kept: sharing it
    costs nothing there, so it may win despite losing here.
    """
    kept: list[Candidate] = []
    for c in candidates:
        dominated = c.entry.name not in shareable and any(
            o is not c
            and o.memory_gb <= c.memory_gb
            and o.download_gb <= c.download_gb
            and o.value(role) >= c.value(role)
            and (
                o.memory_gb < c.memory_gb
                or o.download_gb < c.download_gb
                or o.value(role) > c.value(role)
                or o.entry.name < c.entry.name
            )
            for o in candidates
        )
        if not dominated:
            kept.append(c)
    kept.sort(key=lambda c: -c.value(role))
    return kept


def choose(
    roles: list[Role],
    options: dict[str, list[Candidate]],
    memory_budget: float,
    disk_budget: float | None,
    max_models: int | None,
) -> dict[str, Candidate]:
    """Exact branch and bound: one candidate (or none) per role, best total value."""
    best_score = float("-inf")
    best: dict[str, Candidate] = {}
    upper = [max((c.value(r) for c in options[r.name]), default=0.0) for r in roles]
    rest = [sum(upper[i:]) for i in range(len(roles) + 1)]
    picks: dict[str, Candidate] = {}
    chosen: dict[str, int] = {}  # catalogue name -> how many roles use it

    def visit(i: int, memory: float, disk: float, value: float) -> None:
        nonlocal best_score, best
        score = value - TIE_PER_GB * memory
        if i == len(roles):
            if score > best_score + EPS:
                best_score, best = score, dict(picks)
            return
        if value + rest[i] - TIE_PER_GB * memory <= best_score + EPS:
            return
        role = roles[i]
        for c in options[role.name]:
            name = c.entry.name
            shared = name in chosen
            add_memory = 0.0 if shared else c.memory_gb
            add_disk = 0.0 if shared else c.download_gb
            if memory + add_memory > memory_budget + EPS:
                continue
            if disk_budget is not None and disk + add_disk > disk_budget + EPS:
                continue
            if not shared and max_models is not None and len(chosen) >= max_models:
                continue
            picks[role.name] = c
            chosen[name] = chosen.get(name, 0) + 1
            visit(i + 1, memory + add_memory, disk + add_disk, value + c.value(role))
            chosen[name] -= 1
            if not chosen[name]:
                del chosen[name]
            del picks[role.name]
        visit(i + 1, memory, disk, value)

    visit(0, 0.0, 0.0, 0.0)
    return best


def plan_mix(
    facts: NodeFacts,
    demand: Demand,
    catalogue: Catalogue,
    size_cap: float | None,
    *,
    check_disk: bool = True,
) -> dict[str, Candidate]:
    cap = facts.usable_gb if size_cap is None else min(size_cap, facts.usable_gb)
    candidates = [candidate_for(e, facts, demand, catalogue) for e in catalogue]
    eligible_roles = {
        c.entry.name: sum(eligible(c.entry, r) for r in demand.roles) for c in candidates
    }
    shareable = {name for name, n in eligible_roles.items() if n > 1}
    options: dict[str, list[Candidate]] = {}
    for role in demand.roles:
        fits = [
            c
            for c in candidates
            if eligible(c.entry, role)
            and c.memory_gb <= cap + EPS
            and (c.tps is None or c.tps >= min_tps(role))
            and (
                not check_disk
                or facts.disk_budget_gb is None
                or c.download_gb <= facts.disk_budget_gb + EPS
            )
        ]
        options[role.name] = pareto(fits, role, shareable)
    disk_budget = facts.disk_budget_gb if check_disk else None
    return choose(
        demand.roles, options, facts.usable_gb, disk_budget, facts.node.ollama.max_loaded_models
    )
