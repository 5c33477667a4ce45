"""Removal: models on a node that are neither in its mix, nor loaded, nor requested in the usage
window, with the disk they would free, and notes for those kept despite being outside the mix.

Owns that rule. It must never list a loaded or requested model, nor delete anything.
"""

from __future__ import annotations

from herd_contract.model_names import normalize
from router.catalogue import Catalogue

from .budget import NodeFacts, gb, size_of
from .demand import Demand, model_key
from .model import ModelRecommendation, RemovableModel, UsageSummary


def removable_models(
    facts: NodeFacts,
    demand: Demand,
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
        requests = demand.model_requests.get(model_key(model.name, catalogue), 0)
        if requests:
            notes.append(
                f"{model.name} is not in the mix but was requested {requests} times in the last "
                f"{usage.window_days:g} days: keep it while traffic uses it."
            )
            continue
        if demand.default_mix:
            continue
        size = gb(size_of(model))
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
