"""What a change would do, worked out before anyone is asked: pull, cancel, delete and settings
plans.

Owns the facts shown to the user before a change (the node, the size in GB, the free disk before
and after) and the sentence that asks for confirmation, plus the read-side views built from one
``FleetView`` (model list, where a model lives). A pull's node and figures are the router's own
plan (``POST /dashboard/api/pulls/plan``); the node it names is then named explicitly in the pull,
so what the user confirmed is exactly what happens.

Pure: functions of the router's answers and arguments; no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from herd_contract.model_names import base_name, normalize
from herd_mcp.models import FindModelResult, ModelEntry, SettingValue
from herd_mcp.router_views import FleetView, ModelView, NodeView, PullJob, PullPlanView

GB = 1e9


class PullPlan(BaseModel):
    model: str
    node_id: str | None = None
    chosen_by: str = Field(default="caller", description='"caller" or "herd (best fit)".')
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


class CancelPlan(BaseModel):
    job_id: str
    model: str | None = None
    node_id: str | None = None
    percent: float | None = None
    problem: str | None = None
    question: str = ""


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _gb(value: int | None) -> float | None:
    return None if value is None else round(value / GB, 1)


def _holds(node: NodeView, model: str) -> ModelView | None:
    for entry in node.ollama.models_available:
        if normalize(entry.name) == model:
            return entry
    return None


def _loaded(node: NodeView, model: str) -> bool:
    return any(normalize(m.name) == model for m in node.ollama.models_loaded)


def _size_gb(entry: ModelView) -> float:
    return entry.size_gb or (entry.size / GB if entry.size else 0.0)


def plan_pull(view: PullPlanView) -> PullPlan:
    """The router's plan of a pull, in GB, with the question to ask."""
    plan = PullPlan(
        model=view.model,
        node_id=view.node_id,
        chosen_by="caller" if view.chosen_by == "caller" else "herd (best fit)",
        download_gb=_gb(view.download_bytes),
        disk_free_gb=_gb(view.disk_free_bytes),
        disk_free_after_gb=_gb(view.disk_free_after_bytes),
        already_there=view.already_there,
        problem=None if view.fits else (view.reason or f"{view.model} cannot be pulled"),
    )
    plan.question = pull_question(plan)
    return plan


def plan_cancel(job: PullJob, line: str) -> CancelPlan:
    plan = CancelPlan(job_id=job.id, model=job.model, node_id=job.node_id, percent=job.percent)
    if job.state != "running":
        plan.problem = f"the pull is not running ({line})"
    else:
        plan.question = f"Stop the pull of {line}? Go ahead?"
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


def plan_delete(status: FleetView, model: str, node_id: str) -> DeletePlan:
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


def model_entries(status: FleetView) -> list[ModelEntry]:
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
        for backend in node.backends:
            if not backend.reachable:
                continue
            for name in backend.models:
                key = normalize(name)
                item = found.setdefault(
                    key, ModelEntry(name=key, kind=backend.kind, nodes=[], hot=False)
                )
                if node.node_id not in item.nodes:
                    item.nodes.append(node.node_id)
    return sorted(found.values(), key=lambda m: m.name)


def backend_holders(status: FleetView, model: str) -> tuple[str, list[str]]:
    """The kind of ``model`` among the nodes' non-Ollama backends, and the online nodes serving
    it (``("ollama", [])`` when no backend lists it)."""
    kind, nodes = "ollama", []
    for node in sorted(status.nodes, key=lambda n: n.node_id):
        for backend in node.backends:
            if model in {normalize(m) for m in backend.models}:
                kind = backend.kind
                if backend.reachable and node.status == "online" and node.node_id not in nodes:
                    nodes.append(node.node_id)
    return kind, nodes


def find(status: FleetView, model: str) -> FindModelResult:
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
    kind, served_by = backend_holders(status, wanted)
    found = bool(loaded_on or on_disk or served_by)
    if served_by and not (loaded_on or on_disk):
        summary = f"{wanted} is a {kind} model served by {', '.join(served_by)}"
    elif loaded_on:
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
        kind=kind,
        served_by=served_by,
        loaded_on=loaded_on,
        on_disk=on_disk,
        unreachable_holders=unreachable,
        similar=sorted(similar),
        summary=summary,
        advice=advice,
    )


def pick_test_model(status: FleetView) -> str | None:
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
