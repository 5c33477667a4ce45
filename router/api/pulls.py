"""Pull job endpoints: plan a pull, start one, follow it, list them, cancel one.

``POST /dashboard/api/pulls/plan`` (where it would go, the figures, whether it fits),
``POST /dashboard/api/pulls`` (start, or join the running pull of the same model on the same node:
``202`` with the job; ``400`` with ``plan`` when it cannot fit), ``GET /dashboard/api/pulls``,
``GET /dashboard/api/pulls/{id}``, ``POST /dashboard/api/pulls/{id}/cancel``. The older
``POST /dashboard/api/pull`` is the same as starting a job. Translation only: the jobs live in the
pull coordinator (``router.pulls``, ``router.pull_jobs``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from router.api.access import route
from router.api.bodies import read_json_object
from router.api.intake import model_and_node
from router.api.responses import json_response
from router.errors import NotFound
from router.parts import AppParts
from router.pipeline.pull_jobs import PullJob
from router.pipeline.pulls import PullRefused

MAX_BODY_BYTES = 65_536


def refusal(exc: PullRefused) -> Response:
    """A pull that cannot go ahead: the reason, and the plan with its figures."""
    return json_response({"error": exc.message, "plan": exc.plan.model_dump()}, status=400)


def routes(ctx: AppParts) -> list[Route]:
    def job_of(request: Request) -> PullJob:
        job_id = str(request.path_params["job_id"])
        job = ctx.pulls.jobs.get(job_id)
        if job is None:
            raise NotFound(f"no pull job {job_id} (ended jobs are kept for ten minutes)")
        return job

    async def plan(request: Request) -> Response:
        body = await read_json_object(request, MAX_BODY_BYTES)
        model, node_id = model_and_node(body)
        return json_response(ctx.pulls.plan(model, node_id).model_dump())

    async def start(request: Request) -> Response:
        body = await read_json_object(request, MAX_BODY_BYTES)
        model, node_id = model_and_node(body)
        try:
            job = ctx.pulls.start(model, node_id, "dashboard")
        except PullRefused as exc:
            return refusal(exc)
        return json_response(job.view().model_dump(), status=202)

    async def listing(request: Request) -> Response:
        jobs = ctx.pulls.jobs.all()
        return json_response({"pulls": [j.view().model_dump() for j in jobs]})

    async def one(request: Request) -> Response:
        return json_response(job_of(request).view().model_dump())

    async def cancel(request: Request) -> Response:
        job = job_of(request)
        ctx.pulls.jobs.cancel(job.id)
        if not job.ended:
            await job.wait()
        return json_response(job.view().model_dump())

    return [
        route("/dashboard/api/pulls/plan", plan, methods=["POST"], access="use"),
        route("/dashboard/api/pulls", start, methods=["POST"], access="admin"),
        route("/dashboard/api/pull", start, methods=["POST"], access="admin"),
        route("/dashboard/api/pulls", listing, methods=["GET"], access="use"),
        route("/dashboard/api/pulls/{job_id}", one, methods=["GET"], access="use"),
        route("/dashboard/api/pulls/{job_id}/cancel", cancel, methods=["POST"], access="admin"),
    ]
