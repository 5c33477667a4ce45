"""The MCP surface of herd: tools, resources and prompts over the router's HTTP API.

Owns the server itself: its name, instructions and version, and which tools, resources and
prompts it registers. The guardrails live in code, not in a prompt:

- ``pull_model``, ``delete_model`` and ``update_settings`` act only after the user's yes
  (``herd_mcp.change_tools`` through ``herd_mcp.confirmation``): an elicited confirmation naming the
  model, the node, the size in GB and the free disk, or, for a client without elicitation, a
  preview and a one-time token bound to exactly those arguments (``herd_mcp.guard``).
- ``read_only=True`` registers no tool that changes anything (``herd_mcp.registration``).
- No tool restarts or stops the router or an agent, and nothing here touches ``~/.fleet-manager``:
  every effect goes through the router's API (``herd_mcp.client``).

The tools live in ``read_tools``, ``change_tools`` and ``inference_tool``; the resources in
``resources``, the prompts in ``prompts``; router failures become helpful text at one edge,
``herd_mcp.failures``. No ``from __future__ import annotations`` in any module that defines tools:
the SDK reads the ``Resolve(...)`` markers, which name local resolver functions.
"""

import time
from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import MCPServer

from herd_mcp.change_tools import register_change_tools
from herd_mcp.client import RouterClient
from herd_mcp.confirmation import NO_QUESTION, Confirmation, can_elicit
from herd_mcp.guard import ConfirmationGuard
from herd_mcp.inference_tool import register_inference_tool
from herd_mcp.prompts import register_prompts
from herd_mcp.read_tools import register_read_tools
from herd_mcp.registration import CHANGING_TOOLS, READ, tool_registrar
from herd_mcp.resources import register_resources

INSTRUCTIONS = """\
herd turns every device running Ollama into one fleet behind a router. Read tools (fleet_status,
model_list, loaded_models, find_model, traces, health, recommendations, usage, model_insights,
app_analytics, get_settings) are safe at any time. pull_model, delete_model and update_settings
change the fleet: the server asks the user to confirm, or returns a preview with a
confirm_token. Show that preview to the user, wait for their explicit yes, and only then call the
tool again with the same arguments plus confirm_token. Never invent a token. Nothing here restarts
or stops the router or the node agents: when a node is offline, report what to check."""


def build_server(
    client: RouterClient,
    *,
    read_only: bool = False,
    guard: ConfirmationGuard[Any] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> MCPServer:
    """The MCP server for one router; ``read_only`` leaves out every changing tool."""
    guard = guard if guard is not None else ConfirmationGuard(clock)
    server: MCPServer = MCPServer(
        "herd",
        title="herd: one Ollama fleet",
        instructions=INSTRUCTIONS,
        version=_version(),
    )
    tool = tool_registrar(server, read_only=read_only)
    register_read_tools(tool, client)
    register_change_tools(tool, client, guard)
    register_inference_tool(tool, client)
    register_resources(server, client)
    register_prompts(server)
    return server


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("ollama-herd")
    except Exception:
        return "0.1.0"


__all__ = [
    "CHANGING_TOOLS",
    "INSTRUCTIONS",
    "NO_QUESTION",
    "READ",
    "Confirmation",
    "build_server",
    "can_elicit",
]
