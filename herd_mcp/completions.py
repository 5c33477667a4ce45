"""Argument completion (``completion/complete``): model names and node ids as the fleet has them.

Owns which arguments complete from what: a prompt's ``model`` from the models the fleet's nodes
hold or have loaded, a ``node_id`` (the ``herd://nodes/{node_id}`` template, or any prompt argument
of that name) from the nodes the router knows. Values start with what the user typed (case
ignored), sorted, at most 100. A router that cannot be reached completes nothing rather than fail.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp_types import (
    Completion,
    CompletionArgument,
    CompletionContext,
    PromptReference,
    ResourceTemplateReference,
)

from herd_mcp.client import RouterApiError, RouterClient, RouterUnreachable
from herd_mcp.router_views import FleetView

MAX_VALUES = 100
MODEL_ARGUMENTS = frozenset({"model"})
NODE_ARGUMENTS = frozenset({"node_id", "node"})


def candidates(fleet: FleetView, argument: str) -> list[str]:
    """Every value ``argument`` can take in ``fleet``; empty for an argument that is not known."""
    if argument in NODE_ARGUMENTS:
        return sorted(n.node_id for n in fleet.nodes)
    if argument in MODEL_ARGUMENTS:
        names = {
            m.name
            for n in fleet.nodes
            for m in [*n.ollama.models_available, *n.ollama.models_loaded]
        }
        return sorted(names)
    return []


def matching(values: list[str], typed: str) -> Completion:
    found = [v for v in values if v.lower().startswith(typed.lower())]
    return Completion(values=found[:MAX_VALUES], total=len(found), has_more=len(found) > MAX_VALUES)


def register_completions(server: MCPServer, client: RouterClient) -> None:
    """Answer ``completion/complete`` for ``server``'s prompts and node template."""

    @server.completion()  # type: ignore[no-untyped-call, untyped-decorator]
    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion | None:
        if isinstance(ref, ResourceTemplateReference) and "{node_id}" not in ref.uri:
            return None
        try:
            fleet = await client.fleet_status()
        except (RouterUnreachable, RouterApiError):
            return None
        return matching(candidates(fleet, argument.name), argument.value)
