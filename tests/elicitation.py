"""The elicitation side of an MCP client in tests: a callback that answers every question alike.

Owns only that scripted user. It never talks to a router or starts a process.
"""

from __future__ import annotations

from typing import Any

import mcp_types as types


def answering(action: str, confirm: bool = True) -> Any:
    """An elicitation callback that answers ``action`` (with ``{"confirm": confirm}`` when it
    accepts) and keeps every question it was asked in ``.messages``."""

    async def callback(ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        callback.messages.append(params.message)  # type: ignore[attr-defined]
        content = {"confirm": confirm} if action == "accept" else None
        return types.ElicitResult(action=action, content=content)  # type: ignore[arg-type]

    callback.messages = []  # type: ignore[attr-defined]
    return callback
