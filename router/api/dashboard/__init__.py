"""The management API under ``/dashboard/api/``, and live updates at ``/dashboard/events``.

One module per concern: ``stats`` (usage, traces, models, apps, trends), ``insight`` (health,
recommendations), ``settings``, ``node_models`` (model management, delete), ``benchmarks``, and
``params`` (query parameters, node views). Reads go to the store (SQL aggregates) and the
registry and are shaped by the pure modules; changes are administrative and their routes declare
it (pulls live in ``router.api.pulls``). Query parameters are validated and a bad one is a 400
that names it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from router.api.access import route
from router.api.dashboard import benchmarks, insight, node_models, settings, stats
from router.api.dashboard.params import int_param
from router.parts import AppParts


def routes(ctx: AppParts) -> list[Route]:
    hub = ctx.events

    async def events(request: Request) -> Response:
        limit = int_param(request, "limit", 0, 0, 100_000) or None
        return StreamingResponse(
            hub.stream(limit=limit),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    return [
        *stats.routes(ctx),
        *insight.routes(ctx),
        *settings.routes(ctx),
        *node_models.routes(ctx),
        *benchmarks.routes(ctx),
        route("/dashboard/events", events, methods=["GET"], access="use"),
    ]
