"""The router's ASGI application: the front ends' routes behind their access rules, and the
process lifespan.

Takes the parts from ``router.parts.build_parts`` (or the caller), opens the store and starts the
background work (trace writer, zombie reaper, mDNS advertiser) at startup and stops it all on
shutdown. No request logic lives here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from router import __version__
from router.api import (
    anthropic,
    audio,
    dashboard,
    fleet,
    heartbeats,
    images,
    metrics,
    model_lists,
    ollama,
    openai,
    openai_responses,
    pages,
    pulls,
)
from router.api.access import guard
from router.api.request_ids import HEADER, RequestIds, request_id_of
from router.api.responses import error_response
from router.config import RouterSettings
from router.errors import HerdError
from router.parts import AppParts, build_parts
from router.registry import Registry
from router.weekly import WeeklyPatterns

log = logging.getLogger("herd.app")
LATENCY_SEED_WINDOW_S = 7 * 86_400.0
REAPER_PERIOD_S = 1.0
RESTORE_PERIOD_S = 2.0
"""How often displaced models are considered for a restore (``router.restorer``)."""
WEEKLY_FILE = "weekly.json"
WEEKLY_SAVE_PERIOD_S = 600.0


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    """A bug must still answer in the client's format, and leave its traceback in the log.

    Starlette sends this answer outside the middleware stack, so it sets its request id itself.
    """
    request_id = request_id_of(request.scope)
    log.error(
        "unhandled error on %s", request.url.path, exc_info=exc, extra={"request_id": request_id}
    )
    response = error_response(
        request.url.path, HerdError("internal error in the router; see herd.jsonl for details")
    )
    response.headers[HEADER] = request_id
    return response


async def _herd_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HerdError)
    return error_response(request.url.path, exc)


async def _no_route(request: Request, exc: Exception) -> Response:
    """404 and 405 from the routing itself, in the format of the client the path belongs to."""
    assert isinstance(exc, HTTPException)
    method, path = request.method, request.url.path
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"method {method} is not allowed on {path} (allowed: {allowed})"
    elif exc.status_code == 404:
        message = f"no such endpoint: {method} {path}"
    else:
        message = str(exc.detail)
    error = HerdError(message, status=exc.status_code, headers=dict(exc.headers or {}))
    return error_response(path, error)


def create_app(settings: RouterSettings, parts: AppParts | None = None) -> Starlette:
    """The router's app over ``parts`` (built from ``settings`` when not given)."""
    ctx = parts or build_parts(settings)

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

    routes = [
        *heartbeats.routes(ctx),
        *fleet.routes(ctx),
        *model_lists.routes(ctx),
        *ollama.routes(ctx),
        *openai.routes(ctx),
        *images.routes(ctx),
        *audio.routes(ctx),
        *openai_responses.routes(ctx),
        *anthropic.routes(ctx),
        *dashboard.routes(ctx),
        *metrics.routes(ctx),
        *pulls.routes(ctx),
        *pages.routes(),
    ]
    guard(routes, ctx.keys)
    app = Starlette(
        routes=routes,
        exception_handlers={
            HerdError: _herd_error,
            HTTPException: _no_route,
            Exception: _unexpected_error,
        },
        lifespan=lifespan,
    )
    app.add_middleware(RequestIds)
    app.state.parts = ctx
    return app


async def _start_services(ctx: AppParts, stack: contextlib.AsyncExitStack) -> None:
    settings = ctx.settings
    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    ctx.identities.load()
    await ctx.store.open()
    stack.push_async_callback(ctx.store.close)
    try:
        since = ctx.clock() - LATENCY_SEED_WINDOW_S
        ctx.latency.seed(await ctx.store.recent_runs(since=since))
        for node_id, model, seconds in await ctx.store.recent_jobs(since=since):
            ctx.latency.observe_job(node_id, model, seconds)
    except Exception:  # a damaged history must not stop the router
        log.exception("could not seed the speed history from the store")
    stack.push_async_callback(ctx.upstream.aclose)
    stack.push_async_callback(ctx.pulls.jobs.aclose)  # runs before the upstream closes

    weekly_path = settings.resolved_data_dir / WEEKLY_FILE
    ctx.registry.weekly = await asyncio.to_thread(load_weekly, weekly_path)
    stack.push_async_callback(lambda: asyncio.to_thread(save_weekly, weekly_path, ctx.registry))
    stack.push_async_callback(ctx.benchmarks.aclose)

    supervisor = ctx.supervisor
    supervisor.observe("trace-writer", lambda: ctx.store.writer_error)
    supervisor.every("reaper", REAPER_PERIOD_S, lambda: _reap(ctx))
    supervisor.every("restorer", RESTORE_PERIOD_S, lambda: _restore(ctx))
    stack.push_async_callback(ctx.restorer.aclose)
    supervisor.every(
        "weekly-save",
        WEEKLY_SAVE_PERIOD_S,
        lambda: asyncio.to_thread(save_weekly, weekly_path, ctx.registry),
    )
    if settings.mdns:
        from router.discovery import RouterAdvertiser

        advertiser = RouterAdvertiser(
            port=settings.port,
            interfaces=settings.mdns_interfaces or None,
            properties={"version": __version__},
        )
        stack.push_async_callback(advertiser.stop)
        supervisor.keep("mdns-advertiser", advertiser.advertise)
    stack.push_async_callback(supervisor.aclose)  # first out: the tasks stop before the rest


async def _restore(ctx: AppParts) -> None:
    """Start loading displaced models back where they ran (``router.restorer``)."""
    await ctx.restorer.run_once()


async def _reap(ctx: AppParts) -> None:
    """Free slots of requests that made no progress for the reaper timeout; forget long-dead
    nodes."""
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


def load_weekly(path: Path) -> WeeklyPatterns:
    """The patterns saved by an earlier run; a missing or damaged file starts afresh."""
    try:
        return WeeklyPatterns.from_json(json.loads(path.read_text()))
    except (OSError, ValueError):
        return WeeklyPatterns()


def save_weekly(path: Path, registry: Registry) -> None:
    """Write and rename; a full or read-only disk keeps the old file and the patterns in memory."""
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(registry.weekly.to_json(), separators=(",", ":")))
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        log.warning("could not save the weekly patterns to %s: %s", path, exc)
