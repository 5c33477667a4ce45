"""herd's read tools: ``fleet_status``, ``model_list``, ``loaded_models``, ``find_model``,
``traces``, ``health``, ``recommendations``, ``usage``, ``model_insights``, ``app_analytics`` and
``get_settings``, each a typed view of one router endpoint, plus ``fleet_advice`` (what a person
should check for each unwell node).

Owns those tools' names, descriptions, arguments and results. It must never change the fleet or
put work on it. No ``from __future__ import annotations``: the SDK evaluates tool annotations.
"""

from typing import Annotated, Any

from pydantic import Field

from herd_mcp import advice
from herd_mcp.client import RouterClient
from herd_mcp.failures import router_errors
from herd_mcp.models import (
    AppAnalyticsResult,
    FindModelResult,
    FleetStatusResult,
    LoadedEntry,
    LoadedModelsResult,
    ModelInsightsResult,
    ModelListResult,
    NodeProblem,
    NodeVersion,
    SettingsResult,
    Toggles,
    TraceRow,
    TracesResult,
    UsageResult,
)
from herd_mcp.plans import find, model_entries
from herd_mcp.registration import READ, Tool
from router.health import HealthReport
from router.recommendations import RecommendationsReport
from router.wire import FleetStatus

Days = Annotated[int, Field(ge=1, le=365, description="Window in days")]
"""The ``days`` argument of the tools over a window of recent traffic."""


def fleet_advice(status: FleetStatus) -> tuple[list[NodeProblem], list[str]]:
    problems = []
    for node in sorted(status.nodes, key=lambda n: n.node_id):
        note = advice.node_problem(node)
        if note is not None:
            problems.append(
                NodeProblem(node_id=node.node_id, status=node.status, what_to_check=note)
            )
    notes = [] if status.fleet.nodes_online else [advice.NO_NODE]
    return problems, notes


