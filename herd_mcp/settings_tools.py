"""herd's settings tools: ``get_settings`` (configuration, toggles, node versions) and
``update_settings`` (confirmed: each old and new value shown, then applied).

Owns those tools' names, descriptions, arguments and results. ``update_settings`` must never act
without the user's yes. No ``from __future__ import annotations``: the SDK evaluates the
``Resolve(...)`` annotations.
"""

from typing import Annotated, Any

from mcp.server.mcpserver import ElicitationResult, Resolve
from pydantic import Field

from herd_mcp.client import RouterApiError, RouterClient, RouterUnreachable
from herd_mcp.confirmation import Confirmation, ConfirmToken, plan_facts, question, settle
from herd_mcp.failures import failure_text, router_errors
from herd_mcp.guard import ConfirmationGuard
from herd_mcp.models import NodeVersion, SettingsResult, SettingsUpdateResult, SettingValue, Toggles
from herd_mcp.plans import SettingsPlan, plan_settings
from herd_mcp.registration import READ, Tool, changing


def register_settings_tools(
    tool: Tool, client: RouterClient, guard: ConfirmationGuard[Any]
) -> None:
    """Register ``get_settings`` and ``update_settings``; confirmation tokens kept by ``guard``."""
    register_get_settings(tool, client)
    register_update_settings(tool, client, guard)


def register_get_settings(tool: Tool, client: RouterClient) -> None:
    """Register ``get_settings``."""

    @tool("get_settings", READ, "Router settings")
    async def get_settings() -> SettingsResult:
        """The router's configuration, its runtime toggles (auto_pull, vram_fallback,
        context_protection, session_affinity, zombie_reaper, restore_evicted, resume_streams,
        reaper_timeout_s,
        max_retries,
        trace_retention_days) and the agent and Ollama version of every node."""
        async with router_errors(client):
            data = await client.settings()
        return SettingsResult(
            toggles=Toggles.model_validate(data.get("toggles", {})),
            config=data.get("config", {}) or {},
            nodes=[NodeVersion.model_validate(n) for n in data.get("nodes", []) or []],
            router_version=str(data.get("router_version", "") or ""),
        )


def register_update_settings(
    tool: Tool, client: RouterClient, guard: ConfirmationGuard[Any]
) -> None:
    """Register ``update_settings``: plan from the current toggles, confirm, apply."""

    async def settings_plan(
        auto_pull: bool | None,
        vram_fallback: bool | None,
        context_protection: bool | None,
        session_affinity: bool | None,
        zombie_reaper: bool | None,
        restore_evicted: bool | None,
        resume_streams: bool | None,
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
            restore_evicted=restore_evicted,
            resume_streams=resume_streams,
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
        restore_evicted: Annotated[
            bool | None, Field(description="Load evicted models back where they ran")
        ] = None,
        resume_streams: Annotated[
            bool | None, Field(description="Go on with a broken stream on another node")
        ] = None,
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
