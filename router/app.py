"""The router's ASGI application: wiring of front ends, middleware and the process lifespan.

Builds the context (registry, queues, store, pipeline), starts the background work (trace writer,
zombie reaper, mDNS advertiser) and stops it all on shutdown. No request logic lives here.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from router import __version__
from router.api import fleet
from router.api.responses import error_response
from router.auth import authorize
from router.config import RouterSettings
from router.context import RouterContext, build_context
from router.errors import HerdError

log = logging.getLogger("herd.app")


class AccessControl:
    """Pure-ASGI middleware applying ``router.auth`` before any handler runs."""

    def __init__(self, app: ASGIApp, ctx: RouterContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        client = scope.get("client")
        denied = authorize(
            scope["method"],
            scope["path"],
            self.ctx.keys,
            authorization,
            client[0] if client else None,
        )
        if denied is not None:
            await error_response(scope["path"], denied)(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _herd_error(request: Any, exc: Exception) -> Any:
    assert isinstance(exc, HerdError)
    return error_response(request.url.path, exc)


def create_app(settings: RouterSettings, ctx: RouterContext | None = None) -> Starlette:
    ctx = ctx or build_context(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            await _start_services(ctx, stack)
            log.info(
                "herd %s listening on %s:%s",
                __version__,
                settings.host,
                settings.port,
                extra={"console": True},
            )
            yield

    app = Starlette(
        routes=[*fleet.routes(ctx)],
        exception_handlers={HerdError: _herd_error},
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.add_middleware(AccessControl, ctx=ctx)
    return app


async def _start_services(ctx: RouterContext, stack: contextlib.AsyncExitStack) -> None:
    settings = ctx.settings
    if settings.mdns:
        try:
            from router.discovery import RouterAdvertiser
        except ImportError:  # pragma: no cover - discovery ships with the router
            log.warning("mDNS advertiser unavailable")
        else:
            advertiser = RouterAdvertiser(
                port=settings.port,
                interfaces=settings.mdns_interfaces or None,
                properties={"version": __version__},
            )
            try:
                await advertiser.start()
            except OSError as exc:
                log.warning("could not advertise over mDNS: %s", exc)
            else:
                stack.push_async_callback(advertiser.stop)
