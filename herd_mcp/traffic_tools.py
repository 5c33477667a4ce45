"""herd's traffic tools: ``traces``, ``usage``, ``model_insights`` and ``app_analytics``, each a
typed view of what the router's trace store says about recent requests.

Owns those tools' names, descriptions, arguments and results. It must never change the fleet. No
``from __future__ import annotations``: the SDK evaluates tool annotations.
"""

from typing import Annotated, Any

from pydantic import Field

from herd_mcp.client import RouterClient
from herd_mcp.failures import router_errors
from herd_mcp.models import (
    AppAnalyticsResult,
    ModelInsightsResult,
    TraceRow,
    TracesResult,
    UsageResult,
)
from herd_mcp.registration import READ, Tool

Days = Annotated[int, Field(ge=1, le=365, description="Window in days")]
"""The ``days`` argument of the tools over a window of recent traffic."""


def register_traffic_tools(tool: Tool, client: RouterClient) -> None:
    """Register ``traces``, ``usage``, ``model_insights`` and ``app_analytics``."""

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
            data = await client.traces(
                limit, model=model, node_id=node_id, status=status, tag=tag, since=since
            )
        rows = [TraceRow.model_validate(row) for row in data.get("traces", [])]
        kept = {k: v for k, v in filters.items() if v is not None}
        return TracesResult(traces=rows, count=int(data.get("count", len(rows))), filters=kept)

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


def _split(data: dict[str, Any], key: str) -> tuple[list[Any], dict[str, Any]]:
    """``data[key]`` (a list, empty when missing) and everything else the router sent."""
    return data.get(key, []), {k: v for k, v in data.items() if k != key}
