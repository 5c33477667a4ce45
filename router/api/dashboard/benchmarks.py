"""Fleet benchmark runs over HTTP: start one (administrative), list and read runs with their live
progress, cancel one."""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from router.api.access import route
from router.api.bodies import INT64, read_json_object
from router.api.dashboard.params import int_param
from router.api.responses import json_response
from router.benchmarks import BenchmarkParams
from router.errors import BadRequest, NotFound
from router.parts import AppParts


def routes(ctx: AppParts) -> list[Route]:
    runner = ctx.benchmarks
    store = ctx.store

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
        route("/dashboard/api/benchmarks", benchmark_list, methods=["GET"], access="use"),
        route("/dashboard/api/benchmarks/start", benchmark_start, methods=["POST"], access="admin"),
        route("/dashboard/api/benchmarks/{run_id}", benchmark_get, methods=["GET"], access="use"),
        route(
            "/dashboard/api/benchmarks/{run_id}/cancel",
            benchmark_cancel,
            methods=["POST"],
            access="admin",
        ),
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