def register_read_tools(tool: Tool, client: RouterClient) -> None:
    """Register every read tool for ``client``'s router."""

    @tool("fleet_status", READ, "Fleet status")
    async def fleet_status() -> FleetStatusResult:
        """The whole fleet: every node (online, degraded or offline) with its hardware, memory,
        disk and models; the router's queues; and, for any node that needs attention, what a
        person should check. Offline nodes are reported, never restarted."""
        async with router_errors(client):
            status = await client.fleet_status()
        problems, notes = fleet_advice(status)
        return FleetStatusResult(**status.model_dump(), problems=problems, advice=notes)

    @tool("model_list", READ, "Models in the fleet")
    async def model_list() -> ModelListResult:
        """Every model on the fleet's reachable nodes, which nodes hold it, and whether it is hot
        (loaded in memory somewhere) or cold (on disk only; the first request loads it)."""
        async with router_errors(client):
            status = await client.fleet_status()
        models = model_entries(status)
        _, notes = fleet_advice(status)
        return ModelListResult(models=models, count=len(models), advice=notes)

    @tool("loaded_models", READ, "Loaded models")
    async def loaded_models() -> LoadedModelsResult:
        """The models loaded in memory right now, one entry per node, with memory used, context
        length and when Ollama will unload them (from the router's merged /api/ps)."""
        async with router_errors(client):
            data = await client.ps()
        entries = []
        for item in data.get("models", []):
            holders = item.get("nodes") or ([item["node_id"]] if item.get("node_id") else [])
            for node_id in holders or ["?"]:
                entries.append(
                    LoadedEntry(
                        name=str(item.get("name", "")),
                        node_id=str(node_id),
                        size_gb=round(float(item.get("size", 0) or 0) / 1e9, 2),
                        size_vram_gb=round(float(item.get("size_vram", 0) or 0) / 1e9, 2),
                        context_length=int(item.get("context_length", 0) or 0),
                        expires_at=str(item.get("expires_at", "") or ""),
                    )
                )
        notes = [] if entries else ["No model is loaded; the first request for a model loads it."]
        return LoadedModelsResult(models=entries, count=len(entries), advice=notes)

    @tool("find_model", READ, "Find a model")
    async def find_model(
        model: Annotated[str, Field(description="Model name, e.g. llama3.2:3b (tag optional)")],
    ) -> FindModelResult:
        """Which nodes have a model: loaded (hot), on disk (cold), or last reported by a node that
        is unreachable now; suggests other tags of the same model when it is missing."""
        async with router_errors(client):
            status = await client.fleet_status()
        return find(status, model)

    @tool("traces", READ, "Request traces")
    async def traces(
        limit: Annotated[int, Field(ge=1, le=500, description="How many, newest first")] = 20,
        model: Annotated[str | None, Field(description="Only this model")] = None,
        node_id: Annotated[str | None, Field(description="Only this node")] = None,
        status: Annotated[
            str | None,
            Field(description="completed, failed, retried, client_disconnected, incomplete..."),
        ] = None,
        tag: Annotated[str | None, Field(description="Only requests carrying this tag")] = None,
        since: Annotated[float | None, Field(description="Epoch seconds; only newer")] = None,
    ) -> TracesResult:
        """Recent routing decisions from the router's trace store: model, node, status, latency,
        score, retries, fallbacks, tags and errors of each request."""
        filters = {"model": model, "node_id": node_id, "status": status, "tag": tag, "since": since}
        async with router_errors(client):
            data = await client.traces(limit, **filters)
        rows = [TraceRow.model_validate(row) for row in data.get("traces", [])]
        kept = {k: v for k, v in filters.items() if v is not None}
        return TracesResult(traces=rows, count=int(data.get("count", len(rows))), filters=kept)

    @tool("health", READ, "Fleet health")
    async def health() -> HealthReport:
        """The router's health checks: a score, an overall status and each finding with the
        numbers behind it and a concrete fix (offline nodes, memory pressure, error and retry
        rates, model thrashing, KV-cache bloat, version mismatches...)."""
        async with router_errors(client):
            return await client.health()

    @tool("recommendations", READ, "Model recommendations")
    async def recommendations() -> RecommendationsReport:
        """Which models each node should hold, from its memory, disk, the fleet's role split and
        recent usage, with models that could be removed to free disk."""
        async with router_errors(client):
            return await client.recommendations()

    @tool("usage", READ, "Usage")
    async def usage(
        days: Days = 7,
    ) -> UsageResult:
        """Requests and tokens over the last days, by model and node, from the trace store."""
        async with router_errors(client):
            data = await client.usage(days)
        return UsageResult(days=days, usage=data)

    @tool("model_insights", READ, "Model insights")
    async def model_insights(
        days: Days = 7,
    ) -> ModelInsightsResult:
        """Per-model performance over the last days: request counts, latency percentiles,
        time to first token, tokens per second and error rates."""
        async with router_errors(client):
            data = await client.model_insights(days)
        models, extra = _split(data, "models")
        return ModelInsightsResult(days=days, models=models, extra=extra)

    @tool("app_analytics", READ, "App analytics")
    async def app_analytics(
        days: Days = 7,
    ) -> AppAnalyticsResult:
        """Traffic per application tag (metadata.tags, X-Herd-Tags, OpenAI user) over the last
        days: requests, tokens, latency and errors of each."""
        async with router_errors(client):
            data = await client.apps(days)
        apps, extra = _split(data, "apps")
        return AppAnalyticsResult(days=days, apps=apps, extra=extra)

    @tool("get_settings", READ, "Router settings")
    async def get_settings() -> SettingsResult:
        """The router's configuration, its runtime toggles (auto_pull, vram_fallback,
        context_protection, session_affinity, zombie_reaper, reaper_timeout_s, max_retries,
        trace_retention_days) and the agent and Ollama version of every node."""
        async with router_errors(client):
            data = await client.settings()
        return SettingsResult(
            toggles=Toggles.model_validate(data.get("toggles", {})),
            config=data.get("config", {}) or {},
            nodes=[NodeVersion.model_validate(n) for n in data.get("nodes", []) or []],
            router_version=str(data.get("router_version", "") or ""),
        )


def _split(data: dict[str, Any], key: str) -> tuple[list[Any], dict[str, Any]]:
    """``data[key]`` (a list, empty when missing) and everything else the router sent."""
    return data.get(key, []), {k: v for k, v in data.items() if k != key}
