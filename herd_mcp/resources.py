"""herd's MCP resources: ``herd://fleet/status`` (the whole fleet, with what to check) and
``herd://nodes/{node_id}`` (one node).

Owns those URIs and their JSON. It must never change the fleet; router failures become a
``ResourceError`` with the helpful text of ``herd_mcp.advice``.
"""

import json

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError

from herd_mcp import advice
from herd_mcp.client import RouterApiError, RouterClient, RouterUnreachable
from herd_mcp.failures import api_error_text
from herd_mcp.fleet_tools import fleet_advice
from herd_mcp.models import FleetStatusResult
from herd_mcp.router_views import FleetView


def register_resources(server: MCPServer, client: RouterClient) -> None:
    """Register the fleet and node resources for ``client``'s router."""

    async def current_fleet() -> FleetView:
        """The router's fleet status, or a ``ResourceError`` with the helpful text."""
        try:
            return await client.fleet_status()
        except RouterUnreachable as exc:
            raise ResourceError(advice.unreachable(exc.url, str(exc.cause))) from exc
        except RouterApiError as exc:
            raise ResourceError(await api_error_text(client, exc)) from exc

    @server.resource(
        "herd://fleet/status",
        name="fleet-status",
        title="Fleet status",
        description="GET /fleet/status: every node, its models and the router's queues.",
        mime_type="application/json",
    )
    async def fleet_resource() -> str:
        status = await current_fleet()
        problems, notes = fleet_advice(status)
        result = FleetStatusResult(**status.model_dump(), problems=problems, advice=notes)
        return result.model_dump_json(indent=2)

    @server.resource(
        "herd://nodes/{node_id}",
        name="node",
        title="One node",
        description="One node as /fleet/status shows it, with what to check when it is unwell.",
        mime_type="application/json",
    )
    async def node_resource(node_id: str) -> str:
        status = await current_fleet()
        node = next((n for n in status.nodes if n.node_id == node_id), None)
        if node is None:
            known = ", ".join(sorted(n.node_id for n in status.nodes)) or "none"
            raise ResourceError(f"unknown node {node_id!r}; known nodes: {known}")
        body = node.model_dump(mode="json")
        body["what_to_check"] = advice.node_problem(node)
        return json.dumps(body, indent=2)
