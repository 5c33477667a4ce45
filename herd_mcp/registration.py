"""How herd's MCP tools are registered: the shared annotations (``READ``, ``changing``), the set of
tools ``--read-only`` leaves out (``CHANGING_TOOLS``), and ``tool_registrar``, the decorator factory
every tool module registers through.

Owns the read-only rule, so that no module can register a changing tool behind its back. It must
never define a tool itself or talk to the router.
"""

from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

CHANGING_TOOLS = frozenset({"pull_model", "delete_model", "update_settings", "test_inference"})
"""Tools left out by ``--read-only``: they change the fleet or put work on it."""

READ = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
"""Annotations of a tool that only reads: safe at any time, same answer for the same fleet."""


def changing(*, destructive: bool, idempotent: bool, open_world: bool) -> ToolAnnotations:
    """Annotations of a tool that changes the fleet or puts work on it."""
    return ToolAnnotations(
        read_only_hint=False,
        destructive_hint=destructive,
        idempotent_hint=idempotent,
        open_world_hint=open_world,
    )


ToolDecorator = Callable[[Callable[..., Any]], Callable[..., Any]]
Tool = Callable[[str, ToolAnnotations, str], ToolDecorator]
"""``tool(name, annotations, title)``: the decorator that registers a tool function."""


def tool_registrar(server: MCPServer, *, read_only: bool) -> Tool:
    """The ``tool`` decorator factory for ``server``; with ``read_only`` it skips changing tools."""

    def tool(name: str, annotations: ToolAnnotations, title: str) -> ToolDecorator:
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            if not (read_only and name in CHANGING_TOOLS):
                server.add_tool(
                    fn,
                    name=name,
                    title=title,
                    annotations=annotations.model_copy(update={"title": title}),
                    structured_output=True,
                )
            return fn

        return register

    return tool
