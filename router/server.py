"""The router process: settings -> the app -> uvicorn, until Ctrl-C or SIGTERM.

Owns ``serve``: it checks the data directory (a one-sentence error and exit 2 when it is unusable),
sets up logging, builds the app and runs uvicorn, then stops logging. ``on_started``, when given,
runs beside the server with the app's parts (``herd demo`` uses it to say which node holds which
models once they have joined); it is cancelled when the server stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.types import ASGIApp

from herd_contract.logs import configure_logging, stop_logging
from router.config import RouterSettings, load_settings
from router.data_dir import data_dir_problem

if TYPE_CHECKING:
    from router.parts import AppParts

StartedHook = Callable[["AppParts"], Coroutine[Any, Any, None]]
KEEP_ALIVE_S = 75
"""How long an idle client connection stays open. Clients of a fleet router are agents and SDKs
that pause between turns; uvicorn's 5 s default closed their pooled connections under them, and a
request sent just as the router closed one failed with nothing to retry."""


def server_config(app: ASGIApp, settings: RouterSettings) -> uvicorn.Config:
    """uvicorn's settings for the router: quiet, lifespan on, long keep-alive, graceful stop."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_s),
        lifespan="on",
    )


def serve(overrides: dict[str, Any], on_started: StartedHook | None = None) -> int:
    """Run the router with ``overrides`` over the environment's settings; the exit code."""
    from router.app import create_app

    settings = load_settings(overrides)
    problem = data_dir_problem(settings.resolved_data_dir)
    if problem is not None:
        print(
            f"herd: cannot use the data directory {settings.resolved_data_dir}: {problem}. "
            "Choose another with --data-dir (HERD_DATA_DIR) or free space on its disk.",
            file=sys.stderr,
        )
        return 2
    configure_logging(
        settings.log_path, settings.log_level, settings.log_max_bytes, settings.log_backups
    )
    app = create_app(settings)
    server = uvicorn.Server(server_config(app, settings))

    async def run() -> None:
        beside = asyncio.create_task(on_started(app.state.parts)) if on_started else None
        try:
            await server.serve()
        finally:
            if beside is not None:
                beside.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await beside

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it handled once it has shut down cleanly
    finally:
        stop_logging()
    return 0 if server.started else 1
