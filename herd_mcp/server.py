"""The MCP surface of herd: tools, resources and prompts over the router's HTTP API.

Owns the server itself: its name, instructions and version, and which tools, resources and
prompts it registers. The guardrails live in code, not in a prompt:

- ``pull_model``, ``cancel_pull``, ``delete_model`` and ``update_settings`` act only after the
  user's yes (through ``herd_mcp.confirmation``): an elicited confirmation naming the model, the
  node, the size in GB and the free disk, or, for a client without elicitation, a preview and a
  one-time token bound to exactly those arguments (``herd_mcp.guard``).
- ``read_only=True`` registers only the tools annotated read-only (``herd_mcp.registration``).
- A tool refuses arguments it does not declare (``herd_mcp.strict_args``).
- No tool restarts or stops the router or an agent, and nothing here touches ``~/.fleet-manager``:
  every effect goes through the router's API (``herd_mcp.client``).

The tools live in ``fleet_tools``, ``model_tools``, ``pull_tools``, ``settings_tools``,
``traffic_tools`` and ``inference_tool``; the resources in ``resources`` (and the ``panel`` app),
the prompts in ``prompts``, completions in ``completions``, the client's log in ``client_log``;
router failures become helpful text at one edge, ``herd_mcp.failures``. No
``from __future__ import annotations`` in any module that defines tools: the SDK reads the
``Resolve(...)`` markers, which name local resolver functions.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver import MCPServer

from herd_mcp import client_log
from herd_mcp.client import RouterClient
from herd_mcp.completions import register_completions
from herd_mcp.confirmation import NO_QUESTION, Confirmation, can_elicit
from herd_mcp.fleet_tools import register_fleet_tools
from herd_mcp.guard import ConfirmationGuard
from herd_mcp.inference_tool import register_inference_tool
from herd_mcp.model_tools import register_model_tools
from herd_mcp.panel import panel_extension
from herd_mcp.prompts import register_prompts
from herd_mcp.pull_tools import register_pull_tools
from herd_mcp.registration import READ, tool_registrar
from herd_mcp.resources import register_resources
from herd_mcp.settings_tools import register_settings_tools
from herd_mcp.strict_args import StrictArguments
from herd_mcp.traffic_tools import register_traffic_tools

INSTRUCTIONS = """\
herd turns every device running Ollama into one fleet behind a router. Read tools (fleet_status,
model_list, loaded_models, find_model, pull_status, traces, health, recommendations, usage,
model_insights, app_analytics, get_settings) are safe at any time. pull_model, cancel_pull,
delete_model and update_settings change the fleet: the server asks the user to confirm, or returns
a preview with a confirm_token. Show that preview to the user, wait for their explicit yes, and only
then call the tool again with the same arguments plus confirm_token. Never invent a token. A pull
is a job on the router: pull_model returns within wait_s seconds and the download goes on;
pull_status follows it. Nothing here restarts or stops the router or the node agents: when a node
is offline, report what to check. A person can watch the same fleet live in a browser at the
router's /dashboard."""


def build_server(
    client: RouterClient,
    *,
    read_only: bool = False,
    guard: ConfirmationGuard[Any] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    poll_s: float = 1.0,
) -> MCPServer:
    """The MCP server for one router; ``read_only`` registers only the tools whose annotations
    say they read. ``clock``, ``sleep`` and ``poll_s`` time how a pull is followed."""
    guard = guard if guard is not None else ConfirmationGuard(clock)
    server: MCPServer = MCPServer(
        "herd",
        title="herd: one Ollama fleet",
        instructions=INSTRUCTIONS,
        version=_version(),
        extensions=[panel_extension()],
    )
    server.middleware.append(StrictArguments(server))
    client_log.install(server)
    tool = tool_registrar(server, read_only=read_only)
    register_fleet_tools(tool, client)
    register_model_tools(tool, client, guard)
    register_pull_tools(tool, client, guard, clock=clock, sleep=sleep, poll_s=poll_s)
    register_settings_tools(tool, client, guard)
    register_traffic_tools(tool, client)
    register_inference_tool(tool, client)
    register_resources(server, client)
    register_prompts(server)
    register_completions(server, client)
    return server


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("ollama-herd")
    except Exception:
        return "0.1.0"


__all__ = [
    "INSTRUCTIONS",
    "NO_QUESTION",
    "READ",
    "Confirmation",
    "build_server",
    "can_elicit",
]
