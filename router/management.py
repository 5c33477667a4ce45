"""Pure adapters between the store's counts, the registry's views and the management engines.

Turns SQL results into the inputs of the health engine and the recommender, and builds the
model-management and settings views. No I/O: the dashboard API fetches, this module shapes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from herd_contract.model_names import normalize
from router import health, model_size
from router.config import RouterSettings, RuntimeToggles
from router.fleet_status import NodeView
from router.recommendations import UsageSummary

_SECRET_FIELDS = ("fleet_token", "api_key", "admin_key")


def traffic_stats(
    counts: Mapping[str, Any],
    fallback_reasons: Mapping[str, int],
    ttft_p50_ms: float | None,
    window_s: float,
) -> health.TrafficStats:
    """``TrafficStats`` from ``TraceStore.health_counts`` and the fallback split."""
    by_status = counts.get("by_status", {})
    return health.TrafficStats(
        window_s=window_s,
        requests_total=int(counts.get("requests", 0)),
        completed=int(by_status.get("completed", 0)),
        failed=int(by_status.get("failed", 0)),
        retried=int(by_status.get("retried", 0)),
        client_disconnected=int(by_status.get("client_disconnected", 0)),
        incomplete=int(by_status.get("incomplete", 0)),
        timeouts=int(counts.get("timeouts", 0)),
        retries=int(counts.get("retries", 0)),
        model_fallbacks=int(fallback_reasons.get("fallback_models", 0)),
        vram_fallbacks=int(fallback_reasons.get("vram_fallback", 0)),
        context_protections=int(counts.get("context_protected", 0)),
        zombie_reaps=int(counts.get("reaped", 0)),
        cold_loads={
            (row["node_id"] or "", row["model"]): int(row["count"])
            for row in counts.get("cold_loads_by", [])
        },
        cold_loads_total=int(counts.get("cold_loads", 0)),
        ttft_p50_ms=ttft_p50_ms,
        error_rate=counts.get("error_rate"),
        media=counts.get("media", {}),
    )


def usage_summary(rows: Iterable[Mapping[str, Any]], window_days: float) -> UsageSummary:
    """``UsageSummary`` from rows of ``node_id, model, requests, last_used``."""
    by_model: dict[str, int] = {}
    by_category: dict[str, int] = {}
    for row in rows:
        model = normalize(str(row["model"]))
        if not model:
            continue
        count = int(row["requests"])
        by_model[model] = by_model.get(model, 0) + count
        category = model_size.category_of(model)
        by_category[category] = by_category.get(category, 0) + count
    return UsageSummary(
        window_days=window_days, requests_by_model=by_model, requests_by_category=by_category
    )


def model_management(
    nodes: Sequence[NodeView], usage_rows: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """Per node, every model on it: size, loaded or not, last used and request count."""
    usage: dict[tuple[str, str], Mapping[str, Any]] = {
        (str(r["node_id"]), normalize(str(r["model"]))): r for r in usage_rows
    }
    out: list[dict[str, Any]] = []
    for node in nodes:
        loaded = {normalize(m.name): m for m in node.ollama.models_loaded}
        models: list[dict[str, Any]] = []
        for entry in node.ollama.models_available:
            key = normalize(entry.name)
            used = usage.get((node.node_id, key), {})
            hot = loaded.get(key)
            models.append(
                {
                    "name": entry.name,
                    "size_gb": round(entry.size_gb, 2),
                    "parameter_size": entry.details.parameter_size,
                    "quantization_level": entry.details.quantization_level,
                    "family": entry.details.family,
                    "loaded": hot is not None,
                    "context_length": hot.context_length if hot else None,
                    "expires_at": hot.expires_at if hot else None,
                    "last_used": used.get("last_used"),
                    "request_count": int(used.get("requests", 0)),
                    "modified_at": entry.modified_at,
                }
            )
        models.sort(key=lambda m: (-m["request_count"], m["name"]))
        out.append(
            {
                "node_id": node.node_id,
                "status": node.status,
                "disk_free_gb": node.disk.free_gb if node.disk else None,
                "disk_total_gb": node.disk.total_gb if node.disk else None,
                "memory_total_gb": node.memory.total_gb,
                "models_total_gb": round(sum(m["size_gb"] or 0 for m in models), 2),
                "models": models,
            }
        )
    return {"nodes": out}


def settings_view(
    settings: RouterSettings, nodes: Sequence[NodeView], version: str
) -> dict[str, Any]:
    """Everything configured, secrets shown only as set or not, and every agent's version."""
    config = settings.model_dump(mode="json", exclude={"toggles", *_SECRET_FIELDS})
    for name in _SECRET_FIELDS:
        config[f"{name}_set"] = bool(getattr(settings, name))
    return {
        "router_version": version,
        "config": config,
        "toggles": settings.toggles.model_dump(),
        "toggle_descriptions": {
            name: field.description or "" for name, field in RuntimeToggles.model_fields.items()
        },
        "nodes": [
            {
                "node_id": n.node_id,
                "status": n.status,
                "agent_version": n.agent_version,
                "ollama_version": n.ollama.version,
            }
            for n in nodes
        ],
    }


class SettingsError(ValueError):
    """A settings change that names an unknown toggle or gives a value of the wrong type."""


def apply_toggle_changes(current: RuntimeToggles, changes: Any) -> RuntimeToggles:
    """A new ``RuntimeToggles`` with ``changes`` applied; ``SettingsError`` naming what is wrong."""
    if not isinstance(changes, dict) or not changes:
        raise SettingsError('send a JSON object of toggles to change, e.g. {"auto_pull": false}')
    unknown = sorted(set(changes) - set(RuntimeToggles.model_fields))
    if unknown:
        known = ", ".join(RuntimeToggles.model_fields)
        raise SettingsError(f"unknown setting(s): {', '.join(unknown)} (known: {known})")
    merged = {**current.model_dump(), **changes}
    for name, value in changes.items():
        annotation = RuntimeToggles.model_fields[name].annotation
        if annotation is bool and not isinstance(value, bool):
            raise SettingsError(f"{name} must be true or false, not {value!r}")
        if annotation is float and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise SettingsError(f"{name} must be a number, not {value!r}")
        if annotation is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise SettingsError(f"{name} must be a whole number, not {value!r}")
    if any(isinstance(v, int) and not isinstance(v, bool) for v in changes.values()):
        merged = {
            k: float(v)
            if RuntimeToggles.model_fields[k].annotation is float and isinstance(v, int)
            else v
            for k, v in merged.items()
        }
    try:
        return RuntimeToggles.model_validate(merged)
    except ValidationError as exc:
        errors = exc.errors()
        if errors:
            first = errors[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise SettingsError(f"{where}: {first.get('msg')}") from None
        raise SettingsError(str(exc)) from None
