"""The management API under ``/dashboard/api/``, and live updates at ``/dashboard/events``.

Reads go to the store (SQL aggregates) and the registry, and are shaped by the pure modules
(``store.shapes``, ``health``, ``recommendations``, ``management``). Changes (settings,
delete, benchmarks; pulls in ``router.api.pulls``) are administrative: their routes declare it.
Query parameters are validated and a bad one is a 400 that names it.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from router import __version__, health, management, recommendations
from router.api.access import route
from router.api.bodies import INT64, read_json_object
from router.api.intake import model_and_node
from router.api.responses import json_response
from router.benchmarks import BenchmarkParams
from router.config import write_persisted_toggles
from router.errors import BadRequest, InsufficientStorage, NotFound
from router.fleet_view import fleet_status
from router.logs import log_write_errors
from router.measures import ALL_STATUSES
from router.model_names import normalize
from router.parts import AppParts
from router.store import TraceStore
from router.wire import NodeView

DAY = 86_400.0
TRACE_STATUSES = ALL_STATUSES


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, got {value}")
    return value


def float_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number (epoch seconds), got {raw!r}") from None
    if not math.isfinite(value):
        raise BadRequest(f"{name} must be a finite number, got {raw!r}")
    if value < 0:
        raise BadRequest(f"{name} must not be negative")
    return value


def router_vitals(store: TraceStore) -> health.RouterVitals:
    """The router's own write failures, for health and ``/fleet/status``."""
    return health.RouterVitals(
        traces_dropped=store.dropped,
        last_error=store.stats()["last_error"],
        log_write_errors=log_write_errors(),
    )


