"""The one edge where router failures become text: ``router_errors`` turns an unreachable router
or an API error into a ``ToolError`` carrying the helpful text of ``herd_mcp.advice``, and
``api_error_text`` builds that text (with the router's log path), and ``failure_text`` gives either
text to tools that report failures in their result instead. Either way the text also goes to the
client's log as a warning (``herd_mcp.client_log``).

Owns that translation. It must never retry, swallow an error silently, or decide what a tool
returns on success.
"""

import contextlib
from collections.abc import AsyncIterator

from mcp.server.mcpserver.exceptions import ToolError

from herd_mcp import advice
from herd_mcp.client import RouterApiError, RouterClient, RouterUnreachable
from herd_mcp.client_log import tell


@contextlib.asynccontextmanager
async def router_errors(client: RouterClient) -> AsyncIterator[None]:
    """The one edge where router failures become the helpful text a tool error carries."""
    try:
        yield
    except (RouterUnreachable, RouterApiError) as exc:
        raise ToolError(await failure_text(client, exc)) from exc


async def api_error_text(client: RouterClient, exc: RouterApiError) -> str:
    log_path = await client.log_path()
    text = advice.api_error(exc.method, exc.path, exc.status, exc.body_text, log_path)
    lowered = exc.message.lower()
    if "no node" in lowered or "no online node" in lowered:
        text += " " + advice.NO_NODE
    return text


async def failure_text(client: RouterClient, exc: RouterUnreachable | RouterApiError) -> str:
    """The text of a router failure, also put in the client's log."""
    if isinstance(exc, RouterUnreachable):
        text = advice.unreachable(exc.url, str(exc.cause) or type(exc.cause).__name__)
    else:
        text = await api_error_text(client, exc)
    await tell("warning", text)
    return text
