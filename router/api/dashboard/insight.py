"""The dashboard's judgements: the health report (checks over the fleet, the traffic of the last
day, the router's own failures and background tasks) and the model recommendations."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from herd_contract.logs import log_write_errors
from router import __version__, health, management, recommendations
from router.api.access import route
from router.api.dashboard.params import DAY, int_param, node_views
from router.api.responses import json_response
from router.auth import is_loopback
from router.parts import AppParts
from router.store import TraceStore


def routes(ctx: AppParts) -> list[Route]:
    store = ctx.store

    async def health_report(request: Request) -> Response:
        now = ctx.clock()
        since = now - DAY
        counts = await store.health_counts(since=since, until=now)
        reasons = await store.fallback_reasons(since=since, until=now)
        ttft = await store.ttft_p50(since=since, until=now)
        per_node = {
            row["node_id"]: int(row["requests"])
            for row in await store.node_model_usage(since=since, until=now)
            if row["node_id"]
        }
        merged: dict[str, int] = {}
        for node_id, count in per_node.items():
            merged[node_id] = merged.get(node_id, 0) + count
        s = ctx.settings
        report = health.evaluate(
            health.HealthInputs(
                nodes=node_views(ctx),
                router_version=__version__,
                now=now,
                traffic=management.traffic_stats(counts, reasons, ttft, DAY),
                per_node_requests=merged,
                fleet_token_set=bool(s.fleet_token),
                api_key_set=bool(s.api_key),
                admin_key_set=bool(s.admin_key),
                listens_on_network=not is_loopback(s.host),
                tasks=ctx.supervisor.snapshot(),
                store=router_vitals(store),
            )
        )
        return json_response(report.model_dump(mode="json"))

    async def recommendations_report(request: Request) -> Response:
        days = int_param(request, "days", 7, 1, 365)
        now = ctx.clock()
        rows = await store.node_model_usage(since=now - days * DAY, until=now)
        live = [v for v in node_views(ctx) if v.status != "offline"]
        report = recommendations.recommend(live, management.usage_summary(rows, days))
        return json_response(report.model_dump(mode="json"))

    return [
        route("/dashboard/api/health", health_report, methods=["GET"], access="use"),
        route(
            "/dashboard/api/recommendations", recommendations_report, methods=["GET"], access="use"
        ),
    ]


def router_vitals(store: TraceStore) -> health.RouterVitals:
    """The router's own write failures, for health and ``/fleet/status``."""
    return health.RouterVitals(
        traces_dropped=store.dropped,
        last_error=store.stats()["last_error"],
        log_write_errors=log_write_errors(),
    )
