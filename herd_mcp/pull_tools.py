"""herd's pull tools: ``pull_model`` (confirmed, then a router job followed for a bounded time),
``pull_status`` (any job, running or recently ended) and ``cancel_pull`` (confirmed).

A pull is a job on the router (``/dashboard/api/pulls``) that outlives the tool call: ``pull_model``
starts it after the user's yes, reports its progress as MCP progress notifications while the client
stays, and returns within ``wait_s`` seconds with the job's state. A client that gives up, or a call
that returns while the download goes on, leaves the job running; ``pull_status`` follows it and
``cancel_pull`` stops it.

Owns those tools' names, arguments and results. It must never act without the user's yes, never
restart or stop the router or an agent. No ``from __future__ import annotations``: the SDK
evaluates the ``Resolve(...)`` annotations.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from mcp.server.mcpserver import Context, ElicitationResult, Resolve
from pydantic import Field

from herd_mcp import advice
from herd_mcp.client import RouterApiError, RouterClient, RouterUnreachable
from herd_mcp.confirmation import Confirmation, ConfirmToken, plan_facts, question, settle
from herd_mcp.failures import failure_text, router_errors
from herd_mcp.guard import ConfirmationGuard
from herd_mcp.models import CancelPullResult, ChangeStatus, PullResult, PullStatusResult
from herd_mcp.panel import PANEL_META
from herd_mcp.plans import CancelPlan, PullPlan, plan_cancel, plan_pull
from herd_mcp.registration import READ, Tool, changing
from herd_mcp.router_views import PullJob

DEFAULT_WAIT_S = 50.0
"""How long ``pull_model`` follows a job before it returns: under the minute most clients wait."""
MAX_WAIT_S = 600.0

Sleep = Callable[[float], Awaitable[None]]


def job_line(job: PullJob) -> str:
    """One job in a sentence: model, node, state and how far it got."""
    done = f"{job.completed_bytes / 1e9:.2f} of {job.total_bytes / 1e9:.2f} GB"
    percent = f"{job.percent:.0f}%" if job.percent is not None else "starting"
    rate = f", {job.rate_bytes_per_s / 1e6:.1f} MB/s" if job.rate_bytes_per_s else ""
    eta = f", about {job.eta_s:.0f}s left" if job.eta_s is not None else ""
    if job.state == "running":
        return f"{job.model} onto {job.node_id}: {percent} ({done}{rate}{eta}) [{job.id}]"
    if job.state == "done":
        return f"{job.model} onto {job.node_id}: done ({done}) [{job.id}]"
    return f"{job.model} onto {job.node_id}: {job.state}: {job.error or job.status} [{job.id}]"


async def follow(
    client: RouterClient,
    job: PullJob,
    ctx: Context,
    deadline: float,
    *,
    clock: Callable[[], float],
    sleep: Sleep,
    poll_s: float,
) -> PullJob:
    """Read ``job`` every ``poll_s`` until it ends or ``deadline`` passes, reporting progress to
    the client on the way; the job as last read."""
    reported = -1
    while True:
        if job.completed_bytes > reported:
            reported = job.completed_bytes
            await ctx.report_progress(job.completed_bytes, job.total_bytes or None, job_line(job))
        if job.state != "running" or clock() >= deadline:
            return job
        await sleep(min(poll_s, max(0.0, deadline - clock())))
        job = await client.pull_job(job.id)


def register_pull_tools(
    tool: Tool,
    client: RouterClient,
    guard: ConfirmationGuard[Any],
    *,
    clock: Callable[[], float],
    sleep: Sleep,
    poll_s: float,
) -> None:
    """Register ``pull_model``, ``pull_status`` and ``cancel_pull`` for ``client``'s router;
    ``poll_s`` is how often a followed job is read, ``clock`` and ``sleep`` time the bound."""
    register_pull_model(tool, client, guard, clock=clock, sleep=sleep, poll_s=poll_s)
    register_pull_status(tool, client)
    register_cancel_pull(tool, client, guard)


def register_pull_model(
    tool: Tool,
    client: RouterClient,
    guard: ConfirmationGuard[Any],
    *,
    clock: Callable[[], float],
    sleep: Sleep,
    poll_s: float,
) -> None:
    """Register ``pull_model``: plan, confirm, start the job, follow it until ``wait_s``."""

    async def pull_plan(model: str, node: str | None) -> PullPlan:
        try:
            view = await client.pull_plan(model, node)
        except RouterApiError as exc:
            if exc.status in (400, 404):
                return PullPlan(model=model, node_id=node, problem=exc.message)
            raise
        plan = plan_pull(view)
        if plan.problem == "no node is online":
            plan.problem = advice.NO_NODE
        return plan

    @tool(
        "pull_model",
        changing(destructive=False, idempotent=True, open_world=True),
        "Pull a model onto a node",
        PANEL_META,
    )
    async def pull_model(
        model: Annotated[str, Field(description="Model to download, e.g. qwen3:8b")],
        plan: Annotated[PullPlan, Resolve(pull_plan)],
        answer: Annotated[ElicitationResult[Confirmation], Resolve(question(pull_plan))],
        ctx: Context,
        node: Annotated[
            str | None, Field(description="Node id; omitted: the best-fitting online node")
        ] = None,
        wait_s: Annotated[
            float,
            Field(ge=0, le=MAX_WAIT_S, description="Follow the download this long, then return"),
        ] = DEFAULT_WAIT_S,
        confirm_token: ConfirmToken = None,
    ) -> PullResult:
        """Download a model from the Ollama library onto one node. Asks the user first (model,
        node, download size, free disk); without elicitation the first call only returns a
        preview and a confirm_token, and a second call with that token pulls. The download runs
        on the router as a job: this call reports progress and returns within wait_s seconds
        with the job's state; the job goes on after it (pull_status follows it, cancel_pull
        stops it)."""
        return await settle(
            tool_name="pull_model",
            verb="pulled",
            result=PullResult,
            guard=guard,
            binding={"model": model, "node": node},
            plan=plan,
            answer=answer,
            confirm_token=confirm_token,
            act=lambda chosen: _start(chosen, ctx, wait_s),
        )

    async def _start(plan: PullPlan, ctx: Context, wait_s: float) -> PullResult:
        assert plan.node_id is not None
        facts = plan_facts(plan, PullResult)
        try:
            job = await client.start_pull(plan.model, plan.node_id)
            deadline = clock() + wait_s
            job = await follow(client, job, ctx, deadline, clock=clock, sleep=sleep, poll_s=poll_s)
        except (RouterUnreachable, RouterApiError) as exc:
            return PullResult(status="failed", message=await failure_text(client, exc), **facts)
        status: ChangeStatus = "failed"
        if job.state in ("running", "done"):
            status = "running" if job.state == "running" else "done"
        return PullResult(
            status=status,
            message=_outcome(job),
            job_id=job.id,
            job=job,
            **facts,
        )


def register_pull_status(tool: Tool, client: RouterClient) -> None:
    """Register ``pull_status``."""

    @tool("pull_status", READ, "Pull progress", PANEL_META)
    async def pull_status(
        job_id: Annotated[
            str | None, Field(description="One job (from pull_model); omitted: every job")
        ] = None,
    ) -> PullStatusResult:
        """The router's pull jobs: each running pull and those ended in the last ten minutes,
        with bytes done, rate, time left and how it ended. Pulls started by pull_model, the
        dashboard, `herd pull` or `ollama pull` against the router all show here."""
        async with router_errors(client):
            jobs = [await client.pull_job(job_id)] if job_id else await client.pull_jobs()
        running = sum(1 for j in jobs if j.state == "running")
        summary = f"{running} running, {len(jobs) - running} ended recently" if jobs else "no pulls"
        return PullStatusResult(
            pulls=jobs, count=len(jobs), summary=summary, lines=[job_line(j) for j in jobs]
        )


def register_cancel_pull(tool: Tool, client: RouterClient, guard: ConfirmationGuard[Any]) -> None:
    """Register ``cancel_pull``: plan from the job, confirm, cancel on the router."""

    async def cancel_plan(job_id: str) -> CancelPlan:
        try:
            job = await client.pull_job(job_id)
        except RouterApiError as exc:
            if exc.status == 404:
                return CancelPlan(job_id=job_id, problem=exc.message)
            raise
        return plan_cancel(job, job_line(job))

    @tool(
        "cancel_pull",
        changing(destructive=True, idempotent=True, open_world=False),
        "Stop a pull",
    )
    async def cancel_pull(
        job_id: Annotated[str, Field(description="The job to stop (pull_model, pull_status)")],
        plan: Annotated[CancelPlan, Resolve(cancel_plan)],
        answer: Annotated[ElicitationResult[Confirmation], Resolve(question(cancel_plan))],
        confirm_token: ConfirmToken = None,
    ) -> CancelPullResult:
        """Stop a running pull job. Asks the user first (model, node, how far it got); without
        elicitation the first call only returns a preview and a confirm_token, and a second call
        with that token stops it."""
        return await settle(
            tool_name="cancel_pull",
            verb="stopped",
            result=CancelPullResult,
            guard=guard,
            binding={"job_id": job_id},
            plan=plan,
            answer=answer,
            confirm_token=confirm_token,
            act=_cancel,
        )

    async def _cancel(plan: CancelPlan) -> CancelPullResult:
        facts = plan_facts(plan, CancelPullResult)
        try:
            job = await client.cancel_pull(plan.job_id)
        except (RouterUnreachable, RouterApiError) as exc:
            text = await failure_text(client, exc)
            return CancelPullResult(status="failed", message=text, **facts)
        stopped = job.state == "cancelled"
        return CancelPullResult(
            status="done" if stopped else "failed",
            message=f"Stopped: {job_line(job)}." if stopped else f"Not stopped: {job_line(job)}.",
            job=job,
            **facts,
        )


def _outcome(job: PullJob) -> str:
    if job.state == "done":
        return f"Pulled {job.model} onto {job.node_id}."
    if job.state == "running":
        return (
            f"The pull goes on on the router: {job_line(job)}. It does not need this call; "
            f'follow it with pull_status(job_id="{job.id}") or stop it with cancel_pull.'
        )
    return f"The pull of {job.model} on {job.node_id} {job.state}: {job.error or job.status}."
