"""herd's changing tools: ``pull_model``, ``delete_model`` and ``update_settings``, each planned
from the router's current state, confirmed by the user (``herd_mcp.confirmation``), then done
through the router's API.

Owns those tools' names, descriptions, arguments, plans and results, and how a pull's progress is
reported. It must never act without the user's yes (an elicited confirmation or a redeemed token),
never restart or stop the router or an agent, and never touch ``~/.fleet-manager``. No
``from __future__ import annotations``: the SDK evaluates the ``Resolve(...)`` annotations.
"""

import json
from typing import Annotated, Any

from mcp.server.mcpserver import Context, ElicitationResult, Resolve
from pydantic import Field

from herd_mcp import advice
from herd_mcp.client import RouterApiError, RouterClient, RouterUnreachable
from herd_mcp.confirmation import Confirmation, ConfirmToken, plan_facts, question, settle
from herd_mcp.failures import failure_text, router_errors
from herd_mcp.guard import ConfirmationGuard
from herd_mcp.models import DeleteResult, PullResult, SettingsUpdateResult, SettingValue
from herd_mcp.plans import DeletePlan, PullPlan, SettingsPlan, plan_delete, plan_pull, plan_settings
from herd_mcp.registration import Tool, changing


def register_change_tools(tool: Tool, client: RouterClient, guard: ConfirmationGuard[Any]) -> None:
    """Register ``pull_model``, ``delete_model`` and ``update_settings`` for ``client``'s router,
    their confirmation tokens kept by ``guard``."""

    async def pull_plan(model: str, node: str | None) -> PullPlan:
        async with router_errors(client):
            status = await client.fleet_status()
        plan = plan_pull(status, model, node)
        if plan.problem == "no node is online":
            plan.problem = advice.NO_NODE
        return plan

    @tool(
        "pull_model",
        changing(destructive=False, idempotent=True, open_world=True),
        "Pull a model onto a node",
    )
    async def pull_model(
        model: Annotated[str, Field(description="Model to download, e.g. qwen3:8b")],
        plan: Annotated[PullPlan, Resolve(pull_plan)],
        answer: Annotated[ElicitationResult[Confirmation], Resolve(question(pull_plan))],
        ctx: Context,
        node: Annotated[
            str | None, Field(description="Node id; omitted: the best-fitting online node")
        ] = None,
        confirm_token: ConfirmToken = None,
    ) -> PullResult:
        """Download a model from the Ollama library onto one node, with progress. Asks the user
        first (model, node, download size, free disk); without elicitation the first call only
        returns a preview and a confirm_token, and a second call with that token pulls."""
        return await settle(
            tool_name="pull_model",
            verb="pulled",
            result=PullResult,
            guard=guard,
            binding={"model": model, "node": node},
            plan=plan,
            answer=answer,
            confirm_token=confirm_token,
            act=lambda chosen: _pull(chosen, ctx),
        )

    async def _pull(plan: PullPlan, ctx: Context) -> PullResult:
        assert plan.node_id is not None
        totals: dict[str, int] = {}
        done: dict[str, int] = {}
        reported = 0
        updates = 0
        last: str | None = None
        try:
            async for line in client.pull(plan.model, plan.node_id):
                last = str(line.get("status", last))
                digest = line.get("digest")
                if isinstance(digest, str) and isinstance(line.get("total"), int):
                    totals[digest] = line["total"]
                    done[digest] = max(done.get(digest, 0), int(line.get("completed") or 0))
                progress = sum(done.values())
                if last == "success" and totals:
                    progress = sum(totals.values())
                if progress > reported:
                    reported = progress
                    updates += 1
                    await ctx.report_progress(progress, sum(totals.values()) or None, last)
        except (RouterUnreachable, RouterApiError) as exc:
            status, message = "failed", await failure_text(client, exc)
        else:
            if last == "success":
                status, message = "done", f"Pulled {plan.model} onto {plan.node_id}."
            else:
                status = "failed"
                message = (
                    f"The pull of {plan.model} on {plan.node_id} ended without success "
                    f"(last status: {last}). "
                    + advice.api_error("POST", "/api/pull", 200, str(last))
                )
        return PullResult(
            status=status,
            message=message,
            progress_updates=updates,
            final_status=last,
            **plan_facts(plan, PullResult),
        )

    async def delete_plan(model: str, node: str) -> DeletePlan:
        async with router_errors(client):
            status = await client.fleet_status()
        return plan_delete(status, model, node)

    @tool(
        "delete_model",
        changing(destructive=True, idempotent=True, open_world=False),
        "Delete a model from a node",
    )
    async def delete_model(
        model: Annotated[str, Field(description="Model to delete, e.g. qwen3:8b")],
        node: Annotated[str, Field(description="Node id to delete it from (one node only)")],
        plan: Annotated[DeletePlan, Resolve(delete_plan)],
        answer: Annotated[ElicitationResult[Confirmation], Resolve(question(delete_plan))],
        confirm_token: ConfirmToken = None,
    ) -> DeleteResult:
        """Delete a model from one node's disk. Asks the user first (model, node, GB freed, free
        disk); without elicitation the first call only returns a preview and a confirm_token, and
        a second call with that token deletes."""
        return await settle(
            tool_name="delete_model",
            verb="deleted",
            result=DeleteResult,
            guard=guard,
            binding={"model": model, "node": node},
            plan=plan,
            answer=answer,
            confirm_token=confirm_token,
            act=_delete,
        )

    async def _delete(plan: DeletePlan) -> DeleteResult:
        facts = plan_facts(plan, DeleteResult)
        try:
            data = await client.delete(plan.model, plan.node_id)
        except (RouterUnreachable, RouterApiError) as exc:
            return DeleteResult(status="failed", message=await failure_text(client, exc), **facts)
        deleted = [str(n) for n in data.get("deleted", [])]
        ok = plan.node_id in deleted
        return DeleteResult(
            status="done" if ok else "failed",
            message=f"Deleted {plan.model} from {plan.node_id}."
            if ok
            else advice.api_error("DELETE", "/api/delete", 200, json.dumps(data, sort_keys=True)),
            deleted=deleted,
            **facts,
        )

    async def settings_plan(
        auto_pull: bool | None,
        vram_fallback: bool | None,
        context_protection: bool | None,
        session_affinity: bool | None,
        zombie_reaper: bool | None,
        reaper_timeout_s: float | None,
        max_retries: int | None,
        trace_retention_days: int | None,
    ) -> SettingsPlan:
        changes = _changes(
            auto_pull=auto_pull,
            vram_fallback=vram_fallback,
            context_protection=context_protection,
            session_affinity=session_affinity,
            zombie_reaper=zombie_reaper,
            reaper_timeout_s=reaper_timeout_s,
            max_retries=max_retries,
            trace_retention_days=trace_retention_days,
        )
        async with router_errors(client):
            current = (await client.settings()).get("toggles", {}) or {}
        return plan_settings(current, changes)

    @tool(
        "update_settings",
        changing(destructive=True, idempotent=True, open_world=False),
        "Change router settings",
    )
    async def update_settings(
        plan: Annotated[SettingsPlan, Resolve(settings_plan)],
        answer: Annotated[ElicitationResult[Confirmation], Resolve(question(settings_plan))],
        auto_pull: Annotated[
            bool | None, Field(description="Pull a model missing everywhere")
        ] = None,
        vram_fallback: Annotated[
            bool | None, Field(description="Serve with a loaded model of the same kind")
        ] = None,
        context_protection: Annotated[
            bool | None, Field(description="Drop a num_ctx that would force a reload")
        ] = None,
        session_affinity: Annotated[
            bool | None, Field(description="Keep a conversation on one node")
        ] = None,
        zombie_reaper: Annotated[bool | None, Field(description="Free stalled slots")] = None,
        reaper_timeout_s: Annotated[float | None, Field(gt=0, le=86_400)] = None,
        max_retries: Annotated[int | None, Field(ge=0, le=5)] = None,
        trace_retention_days: Annotated[int | None, Field(ge=1, le=3650)] = None,
        confirm_token: ConfirmToken = None,
    ) -> SettingsUpdateResult:
        """Change the router's runtime toggles (only the ones given). Asks the user first, showing
        each old and new value; without elicitation the first call only returns a preview and a
        confirm_token, and a second call with that token applies the change."""
        return await settle(
            tool_name="update_settings",
            verb="changed",
            result=SettingsUpdateResult,
            guard=guard,
            binding=dict(plan.changes),
            plan=plan,
            answer=answer,
            confirm_token=confirm_token,
            act=_apply,
        )

    async def _apply(plan: SettingsPlan) -> SettingsUpdateResult:
        facts = plan_facts(plan, SettingsUpdateResult)
        try:
            data = await client.update_settings(dict(plan.changes))
        except (RouterUnreachable, RouterApiError) as exc:
            return SettingsUpdateResult(
                status="failed", message=await failure_text(client, exc), **facts
            )
        return SettingsUpdateResult(
            status="done",
            message="Changed: " + ", ".join(f"{k}={v}" for k, v in sorted(plan.changes.items())),
            toggles=data.get("toggles", {}) or {},
            **facts,
        )


def _changes(**values: SettingValue | None) -> dict[str, SettingValue]:
    return {k: v for k, v in values.items() if v is not None}
