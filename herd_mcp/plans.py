"""What a change would do, worked out before anyone is asked: pull, delete and settings plans.

Owns the facts shown to the user before a change (the node, the size in GB, the free disk before
and after) and the sentence that asks for confirmation, plus the read-side views built from one
``FleetStatus`` (model list, where a model lives). When no node is named for a pull, the node is
chosen here the way the router would choose it (enough memory to run the model, enough disk to hold
it, most memory to spare) and then named explicitly in the pull, so what the user confirmed is
exactly what happens.

Pure: functions of a ``FleetStatus`` snapshot and arguments; no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from herd_mcp.models import FindModelResult, ModelEntry, SettingValue
from router import catalogue, model_size
from router.model_names import base_name, normalize
from router.wire import FleetStatus, NodeView

GB = 1e9
GIB = 1024**3


class PullPlan(BaseModel):
    model: str
    node_id: str | None = None
    chosen_by: str = Field(default="caller", description='"caller" or "herd-mcp (best fit)".')
    download_gb: float | None = None
    disk_free_gb: float | None = None
    disk_free_after_gb: float | None = None
    already_there: bool = False
    problem: str | None = None
    question: str = ""


class DeletePlan(BaseModel):
    model: str
    node_id: str
    freed_gb: float | None = None
    disk_free_gb: float | None = None
    disk_free_after_gb: float | None = None
    loaded: bool = False
    problem: str | None = None
    question: str = ""


class SettingsPlan(BaseModel):
    changes: dict[str, SettingValue]
    previous: dict[str, Any] = Field(default_factory=dict)
    problem: str | None = None
    question: str = ""


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _holds(node: NodeView, model: str) -> Any:
    for entry in node.ollama.models_available:
        if normalize(entry.name) == model:
            return entry
    return None


def _loaded(node: NodeView, model: str) -> bool:
    return any(normalize(m.name) == model for m in node.ollama.models_loaded)


def _size_gb(entry: Any) -> float:
    return entry.size_gb or (entry.size / GB if entry.size else 0.0)


def download_size_gb(status: FleetStatus, model: str) -> float | None:
    """The download size: what a node that holds it reports, else the catalogue, else None."""
    for node in status.nodes:
        entry = _holds(node, model)
        if entry is not None and _size_gb(entry) > 0:
            return _size_gb(entry)
    known = catalogue.lookup(model)
    return known.size_gb if known is not None else None


def best_node(status: FleetStatus, model: str) -> NodeView | None:
    """The online node the router's own rule would pick (memory to run it, disk to hold it)."""
    need = model_size.estimate(model)
    best: tuple[float, NodeView] | None = None
    for node in status.nodes:
        if node.status != "online" or node.draining:
            continue
        memory = (node.memory.total_gb or node.hardware.memory_gb) * GB
        disk_free = node.disk.free_gb * GB if node.disk is not None else float("inf")
        if memory < need or disk_free < need * 0.8:
            continue
        spare = memory - need
        if best is None or spare > best[0]:
            best = (spare, node)
    return best[1] if best else None


def plan_pull(status: FleetStatus, model: str, node_id: str | None) -> PullPlan:
    wanted = normalize(model)
    if not wanted:
        return PullPlan(model=model, problem="model is empty")
    size = download_size_gb(status, wanted)
    chosen_by = "caller"
    if node_id:
        node = next((n for n in status.nodes if n.node_id == node_id), None)
        if node is None:
            known = ", ".join(sorted(n.node_id for n in status.nodes)) or "none"
            return PullPlan(
                model=model, node_id=node_id, problem=f"unknown node {node_id!r} (known: {known})"
            )
        if node.status == "offline":
            return PullPlan(
                model=model,
                node_id=node_id,
                problem=f"node {node_id!r} is offline; it cannot pull until it is back",
            )
    else:
        if not any(n.status == "online" for n in status.nodes):
            return PullPlan(model=model, problem="no node is online")
        node = best_node(status, wanted)
        if node is None:
            need = model_size.estimate(wanted) / GIB
            return PullPlan(
                model=model,
                problem=f"no online node has the memory and disk for {model} "
                f"(about {need:.1f} GB needed); name a node to pull it anyway",
            )
        chosen_by = "herd-mcp (best fit)"
    already = _holds(node, wanted) is not None
    free = node.disk.free_gb if node.disk is not None else None
    after = None if free is None or size is None else free - (0.0 if already else size)
    plan = PullPlan(
        model=model,
        node_id=node.node_id,
        chosen_by=chosen_by,
        download_gb=_round(size),
        disk_free_gb=_round(free),
        disk_free_after_gb=_round(after),
        already_there=already,
    )
    if after is not None and after < 0:
        plan.problem = (
            f"{node.node_id} has {free:.1f} GB free on disk, not enough for {model} "
            f"(about {size:.1f} GB)"
        )
    plan.question = pull_question(plan)
    return plan


