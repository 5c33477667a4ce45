"""Model recommendations: which mix of models each node should keep, and why.

Owns ``recommend(nodes, usage, catalogue)``, the pure function behind
``GET /dashboard/api/recommendations``, the ``UsageSummary`` it reads and the response models it
returns. It never does I/O, never reads a clock and never pulls or deletes anything: the edge passes
in node snapshots and a usage summary and shows the answer; the operator acts on it.

How a mix is chosen, per node:

1. **Budgets.** Usable memory is the node's RAM minus a 20% headroom and the operating system's
   share (1/16 of RAM, 2 to 8 GB). A model's memory is its weights plus the KV cache for the node's
   context (``OLLAMA_CONTEXT_LENGTH``, else Ollama's default of 4,096 tokens) times
   ``OLLAMA_NUM_PARALLEL``, plus a small runtime overhead; a loaded model counts at its measured
   size. Models not yet on disk must also fit the free disk minus a reserve.
2. **Roles.** Demand per category comes from the fleet's real usage, blended with a default prior
   (chat 55%, code 25%, embeddings 20%) that dominates only while little traffic is recorded, so an
   empty usage gives the default mix: a general chat model as large as fits, a coder, an embedding
   model and a small fast model (a quarter of chat demand). Roles under 3% of demand are dropped.
3. **Role split.** When the fleet holds a node with at least twice this node's usable memory, each
   model here is capped at half of this node's usable memory: the biggest models go to the big
   machine, small nodes get small fast models and embeddings.
4. **Choice.** For every role one catalogue model (or none) is chosen to maximise the sum of
   ``role share x quality``, subject to the memory, disk and ``OLLAMA_MAX_LOADED_MODELS`` limits
   (an exact branch-and-bound search; one model may fill several roles, e.g. a thinking chat
   model also covers reasoning). Models the fleet actually requests, already installed or loaded
   get a small bonus, so real usage and what is already there win near-ties. When the memory
   bandwidth is known, models that would decode too slowly are left out.

Models on a node that are neither in its mix, nor loaded, nor requested during the usage window are
listed as removable, with the disk they would free (only once some usage has been recorded).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from router.catalogue import (
    CATEGORIES,
    DEFAULT,
    Catalogue,
    CatalogueEntry,
    Category,
    guess_category,
)
from router.model_names import normalize
from router.wire import AvailableModel, LoadedModel, NodeView

# --- planning assumptions (documented in the module docstring) ----------------------------------

MEMORY_HEADROOM = 0.20
OS_SHARE_FRACTION = 1 / 16
OS_SHARE_MIN_GB = 2.0
OS_SHARE_MAX_GB = 8.0
DISK_RESERVE_FRACTION = 0.02
DISK_RESERVE_MIN_GB = 2.0
DISK_RESERVE_MAX_GB = 10.0
DEFAULT_CONTEXT_TOKENS = 4096
LLM_OVERHEAD_GB = 0.5
EMBEDDING_OVERHEAD_GB = 0.1
MIN_DECODE_TPS = 5.0
FAST_MIN_DECODE_TPS = 20.0
FAST_MAX_PARAMS_B = 4.0
ROLE_SPLIT_RATIO = 2.0
ROLE_SPLIT_CAP = 0.5
MIN_ROLE_SHARE = 0.03
FAST_SHARE_OF_CHAT = 0.25
PRIOR_REQUESTS = 50
DEFAULT_CATEGORY_SHARES: Mapping[str, float] = {
    "chat": 0.55,
    "code": 0.25,
    "embedding": 0.20,
    "reasoning": 0.0,
    "vision": 0.0,
}
USAGE_BONUS = 10.0
INSTALLED_BONUS = 1.5
LOADED_BONUS = 0.5
SECONDARY_PENALTY = 5.0
_TIE_PER_GB = 1e-3
_EPS = 1e-9

_CATEGORY_ALIASES = {
    "embed": "embedding",
    "embeddings": "embedding",
    "generate": "chat",
    "completion": "chat",
    "coding": "code",
    "image_input": "vision",
    "thinking": "reasoning",
}

_ROLE_ORDER = ("chat", "code", "reasoning", "vision", "fast", "embedding")
_ROLE_LABEL = {
    "chat": "general chat",
    "code": "coder",
    "reasoning": "reasoning",
    "vision": "vision (image input)",
    "fast": "small fast model for quick replies",
    "embedding": "embeddings for search and RAG",
}


# --- input ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """The fleet's traffic over the last ``window_days`` days, as the edge counted it.

    ``requests_by_model`` keys are model names as requested (normalised here);
    ``requests_by_category`` keys are catalogue categories (``chat``, ``code``, ``reasoning``,
    ``vision``, ``embedding``; ``embed``/``embeddings`` are accepted for embedding). When the
    category counts are empty they are derived from the model counts.
    """

    window_days: float = 7.0
    requests_by_model: Mapping[str, int] = field(default_factory=dict)
    requests_by_category: Mapping[str, int] = field(default_factory=dict)

    @property
    def total_requests(self) -> int:
        by_category = sum(max(0, n) for n in self.requests_by_category.values())
        return by_category or sum(max(0, n) for n in self.requests_by_model.values())

    @property
    def is_empty(self) -> bool:
        return self.total_requests == 0


# --- output --------------------------------------------------------------------------------------


class ModelRecommendation(BaseModel):
    model: str = Field(description="Name to use on the node (the installed name when present).")
    category: str
    size_gb: float = Field(description="Weights on disk and in memory, GB.")
    quality: int = Field(description="Catalogue quality figure, 0-100 (a rough ranking aid).")
    reason: str
    already_installed: bool
    loaded: bool
    action: str = Field(description='"keep" or "ollama pull <model>" on this node.')
    roles: list[str] = Field(default_factory=list)
    memory_gb: float = Field(default=0.0, description="Memory when loaded, KV cache included.")
    kv_cache_gb: float = 0.0
    download_gb: float = 0.0
    requests: int = Field(default=0, description="Requests for this model in the usage window.")
    est_tokens_per_s: float | None = None


class RemovableModel(BaseModel):
    model: str
    size_gb: float = Field(description="Disk freed by deleting it, GB.")
    reason: str


class NodeRecommendation(BaseModel):
    node_id: str
    memory_gb: float
    usable_gb: float
    disk_free_gb: float | None
    recommended: list[ModelRecommendation] = Field(default_factory=list)
    total_recommended_gb: float = Field(
        default=0.0, description="Memory the whole mix needs loaded at once."
    )
    removable: list[RemovableModel] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    disk_budget_gb: float | None = Field(
        default=None, description="Free disk minus the reserve: what downloads may use."
    )
    download_gb: float = 0.0
    removable_gb: float = 0.0
    model_size_cap_gb: float | None = Field(
        default=None, description="Per-model memory cap from the fleet role split, if any."
    )


class RecommendationsReport(BaseModel):
    nodes: list[NodeRecommendation]
    generated_from: dict[str, Any] = Field(default_factory=dict)


# --- internals -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Role:
    name: str
    category: Category
    share: float


@dataclass(slots=True)
class _Candidate:
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

    def value(self, role: _Role) -> float:
        quality = self.entry.quality + self.bonus
        if self.entry.category != role.category:
            quality -= SECONDARY_PENALTY
        return role.share * quality


@dataclass(slots=True)
class _Demand:
    default_mix: bool
    raw_counts: dict[str, int]
    shares: dict[str, float]
    roles: list[_Role]
    model_requests: dict[str, int]
    category_requests: dict[str, int]
    uncatalogued: list[str]


def _gb(value: float) -> float:
    return round(value + 0.0, 2)


def _model_key(name: str, catalogue: Catalogue) -> str:
    entry = catalogue.get(name)
    return entry.name if entry is not None else normalize(name)


def _demand(usage: UsageSummary, catalogue: Catalogue) -> _Demand:
    model_requests: dict[str, int] = {}
    uncatalogued: set[str] = set()
    derived: dict[str, int] = dict.fromkeys(CATEGORIES, 0)
    for name, count in usage.requests_by_model.items():
        if count <= 0 or not name.strip():
            continue
        key = _model_key(name, catalogue)
        model_requests[key] = model_requests.get(key, 0) + count
        if catalogue.get(name) is None:
            uncatalogued.add(normalize(name))
        derived[guess_category(name, catalogue)] += count

    given: dict[str, int] = dict.fromkeys(CATEGORIES, 0)
    for name, count in usage.requests_by_category.items():
        category = _CATEGORY_ALIASES.get(name.strip().lower(), name.strip().lower())
        if category in given and count > 0:
            given[category] += count
    raw = given if sum(given.values()) > 0 else derived
    total = sum(raw.values())

    shares = {
        c: (raw[c] + PRIOR_REQUESTS * DEFAULT_CATEGORY_SHARES.get(c, 0.0))
        / (total + PRIOR_REQUESTS)
        for c in CATEGORIES
    }
    role_shares: dict[str, tuple[Category, float]] = {
        "chat": ("chat", shares["chat"] * (1 - FAST_SHARE_OF_CHAT)),
        "fast": ("chat", shares["chat"] * FAST_SHARE_OF_CHAT),
        "code": ("code", shares["code"]),
        "reasoning": ("reasoning", shares["reasoning"]),
        "vision": ("vision", shares["vision"]),
        "embedding": ("embedding", shares["embedding"]),
    }
    roles = [
        _Role(name, category, share)
        for name, (category, share) in role_shares.items()
        if share >= MIN_ROLE_SHARE
    ]
    roles.sort(key=lambda r: -r.share)
    category_requests: dict[str, int] = {}
    for key, count in model_requests.items():
        category = guess_category(key, catalogue)
        category_requests[category] = category_requests.get(category, 0) + count
    return _Demand(
        default_mix=total == 0,
        raw_counts=raw,
        shares=shares,
        roles=roles,
        model_requests=model_requests,
        category_requests=category_requests,
        uncatalogued=sorted(uncatalogued),
    )


def _usable_memory(total_gb: float) -> float:
    if total_gb <= 0:
        return 0.0
    os_share = min(OS_SHARE_MAX_GB, max(OS_SHARE_MIN_GB, total_gb * OS_SHARE_FRACTION))
    return _gb(max(0.0, total_gb * (1 - MEMORY_HEADROOM) - os_share))


def _disk_reserve(total_gb: float) -> float:
    return min(DISK_RESERVE_MAX_GB, max(DISK_RESERVE_MIN_GB, total_gb * DISK_RESERVE_FRACTION))


def _node_memory(node: NodeView) -> float:
    return node.memory.total_gb or node.hardware.memory_gb


def _size_of(model: AvailableModel | LoadedModel) -> float:
    return model.size_gb or model.size / 1e9


def _eligible(entry: CatalogueEntry, role: _Role) -> bool:
    if role.name == "fast":
        return entry.category == "chat" and entry.params_b <= FAST_MAX_PARAMS_B
    if role.name in ("chat", "code", "embedding"):
        return entry.category == role.category
    return entry.serves(role.category)


def _min_tps(role: _Role) -> float:
    if role.name == "embedding":
        return 0.0
    return FAST_MIN_DECODE_TPS if role.name == "fast" else MIN_DECODE_TPS


@dataclass(slots=True)
class _NodeFacts:
    node: NodeView
    memory_gb: float
    usable_gb: float
    disk_free_gb: float | None
    disk_budget_gb: float | None
    disk_reserve_gb: float
    context_tokens: int
    parallel: int
    bandwidth: float | None
    installed: dict[str, AvailableModel | LoadedModel] = field(default_factory=dict)
    """Catalogue name -> the node's model that holds those weights."""
    loaded: dict[str, LoadedModel] = field(default_factory=dict)


