"""The router's ASGI application: wiring of front ends, middleware and the process lifespan.

Builds the context (registry, queues, store, pipeline), starts the background work (trace writer,
zombie reaper, mDNS advertiser) and stops it all on shutdown. No request logic lives here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from router import __version__
from router.api import dashboard, fleet, ollama, openai
from router.api.responses import error_response
from router.auth import authorize
from router.candidates import Ranker
from router.config import RouterSettings
from router.context import RouterContext, build_context
from router.dispatch import Pipeline
from router.errors import HerdError
from router.latency import LatencyHistory
from router.registry import Registry
from router.store import TraceStore
from router.upstream import Upstream
from router.weekly import WeeklyPatterns

log = logging.getLogger("herd.app")
LATENCY_SEED_WINDOW_S = 7 * 86_400.0
REAPER_PERIOD_S = 1.0
WEEKLY_FILE = "weekly.json"
WEEKLY_SAVE_PERIOD_S = 600.0


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


async def _unexpected_error(request: Any, exc: Exception) -> Any:
    """A bug must still answer in the client's format, and leave its traceback in the log."""
    log.error("unhandled error on %s", request.url.path, exc_info=exc)
    return error_response(
        request.url.path, HerdError("internal error in the router; see herd.jsonl for details")
    )


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
        routes=[
            *fleet.routes(ctx),
            *ollama.routes(ctx),
            *openai.routes(ctx),
            *dashboard.routes(ctx),
        ],
        exception_handlers={HerdError: _herd_error, Exception: _unexpected_error},
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.add_middleware(AccessControl, ctx=ctx)
    return app


async def _start_services(ctx: RouterContext, stack: contextlib.AsyncExitStack) -> None:
    settings = ctx.settings
    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    store = TraceStore(settings.db_path, retention_days=settings.toggles.trace_retention_days)
    await store.open()
    stack.push_async_callback(store.close)
    ctx.store = store

    latency = LatencyHistory()
    try:
        latency.seed(await store.recent_latencies(since=ctx.clock() - LATENCY_SEED_WINDOW_S))
    except Exception:  # a damaged history must not stop the router
        log.exception("could not seed the latency history from the store")
    upstream = Upstream(
        connect_timeout_s=settings.connect_timeout_s,
        first_byte_timeout_s=settings.first_byte_timeout_s,
        read_timeout_s=settings.read_timeout_s,
    )
    stack.push_async_callback(upstream.aclose)
    ctx.pipeline = Pipeline(ctx, upstream, Ranker(ctx, latency))

    weekly_path = settings.resolved_data_dir / WEEKLY_FILE
    ctx.registry.weekly = await asyncio.to_thread(load_weekly, weekly_path)
    stack.push_async_callback(lambda: asyncio.to_thread(save_weekly, weekly_path, ctx.registry))

    reaper = asyncio.create_task(_housekeeping(ctx, weekly_path))
    stack.callback(reaper.cancel)
    benchmarks = ctx.extras.get("benchmarks")
    if benchmarks is not None:
        stack.push_async_callback(benchmarks.aclose)
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


async def _housekeeping(ctx: RouterContext, weekly_path: Path) -> None:
    """Free slots of requests that made no progress for the reaper timeout, forget long-dead
    nodes, and save the learned weekly patterns now and then."""
    last_save = ctx.clock()
    while True:
        await asyncio.sleep(REAPER_PERIOD_S)
        toggles = ctx.settings.toggles
        now = ctx.clock()
        if toggles.zombie_reaper:
            for slot in ctx.queues.reap(now, toggles.reaper_timeout_s):
                log.warning(
                    "reaped a stalled request on %s after %.0fs without progress",
                    slot.queue.key,
                    now - slot.last_progress,
                )
        ctx.registry.forget_stale(now)
        if now - last_save >= WEEKLY_SAVE_PERIOD_S:
            last_save = now
            await asyncio.to_thread(save_weekly, weekly_path, ctx.registry)


def load_weekly(path: Path) -> WeeklyPatterns:
    """The patterns saved by an earlier run; a missing or damaged file starts afresh."""
    try:
        return WeeklyPatterns.from_json(json.loads(path.read_text()))
    except (OSError, ValueError):
        return WeeklyPatterns()


def save_weekly(path: Path, registry: Registry) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(registry.weekly.to_json(), separators=(",", ":")))
    tmp.replace(path)
