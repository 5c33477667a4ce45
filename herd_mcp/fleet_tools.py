"""herd's fleet tools: ``fleet_status`` (every node, with what a person should check for each
unwell one), ``health`` (the router's findings) and ``recommendations``; ``fleet_status`` and
``health`` point at the herd panel (``herd_mcp.panel``) for clients that show MCP Apps.

Owns those tools' names, descriptions and results, and ``fleet_advice``. It must never change the
fleet. No ``from __future__ import annotations``: the SDK evaluates tool annotations.
"""

from herd_mcp import advice
from herd_mcp.client import RouterClient
from herd_mcp.failures import router_errors
from herd_mcp.models import FleetStatusResult, NodeProblem
from herd_mcp.panel import PANEL_META
from herd_mcp.registration import READ, Tool
from herd_mcp.router_views import FleetView, HealthView, RecommendationsView


def fleet_advice(status: FleetView) -> tuple[list[NodeProblem], list[str]]:
    problems = []
    for node in sorted(status.nodes, key=lambda n: n.node_id):
        note = advice.node_problem(node)
        if note is not None:
            problems.append(
                NodeProblem(node_id=node.node_id, status=node.status, what_to_check=note)
            )
    notes = [] if status.fleet.nodes_online else [advice.NO_NODE]
    return problems, notes


def register_fleet_tools(tool: Tool, client: RouterClient) -> None:
    """Register ``fleet_status``, ``health`` and ``recommendations`` for ``client``'s router."""

    @tool("fleet_status", READ, "Fleet status", PANEL_META)
    async def fleet_status() -> FleetStatusResult:
        """The whole fleet: every node (online, degraded or offline) with its hardware, memory,
        disk and models; the router's queues; and, for any node that needs attention, what a
        person should check. Offline nodes are reported, never restarted."""
        async with router_errors(client):
            status = await client.fleet_status()
        problems, notes = fleet_advice(status)
        return FleetStatusResult(**status.model_dump(), problems=problems, advice=notes)

    @tool("health", READ, "Fleet health", PANEL_META)
    async def health() -> HealthView:
        """The router's health checks: a score, an overall status and each finding with the
        numbers behind it and a concrete fix (offline nodes, memory pressure, error and retry
        rates, model thrashing, KV-cache bloat, version mismatches...)."""
        async with router_errors(client):
            return await client.health()

    @tool("recommendations", READ, "Model recommendations")
    async def recommendations() -> RecommendationsView:
        """Which models each node should hold, from its memory, disk, the fleet's role split and
        recent usage, with models that could be removed to free disk."""
        async with router_errors(client):
            return await client.recommendations()