def _node_facts(node: NodeView, catalogue: Catalogue) -> _NodeFacts:
    memory_gb = _node_memory(node)
    disk_free = node.disk.free_gb if node.disk is not None else None
    reserve = _disk_reserve(node.disk.total_gb) if node.disk is not None else 0.0
    budget = _gb(max(0.0, disk_free - reserve)) if disk_free is not None else None
    facts = _NodeFacts(
        node=node,
        memory_gb=memory_gb,
        usable_gb=_usable_memory(memory_gb),
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
        loaded = facts.loaded.get(entry.name)
        if current is None or (loaded is not None and _same_name(available.name, loaded.name)):
            facts.installed[entry.name] = available
    for name, loaded in facts.loaded.items():
        facts.installed.setdefault(name, loaded)
    return facts


def _same_name(a: str, b: str) -> bool:
    return normalize(a) == normalize(b)


def _candidate(
    entry: CatalogueEntry, facts: _NodeFacts, demand: _Demand, catalogue: Catalogue
) -> _Candidate:
    held = facts.installed.get(entry.name)
    loaded = facts.loaded.get(entry.name)
    size = _size_of(held) if held is not None and _size_of(held) > 0 else entry.size_gb
    context = min(facts.context_tokens, entry.context_length)
    kv = entry.kv_gb_per_8k * context / 8192 * facts.parallel
    overhead = EMBEDDING_OVERHEAD_GB if entry.category == "embedding" else LLM_OVERHEAD_GB
    memory = size + kv + overhead
    measured = False
    if loaded is not None and _size_of(loaded) > 0:
        memory, measured = _size_of(loaded), True
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
    return _Candidate(
        entry=entry,
        installed_name=held.name if held is not None else None,
        loaded=loaded is not None,
        size_gb=_gb(size),
        kv_gb=_gb(kv),
        memory_gb=_gb(memory),
        measured=measured,
        download_gb=0.0 if held is not None else _gb(entry.size_gb),
        tps=tps,
        requests=requests,
        bonus=bonus,
    )


def _pareto(candidates: list[_Candidate], role: _Role, shareable: set[str]) -> list[_Candidate]:
    """Drop candidates another beats on value without needing more memory or more download.

    A candidate that could also fill another role (``shareable``) is always kept: sharing it
    costs nothing there, so it may win despite losing here.
    """
    kept: list[_Candidate] = []
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


def _choose(
    roles: list[_Role],
    options: dict[str, list[_Candidate]],
    memory_budget: float,
    disk_budget: float | None,
    max_models: int | None,
) -> dict[str, _Candidate]:
    """Exact branch and bound: one candidate (or none) per role, best total value."""
    best_score = float("-inf")
    best: dict[str, _Candidate] = {}
    upper = [max((c.value(r) for c in options[r.name]), default=0.0) for r in roles]
    rest = [sum(upper[i:]) for i in range(len(roles) + 1)]
    picks: dict[str, _Candidate] = {}
    chosen: dict[str, int] = {}  # catalogue name -> how many roles use it

    def visit(i: int, memory: float, disk: float, value: float) -> None:
        nonlocal best_score, best
        score = value - _TIE_PER_GB * memory
        if i == len(roles):
            if score > best_score + _EPS:
                best_score, best = score, dict(picks)
            return
        if value + rest[i] - _TIE_PER_GB * memory <= best_score + _EPS:
            return
        role = roles[i]
        for c in options[role.name]:
            name = c.entry.name
            shared = name in chosen
            add_memory = 0.0 if shared else c.memory_gb
            add_disk = 0.0 if shared else c.download_gb
            if memory + add_memory > memory_budget + _EPS:
                continue
            if disk_budget is not None and disk + add_disk > disk_budget + _EPS:
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


def _plan(
    facts: _NodeFacts,
    demand: _Demand,
    catalogue: Catalogue,
    size_cap: float | None,
    *,
    check_disk: bool = True,
) -> dict[str, _Candidate]:
    cap = facts.usable_gb if size_cap is None else min(size_cap, facts.usable_gb)
    candidates = [_candidate(e, facts, demand, catalogue) for e in catalogue]
    eligible_roles = {
        c.entry.name: sum(_eligible(c.entry, r) for r in demand.roles) for c in candidates
    }
    shareable = {name for name, n in eligible_roles.items() if n > 1}
    options: dict[str, list[_Candidate]] = {}
    for role in demand.roles:
        fits = [
            c
            for c in candidates
            if _eligible(c.entry, role)
            and c.memory_gb <= cap + _EPS
            and (c.tps is None or c.tps >= _min_tps(role))
            and (
                not check_disk
                or facts.disk_budget_gb is None
                or c.download_gb <= facts.disk_budget_gb + _EPS
            )
        ]
        options[role.name] = _pareto(fits, role, shareable)
    disk_budget = facts.disk_budget_gb if check_disk else None
    return _choose(
        demand.roles, options, facts.usable_gb, disk_budget, facts.node.ollama.max_loaded_models
    )


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "0%"


def _reason(
    c: _Candidate,
    roles: list[_Role],
    facts: _NodeFacts,
    demand: _Demand,
    usage: UsageSummary,
    mix_gb: float,
    size_cap: float | None,
    big_node: str | None,
) -> str:
    ordered = sorted(roles, key=lambda r: _ROLE_ORDER.index(r.name))
    labels = [_ROLE_LABEL[r.name] for r in ordered]
    head = labels[0][0].upper() + labels[0][1:]
    if len(labels) > 1:
        head += ", also covering " + " and ".join(labels[1:])
    if any(r.name == "chat" for r in ordered):
        head += ": the best-quality chat model that fits"
        if size_cap is not None and big_node:
            head += f" within {size_cap:.1f} GB (the biggest models go to {big_node})"
    parts = [head]

    total = sum(demand.raw_counts.values())
    if demand.default_mix:
        parts.append("default mix, as no usage is recorded yet")
    else:
        seen: list[str] = []
        for r in ordered:
            if r.category in seen:
                continue
            seen.append(r.category)
            pct = _pct(demand.raw_counts.get(r.category, 0), total)
            parts.append(
                f"{r.category} requests were {pct} of traffic over the last "
                f"{usage.window_days:g} days"
            )
    if c.requests:
        parts.append(f"requested {c.requests} times in that window")

    e = c.entry
    if c.measured:
        memory = f"takes {c.memory_gb:.1f} GB loaded (measured)"
    elif c.kv_gb > 0:
        context = min(facts.context_tokens, e.context_length)
        slots = f" x {facts.parallel} parallel" if facts.parallel > 1 else ""
        memory = (
            f"takes {c.memory_gb:.1f} GB loaded ({c.size_gb:.1f} GB weights + {c.kv_gb:.1f} GB "
            f"KV cache for {context} tokens{slots})"
        )
    else:
        memory = f"takes {c.memory_gb:.1f} GB loaded"
    parts.append(f"{e.name} ({e.params_b:g}B, {e.default_quant}, quality {e.quality}) {memory}")
    parts.append(
        f"the whole mix fits {mix_gb:.1f} GB of {facts.usable_gb:.1f} GB usable "
        f"({facts.memory_gb:.0f} GB total)"
    )
    if c.tps is not None and facts.bandwidth:
        parts.append(f"about {c.tps:.0f} tokens/s at {facts.bandwidth:.0f} GB/s")
    if c.loaded:
        parts.append("already loaded")
    elif c.installed_name is not None:
        parts.append(f"already on disk as {c.installed_name}")
    elif facts.disk_free_gb is not None:
        parts.append(f"download {c.download_gb:.1f} GB ({facts.disk_free_gb:.0f} GB free on disk)")
    else:
        parts.append(f"download {c.download_gb:.1f} GB")
    return "; ".join(parts) + "."


def _recommend_node(
    facts: _NodeFacts,
    demand: _Demand,
    usage: UsageSummary,
    catalogue: Catalogue,
    fleet_best: tuple[str, float] | None,
) -> NodeRecommendation:
    node = facts.node
    notes: list[str] = []
    if node.status == "offline":
        notes.append("Node is offline: figures come from its last heartbeat.")
    size_cap: float | None = None
    big_node: str | None = None
    if (
        fleet_best is not None
        and fleet_best[0] != node.node_id
        and facts.usable_gb > 0
        and fleet_best[1] >= ROLE_SPLIT_RATIO * facts.usable_gb
    ):
        size_cap, big_node = _gb(facts.usable_gb * ROLE_SPLIT_CAP), fleet_best[0]
        notes.append(
            f"{big_node} has {fleet_best[1]:.1f} GB usable against {facts.usable_gb:.1f} GB here: "
            f"the biggest models go there, and each model here is capped at {size_cap:.1f} GB."
        )
    if facts.memory_gb <= 0:
        notes.append("Memory size unknown: no mix can be planned.")
    if facts.disk_free_gb is None:
        notes.append("Free disk unknown: downloads were not checked against it.")

    picks = _plan(facts, demand, catalogue, size_cap)
    by_model: dict[str, tuple[_Candidate, list[_Role]]] = {}
    for role in demand.roles:
        c = picks.get(role.name)
        if c is not None:
            by_model.setdefault(c.entry.name, (c, []))[1].append(role)
    mix_gb = _gb(sum(c.memory_gb for c, _ in by_model.values()))

    recommended: list[ModelRecommendation] = []
    for c, roles in by_model.values():
        name = c.installed_name or c.entry.name
        recommended.append(
            ModelRecommendation(
                model=name,
                category=c.entry.category,
                size_gb=c.size_gb,
                quality=c.entry.quality,
                reason=_reason(c, roles, facts, demand, usage, mix_gb, size_cap, big_node),
                already_installed=c.installed_name is not None,
                loaded=c.loaded,
                action="keep" if c.installed_name is not None else f"ollama pull {name}",
                roles=sorted((r.name for r in roles), key=_ROLE_ORDER.index),
                memory_gb=c.memory_gb,
                kv_cache_gb=c.kv_gb,
                download_gb=c.download_gb,
                requests=c.requests,
                est_tokens_per_s=round(c.tps, 1) if c.tps is not None else None,
            )
        )
    recommended.sort(key=lambda r: (-r.memory_gb, r.model))
    download = _gb(sum(r.download_gb for r in recommended))

    missing = {r.name for r in demand.roles} - set(picks)
    if missing and facts.usable_gb > 0:
        names = ", ".join(sorted(missing, key=_ROLE_ORDER.index))
        notes.append(f"No catalogue model fits the remaining budget for: {names}.")
    max_loaded = node.ollama.max_loaded_models
    if max_loaded is not None and len(recommended) >= max_loaded and missing:
        notes.append(f"OLLAMA_MAX_LOADED_MODELS={max_loaded} limits the mix to {max_loaded}.")

    removable, used_elsewhere = _removable(facts, demand, usage, catalogue, recommended)
    removable_gb = _gb(sum(r.size_gb for r in removable))

    if facts.disk_budget_gb is not None:
        unconstrained = _plan(facts, demand, catalogue, size_cap, check_disk=False)
        wanted = {c.entry.name: c for c in unconstrained.values() if c.download_gb > 0}
        blocked = sorted(set(wanted) - {c.entry.name for c in picks.values()})
        if blocked:
            need = _gb(sum(wanted[n].download_gb for n in blocked))
            note = (
                f"Disk limits the mix: {facts.disk_free_gb:.1f} GB free leaves "
                f"{facts.disk_budget_gb:.1f} GB for downloads after a {facts.disk_reserve_gb:.1f} "
                f"GB reserve; with more space the mix would pull {', '.join(blocked)} "
                f"({need:.1f} GB)."
            )
            if removable_gb:
                note += f" Deleting the removable models frees {removable_gb:.1f} GB."
            notes.append(note)

    to_load = sum(r.memory_gb for r in recommended if not r.loaded)
    if recommended and node.memory.available_gb + _EPS < to_load:
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
        memory_gb=_gb(facts.memory_gb),
        usable_gb=facts.usable_gb,
        disk_free_gb=_gb(facts.disk_free_gb) if facts.disk_free_gb is not None else None,
        recommended=recommended,
        total_recommended_gb=mix_gb,
        removable=removable,
        notes=notes,
        disk_budget_gb=facts.disk_budget_gb,
        download_gb=download,
        removable_gb=removable_gb,
        model_size_cap_gb=size_cap,
    )