def routes(ctx: AppParts) -> list[Route]:
    runner = ctx.benchmarks
    hub = ctx.events
    store = ctx.store

    def views() -> list[NodeView]:
        now = ctx.clock()
        return fleet_status(ctx.registry.with_status(now), ctx.queues.stats(), now).nodes

    async def usage(request: Request) -> Response:
        days = int_param(request, "days", 7, 1, 365)
        now = ctx.clock()
        data = await store.usage(since=now - days * DAY, until=now)
        return json_response({"window_days": days, **data})

    async def traces(request: Request) -> Response:
        limit = int_param(request, "limit", 100, 1, 1000)
        status = request.query_params.get("status") or None
        if status is not None and status not in TRACE_STATUSES:
            raise BadRequest(f"status must be one of {', '.join(TRACE_STATUSES)}")
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
                nodes=views(),
                router_version=__version__,
                now=now,
                traffic=management.traffic_stats(counts, reasons, ttft, DAY),
                per_node_requests=merged,
                fleet_token_set=bool(s.fleet_token),
                api_key_set=bool(s.api_key),
                admin_key_set=bool(s.admin_key),
                tasks=ctx.supervisor.snapshot(),
                store=router_vitals(store),
            )
        )
        return json_response(report.model_dump(mode="json"))

    async def recommendations_report(request: Request) -> Response:
        days = int_param(request, "days", 7, 1, 365)
        now = ctx.clock()
        rows = await store.node_model_usage(since=now - days * DAY, until=now)
        live = [v for v in views() if v.status != "offline"]
        report = recommendations.recommend(live, management.usage_summary(rows, days))
        return json_response(report.model_dump(mode="json"))

    async def settings_get(request: Request) -> Response:
        return json_response(management.settings_view(ctx.settings, views(), __version__))

    async def settings_post(request: Request) -> Response:
        body = await read_json_object(request, 65_536)
        try:
            updated = management.apply_toggle_changes(ctx.settings.toggles, body)
        except management.SettingsError as exc:
            raise BadRequest(str(exc)) from None
        try:
            write_persisted_toggles(ctx.settings.toggles_path, updated)
        except OSError as exc:
            raise InsufficientStorage(
                f"the settings were not changed: could not save {ctx.settings.toggles_path.name} "
                f"({exc.strerror or exc}); free space on the router's data disk"
            ) from None
        ctx.settings.toggles = updated
        store.set_retention_days(updated.trace_retention_days)
        changed = {k: getattr(updated, k) for k in body}
        return json_response({"updated": changed, "toggles": updated.model_dump()})

    async def model_management(request: Request) -> Response:
        now = ctx.clock()
        rows = await store.node_model_usage(since=now - 30 * DAY, until=now)
        return json_response(management.model_management(views(), rows))

    async def delete(request: Request) -> Response:
        body = await read_json_object(request, 65_536)
        model, node_id = model_and_node(body, node_required=True)
        assert node_id is not None  # node_required
        record = ctx.registry.get(node_id)
        if record is None:
            raise NotFound(f"unknown node {node_id!r}")
        wanted = normalize(model)
        entry = next(
            (m for m in record.heartbeat.ollama.models_available if normalize(m.name) == wanted),
            None,
        )
        if entry is None:
            raise NotFound(f"model {model!r} is not on node {node_id!r}")
        ok, problem = await ctx.pulls.delete(record, entry.name)
        result: dict[str, Any] = {
            "ok": ok,
            "model": entry.name,
            "node_id": node_id,
            "freed_gb": round(entry.size / 1e9, 2) if ok else 0.0,
        }
        if problem:
            result["error"] = problem
        return json_response(result, status=200 if ok else 502)

    async def events(request: Request) -> Response:
        limit = int_param(request, "limit", 0, 0, 100_000) or None
        return StreamingResponse(
            hub.stream(limit=limit),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    async def benchmark_start(request: Request) -> Response:
        body = await read_json_object(request, 65_536)
        try:
            params = BenchmarkParams.model_validate(body)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise BadRequest(f"{where}: {first['msg']}") from None
        run = await runner.start(params)
        return json_response(run.progress(ctx.clock()), status=202)

    async def benchmark_list(request: Request) -> Response:
        limit = int_param(request, "limit", 20, 1, 200)
        runs = await store.list_benchmark_runs(limit)
        for run in runs:
            live = runner.runs.get(run["id"])
            if live is not None and live.status == "running":
                run["live"] = live.progress(ctx.clock())
        return json_response({"runs": runs})

    async def benchmark_get(request: Request) -> Response:
        run_id = _run_id(request)
        live = runner.runs.get(run_id)
        stored = await store.get_benchmark_run(run_id)
        if stored is None:
            raise NotFound(f"no benchmark run {run_id}")
        if live is not None:
            stored["live"] = live.progress(ctx.clock())
        return json_response(stored)

    async def benchmark_cancel(request: Request) -> Response:
        run_id = _run_id(request)
        run = runner.cancel(run_id)
        if run is None:
            raise NotFound(f"no benchmark run {run_id} in this router process")
        return json_response(run.progress(ctx.clock()))

    return [
        route("/dashboard/api/usage", usage, methods=["GET"], access="use"),
        route("/dashboard/api/traces", traces, methods=["GET"], access="use"),
        route("/dashboard/api/models", models, methods=["GET"], access="use"),
        route("/dashboard/api/apps", apps, methods=["GET"], access="use"),
        route("/dashboard/api/trends", trends, methods=["GET"], access="use"),
        route("/dashboard/api/health", health_report, methods=["GET"], access="use"),
        route(
            "/dashboard/api/recommendations", recommendations_report, methods=["GET"], access="use"
        ),
        route("/dashboard/api/settings", settings_get, methods=["GET"], access="use"),
        route("/dashboard/api/settings", settings_post, methods=["POST"], access="admin"),
        route("/dashboard/api/model-management", model_management, methods=["GET"], access="use"),
        route("/dashboard/api/delete", delete, methods=["POST"], access="admin"),
        route("/dashboard/api/benchmarks", benchmark_list, methods=["GET"], access="use"),
        route("/dashboard/api/benchmarks/start", benchmark_start, methods=["POST"], access="admin"),
        route("/dashboard/api/benchmarks/{run_id}", benchmark_get, methods=["GET"], access="use"),
        route(
            "/dashboard/api/benchmarks/{run_id}/cancel",
            benchmark_cancel,
            methods=["POST"],
            access="admin",
        ),
        route("/dashboard/events", events, methods=["GET"], access="use"),
    ]


def _run_id(request: Request) -> int:
    raw = request.path_params["run_id"]
    try:
        run_id = int(raw)
    except ValueError:
        raise BadRequest(f"benchmark run id must be a number, got {raw!r}") from None
    if not 0 < run_id <= INT64:
        raise NotFound(f"no benchmark run {raw}")
    return run_id