def pull_question(plan: PullPlan) -> str:
    size = f"about {plan.download_gb:.1f} GB" if plan.download_gb is not None else "an unknown size"
    where = f"node {plan.node_id}"
    if plan.chosen_by != "caller":
        where += " (chosen as the best fit)"
    if plan.already_there:
        what = f"{where} already has it; the pull only checks for a newer version"
    else:
        what = f"downloads {size} from the Ollama library"
    disk = "free disk unknown"
    if plan.disk_free_gb is not None:
        disk = f"{plan.disk_free_gb:.1f} GB free on that disk now"
        if plan.disk_free_after_gb is not None:
            disk += f", about {plan.disk_free_after_gb:.1f} GB left after"
    return f"Pull model {plan.model} onto {where}: {what}; {disk}. Go ahead?"


def plan_delete(status: FleetStatus, model: str, node_id: str) -> DeletePlan:
    wanted = normalize(model)
    node = next((n for n in status.nodes if n.node_id == node_id), None)
    if node is None:
        known = ", ".join(sorted(n.node_id for n in status.nodes)) or "none"
        return DeletePlan(
            model=model, node_id=node_id, problem=f"unknown node {node_id!r} (known: {known})"
        )
    entry = _holds(node, wanted)
    if entry is None:
        holders = [n.node_id for n in status.nodes if _holds(n, wanted) is not None]
        where = f"it is on: {', '.join(holders)}" if holders else "no node reports it"
        return DeletePlan(
            model=model, node_id=node_id, problem=f"{node_id} does not have {model} ({where})"
        )
    if node.status == "offline":
        return DeletePlan(
            model=model, node_id=node_id, problem=f"node {node_id!r} is offline; nothing to do now"
        )
    freed = _size_gb(entry) or None
    free = node.disk.free_gb if node.disk is not None else None
    after = None if free is None or freed is None else free + freed
    plan = DeletePlan(
        model=model,
        node_id=node_id,
        freed_gb=_round(freed),
        disk_free_gb=_round(free),
        disk_free_after_gb=_round(after),
        loaded=_loaded(node, wanted),
    )
    others = [n.node_id for n in status.nodes if n.node_id != node_id and _holds(n, wanted)]
    size = f"frees about {plan.freed_gb:.1f} GB" if plan.freed_gb is not None else "frees its size"
    disk = ""
    if plan.disk_free_gb is not None and plan.disk_free_after_gb is not None:
        disk = f" ({plan.disk_free_gb:.1f} GB free now, about {plan.disk_free_after_gb:.1f} after)"
    rest = (
        f"still on {', '.join(others)}"
        if others
        else "no other node has it; it would need a new download"
    )
    loaded = (
        " It is loaded in memory now and requests for it there would stop." if plan.loaded else ""
    )
    plan.question = (
        f"Delete model {model} from node {node_id}: {size} of disk{disk}; {rest}.{loaded} Go ahead?"
    )
    return plan


