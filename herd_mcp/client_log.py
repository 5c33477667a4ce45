"""The client's log: herd-mcp's warnings and the router's refusals, sent as MCP log messages at or
above the level the client set with ``logging/setLevel``.

Owns the per-session level (``warning`` until the client sets one), the ``logging/setLevel``
handler that declares the capability, and ``tell``, which any tool calls to put a line in the log
of the client whose request it is serving. The request being served is found through a context
variable that ``LogContext``, a server middleware, sets around every inbound request.
"""

from __future__ import annotations

import contextvars
import logging
import warnings
import weakref
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp_types import EmptyResult, LoggingLevel, SetLevelRequestParams

log = logging.getLogger("herd_mcp")

LEVELS: tuple[LoggingLevel, ...] = (
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
)
DEFAULT_LEVEL: LoggingLevel = "warning"

_current: contextvars.ContextVar[ServerRequestContext[Any, Any] | None] = contextvars.ContextVar(
    "herd_mcp_request", default=None
)
_levels: weakref.WeakKeyDictionary[Any, LoggingLevel] = weakref.WeakKeyDictionary()


def level_of(session: Any) -> LoggingLevel:
    return _levels.get(session, DEFAULT_LEVEL)


async def set_level(
    ctx: ServerRequestContext[Any, Any], params: SetLevelRequestParams
) -> EmptyResult:
    """``logging/setLevel``: messages below ``params.level`` are no longer sent to this client."""
    _levels[ctx.session] = params.level
    return EmptyResult()


class LogContext:
    """Server middleware: makes the request being served known to ``tell``."""

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        token = _current.set(ctx)
        try:
            return await call_next(ctx)
        finally:
            _current.reset(token)


async def tell(level: LoggingLevel, message: str) -> None:
    """Log ``message`` here, and to the client whose request is being served when its level
    admits it. Never raises: a log line must not fail a tool."""
    log.log(logging.WARNING if LEVELS.index(level) >= 3 else logging.INFO, "%s", message)
    ctx = _current.get()
    if ctx is None or LEVELS.index(level) < LEVELS.index(level_of(ctx.session)):
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the capability is deprecated in the 2026 revision
            await ctx.session.send_log_message(
                level, message, "herd-mcp", related_request_id=ctx.request_id
            )
    except Exception:  # the client may be gone; the line is in our own log already
        log.debug("could not send a log message to the client", exc_info=True)


def install(server: MCPServer) -> None:
    """Declare ``logging`` on ``server`` (a ``logging/setLevel`` handler) and track requests."""
    lowlevel = server._lowlevel_server  # the SDK offers no public hook for a spec method
    lowlevel.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)
    server.middleware.append(LogContext())
