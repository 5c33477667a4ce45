"""How herd's MCP tools are registered: the shared annotations (``READ``, ``changing``) and
``tool_registrar``, the decorator factory every tool module registers through.

Owns the read-only rule: ``--read-only`` registers exactly the tools whose own annotations say
they only read (``readOnlyHint``), so no module can slip a changing tool past it and no list of
names can drift from the annotations. It must never define a tool itself or talk to the router.
"""

from collections.abc import Callable
from typing import Any, Protocol

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

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


def registered(annotations: ToolAnnotations, *, read_only: bool) -> bool:
    """Whether a tool with ``annotations`` is registered: under ``read_only``, only readers."""
    return not read_only or annotations.read_only_hint is True


ToolDecorator = Callable[[Callable[..., Any]], Callable[..., Any]]


class Tool(Protocol):
    """``tool(name, annotations, title, meta=None)``: the decorator that registers a tool."""

    def __call__(
        self,
        name: str,
        annotations: ToolAnnotations,
        title: str,
        meta: dict[str, Any] | None = None,
    ) -> ToolDecorator: ...


def tool_registrar(server: MCPServer, *, read_only: bool) -> Tool:
    """The ``tool`` decorator factory for ``server``; with ``read_only`` it skips every tool whose
    annotations do not say it only reads."""

    def tool(
        name: str,
        annotations: ToolAnnotations,
        title: str,
        meta: dict[str, Any] | None = None,
    ) -> ToolDecorator:
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            if registered(annotations, read_only=read_only):
                server.add_tool(
                    fn,
                    name=name,
                    title=title,
                    annotations=annotations.model_copy(update={"title": title}),
                    meta=meta,
                    structured_output=True,
                )
            return fn

        return register

    return tool
