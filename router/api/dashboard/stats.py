"""Traffic statistics for the dashboard: usage per node and model, the trace list, model
insights, apps (tags) and hourly trends, read from the store's aggregates."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from herd_contract.model_names import normalize
from router.api.access import route
from router.api.dashboard.params import DAY, float_param, int_param
from router.api.responses import json_response
from router.errors import BadRequest
from router.measures import ALL_STATUSES
from router.parts import AppParts


def routes(ctx: AppParts) -> list[Route]:
    store = ctx.store

    async def usage(request: Request) -> Response:
        days = int_param(request, "days", 7, 1, 365)
        now = ctx.clock()
        data = await store.usage(since=now - days * DAY, until=now)
        return json_response({"window_days": days, **data})

    async def traces(request: Request) -> Response:
        limit = int_param(request, "limit", 100, 1, 1000)
        status = request.query_params.get("status") or None
        if status is not None and status not in ALL_STATUSES:
            raise BadRequest(f"status must be one of {', '.join(ALL_STATUSES)}")
        model = request.query_params.get("model") or None
        rows = await store.traces(
            limit=limit,
            model=normalize(model) if model else None,
            node_id=request.query_params.get("node_id") or None,
            status=status,
            tag=request.query_params.get("tag") or None,
            since=float_param(request, "since"),
        )
        return json_response({"traces": rows, "count": len(rows), "limit": limit})

    async def models(request: Request) -> Response:
        days = int_param(request, "days", 7, 1, 365)
        now = ctx.clock()
        rows = await store.model_stats(since=now - days * DAY, until=now)
        return json_response({"days": days, "models": rows})

    async def apps(request: Request) -> Response:
        days = int_param(request, "days", 7, 1, 365)
        now = ctx.clock()
        since = now - days * DAY
        stats = await store.tag_stats(since=since, until=now)
        daily = await store.tag_daily(since=since, until=now)
        return json_response({"days": days, "apps": stats, "daily": daily})

    async def trends(request: Request) -> Response:
        hours = int_param(request, "hours", 24, 1, 720)
        data = await store.hourly_trends(now=ctx.clock(), hours=hours)
        return json_response({"hours": hours, **data})

    return [
        route("/dashboard/api/usage", usage, methods=["GET"], access="use"),
        route("/dashboard/api/traces", traces, methods=["GET"], access="use"),
        route("/dashboard/api/models", models, methods=["GET"], access="use"),
        route("/dashboard/api/apps", apps, methods=["GET"], access="use"),
        route("/dashboard/api/trends", trends, methods=["GET"], access="use"),
    ]