def plan_settings(current: Mapping[str, Any], changes: Mapping[str, SettingValue]) -> SettingsPlan:
    if not changes:
        return SettingsPlan(changes={}, problem="no setting to change was given")
    unknown = sorted(k for k in changes if k not in current)
    if unknown:
        return SettingsPlan(
            changes=dict(changes),
            problem=f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(current))}",
        )
    previous = {k: current.get(k) for k in changes}
    parts = [f"{k}: {_show(previous[k])} -> {_show(v)}" for k, v in sorted(changes.items())]
    question = (
        "Change the router's settings: "
        + "; ".join(parts)
        + ". This applies at once to every client of this router and persists across restarts. "
        "Go ahead?"
    )
    return SettingsPlan(changes=dict(changes), previous=previous, question=question)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


# --- read-side views -----------------------------------------------------------------------------


def model_entries(status: FleetStatus) -> list[ModelEntry]:
    """Every model on an online or degraded node, with its holders and where it is hot."""
    found: dict[str, ModelEntry] = {}
    for node in sorted(status.nodes, key=lambda n: n.node_id):
        if node.status == "offline":
            continue
        for entry in node.ollama.models_available:
            key = normalize(entry.name)
            item = found.get(key)
            if item is None:
                item = found[key] = ModelEntry(
                    name=key,
                    nodes=[],
                    hot=False,
                    size_gb=round(_size_gb(entry), 2),
                    parameter_size=entry.details.parameter_size,
                    quantization_level=entry.details.quantization_level,
                    family=entry.details.family,
                )
            item.nodes.append(node.node_id)
        for loaded in node.ollama.models_loaded:
            key = normalize(loaded.name)
            item = found.get(key)
            if item is None:
                item = found[key] = ModelEntry(name=key, nodes=[], hot=True)
            item.loaded_on.append(node.node_id)
            item.hot = True
    return sorted(found.values(), key=lambda m: m.name)


def find(status: FleetStatus, model: str) -> FindModelResult:
    wanted = normalize(model)
    loaded_on: list[str] = []
    on_disk: list[str] = []
    unreachable: list[str] = []
    similar: set[str] = set()
    stem = base_name(wanted)
    for node in sorted(status.nodes, key=lambda n: n.node_id):
        holds = _holds(node, wanted) is not None
        hot = _loaded(node, wanted)
        if (holds or hot) and node.status != "online":
            unreachable.append(node.node_id)
        elif hot:
            loaded_on.append(node.node_id)
        elif holds:
            on_disk.append(node.node_id)
        for entry in node.ollama.models_available:
            name = normalize(entry.name)
            if name != wanted and base_name(name) == stem:
                similar.add(name)
    found = bool(loaded_on or on_disk)
    if loaded_on:
        summary = f"{wanted} is loaded (hot) on {', '.join(loaded_on)}"
        if on_disk:
            summary += f" and on disk (cold) on {', '.join(on_disk)}"
    elif on_disk:
        summary = f"{wanted} is on disk (cold, first request loads it) on {', '.join(on_disk)}"
    else:
        summary = f"no online node has {wanted}"
    advice: list[str] = []
    if unreachable:
        summary += f"; also last reported by unreachable node(s) {', '.join(unreachable)}"
        advice.append("Unreachable holders serve nothing until their heartbeats return.")
    if not found:
        if similar:
            advice.append(
                f"Other tags of the same model are present: {', '.join(sorted(similar))}."
            )
        advice.append(
            "pull_model can fetch it onto a node (after the user confirms); the router may also "
            "auto-pull it on first use when auto_pull is on."
        )
    return FindModelResult(
        model=wanted,
        found=found,
        loaded_on=loaded_on,
        on_disk=on_disk,
        unreachable_holders=unreachable,
        similar=sorted(similar),
        summary=summary,
        advice=advice,
    )


def pick_test_model(status: FleetStatus) -> str | None:
    """For test_inference without a model: a loaded model, else the smallest one on disk."""
    online = [n for n in status.nodes if n.status == "online"]
    for node in sorted(online, key=lambda n: n.node_id):
        chat = [m for m in node.ollama.models_loaded if "embed" not in m.name]
        if chat:
            return chat[0].name
    sizes = [
        (_size_gb(m), m.name)
        for n in online
        for m in n.ollama.models_available
        if "embed" not in m.name and "minilm" not in m.name
    ]
    return min(sizes)[1] if sizes else None