def _removable(
    facts: _NodeFacts,
    demand: _Demand,
    usage: UsageSummary,
    catalogue: Catalogue,
    recommended: list[ModelRecommendation],
) -> tuple[list[RemovableModel], list[str]]:
    keep = {normalize(r.model) for r in recommended}
    loaded = {normalize(m.name) for m in facts.node.ollama.models_loaded}
    removable: list[RemovableModel] = []
    notes: list[str] = []
    for model in facts.node.ollama.models_available:
        full = normalize(model.name)
        if full in keep:
            continue
        if full in loaded:
            notes.append(
                f"{model.name} is loaded but not in the recommended mix: it is never listed as "
                "removable while loaded."
            )
            continue
        requests = demand.model_requests.get(_model_key(model.name, catalogue), 0)
        if requests:
            notes.append(
                f"{model.name} is not in the mix but was requested {requests} times in the last "
                f"{usage.window_days:g} days: keep it while traffic uses it."
            )
            continue
        if demand.default_mix:
            continue
        size = _gb(_size_of(model))
        removable.append(
            RemovableModel(
                model=model.name,
                size_gb=size,
                reason=(
                    f"Not in the recommended mix, not loaded and no requests in the last "
                    f"{usage.window_days:g} days; deleting it frees {size:.1f} GB of disk."
                ),
            )
        )
    removable.sort(key=lambda r: (-r.size_gb, r.model))
    return removable, notes


def recommend(
    nodes: Sequence[NodeView],
    usage: UsageSummary | None = None,
    catalogue: Catalogue = DEFAULT,
) -> RecommendationsReport:
    """For every node, the mix of models to keep, why, and what could be deleted."""
    usage = usage if usage is not None else UsageSummary()
    demand = _demand(usage, catalogue)
    facts = [_node_facts(node, catalogue) for node in nodes]
    live = [f for f in facts if f.node.status != "offline"] or facts
    fleet_best: tuple[str, float] | None = None
    if live:
        top = max(live, key=lambda f: (f.usable_gb, f.node.node_id))
        fleet_best = (top.node.node_id, top.usable_gb)
    results = [_recommend_node(f, demand, usage, catalogue, fleet_best) for f in facts]

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
