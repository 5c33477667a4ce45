"""Tools take only the arguments they declare: unknown ones are refused, naming the right one.

Owns two things, as one server middleware: ``tools/list`` answers every input schema with
``additionalProperties: false``, and a ``tools/call`` with an argument the tool does not declare is
answered with an error result that names it and the closest declared argument (``node_id`` ->
"did you mean `node`?"), before the tool runs. A misspelt argument must never be ignored: a
silently dropped ``node_id`` once previewed a pull onto another node.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, ListToolsResult, TextContent


def suggestion(unknown: str, declared: list[str]) -> str | None:
    """The declared argument ``unknown`` most likely meant, if any is close enough."""
    stem = unknown.lower().removesuffix("_id").removesuffix("id").rstrip("_")
    if stem in declared:
        return stem
    if f"{stem}_id" in declared:
        return f"{stem}_id"
    close = difflib.get_close_matches(unknown.lower(), declared, n=1, cutoff=0.6)
    return close[0] if close else None


def refusal(tool: str, unknown: list[str], declared: list[str]) -> str:
    parts = []
    for name in unknown:
        better = suggestion(name, declared)
        hint = f" (did you mean `{better}`?)" if better else ""
        parts.append(f"`{name}`{hint}")
    accepted = ", ".join(f"`{d}`" for d in declared) or "none"
    return (
        f"Unknown argument {', '.join(parts)}: {tool} does not take it, and nothing was done. "
        f"Its arguments are {accepted}."
    )


def close_schemas(result: HandlerResult) -> None:
    """Set ``additionalProperties: false`` on every input schema of a ``tools/list`` answer."""
    if isinstance(result, ListToolsResult):
        for tool in result.tools:
            tool.input_schema["additionalProperties"] = False
    elif isinstance(result, dict):
        for tool in result.get("tools") or []:
            if isinstance(tool, dict) and isinstance(tool.get("inputSchema"), dict):
                tool["inputSchema"]["additionalProperties"] = False


class StrictArguments:
    """Server middleware enforcing declared arguments; see the module docstring."""

    def __init__(self, server: MCPServer) -> None:
        self.server = server

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if ctx.method == "tools/call" and isinstance(ctx.params, Mapping):
            refused = await self._check(ctx.params)
            if refused is not None:
                return refused
        result = await call_next(ctx)
        if ctx.method == "tools/list":
            close_schemas(result)
        return result

    async def _check(self, params: Mapping[str, Any]) -> CallToolResult | None:
        arguments = params.get("arguments") or {}
        if not isinstance(arguments, Mapping):
            return None
        tools = {t.name: t for t in await self.server.list_tools()}
        tool = tools.get(str(params.get("name")))
        if tool is None:
            return None
        declared = sorted((tool.input_schema.get("properties") or {}).keys())
        unknown = [k for k in arguments if k not in declared]
        if not unknown:
            return None
        text = refusal(tool.name, unknown, declared)
        return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
