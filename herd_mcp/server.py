"""The MCP surface of herd: tools, resources and prompts over the router's HTTP API.

Owns what each tool is called, what it promises (description, typed arguments, a pydantic result,
honest annotations) and the guardrails, which live here and not in a prompt:

- ``pull_model``, ``delete_model`` and ``update_settings`` act only after the user's yes. A client
  with elicitation is asked through the SDK's resolver mechanism (``Resolve`` + ``Elicit``, which
  works on both protocol generations) with a message naming the model, the node, the size in GB
  and the free disk; decline or cancel changes nothing. A client without elicitation gets a
  preview and a one-time token bound to exactly those arguments (``herd_mcp.guard``); only a
  second call with that token acts, and it acts on the plan the preview showed.
- ``read_only=True`` registers no tool that changes anything.
- No tool restarts or stops the router or an agent, and nothing here touches ``~/.fleet-manager``:
  every effect goes through the router's API (``herd_mcp.client``).

Router failures become tool errors with a helpful text (``herd_mcp.advice``) at one edge,
``_router_errors``. Annotations are evaluated eagerly (no ``from __future__ import annotations``):
the SDK reads the ``Resolve(...)`` markers, which name local resolver functions.
"""

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from mcp.server.mcpserver import (
    AcceptedElicitation,
    Context,
    Elicit,
    ElicitationResult,
    MCPServer,
    Resolve,
)
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

from herd_mcp import advice
from herd_mcp.client import RouterApiError, RouterClient, RouterUnreachable
from herd_mcp.guard import ConfirmationGuard
from herd_mcp.models import (
    AppAnalyticsResult,
    DeleteResult,
    FindModelResult,
    FleetStatusResult,
    InferenceResult,
    LoadedEntry,
    LoadedModelsResult,
    ModelInsightsResult,
    ModelListResult,
    NodeProblem,
    NodeVersion,
    PullResult,
    SettingsResult,
    SettingsUpdateResult,
    SettingValue,
    Toggles,
    TraceRow,
    TracesResult,
    UsageResult,
)
from herd_mcp.plans import (
    DeletePlan,
    PullPlan,
    SettingsPlan,
    find,
    model_entries,
    pick_test_model,
    plan_delete,
    plan_pull,
    plan_settings,
)
from router.health import HealthReport
from router.recommendations import RecommendationsReport
from router.wire import FleetStatus

CHANGING_TOOLS = frozenset({"pull_model", "delete_model", "update_settings", "test_inference"})
"""Tools left out by ``--read-only``: they change the fleet or put work on it."""

INSTRUCTIONS = """\
herd turns every device running Ollama into one fleet behind a router. Read tools (fleet_status,
model_list, loaded_models, find_model, traces, health, recommendations, usage, model_insights,
app_analytics, get_settings) are safe at any time. pull_model, delete_model and update_settings
change the fleet: the server asks the user to confirm, or returns a preview with a
confirm_token. Show that preview to the user, wait for their explicit yes, and only then call the
tool again with the same arguments plus confirm_token. Never invent a token. Nothing here restarts
or stops the router or the node agents: when a node is offline, report what to check."""

READ = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)


class Confirmation(BaseModel):
    """The form shown to the user before a change."""

    confirm: bool = Field(title="Go ahead", description="true to make this change, false to stop")


class _NoQuestion:
    """A resolver's answer when it must not ask: a token was given, the plan cannot run, or the
    client has no elicitation (then the two-step token flow applies)."""


NO_QUESTION = _NoQuestion()


@contextlib.asynccontextmanager
async def _router_errors(client: RouterClient) -> AsyncIterator[None]:
    """The one edge where router failures become the helpful text a tool error carries."""
    try:
        yield
    except RouterUnreachable as exc:
        detail = str(exc.cause) or type(exc.cause).__name__
        raise ToolError(advice.unreachable(exc.url, detail)) from exc
    except RouterApiError as exc:
        raise ToolError(await _api_error_text(client, exc)) from exc


async def _api_error_text(client: RouterClient, exc: RouterApiError) -> str:
    log_path = await client.log_path()
    text = advice.api_error(exc.method, exc.path, exc.status, exc.body_text, log_path)
    lowered = exc.message.lower()
    if "no node" in lowered or "no online node" in lowered:
        text += " " + advice.NO_NODE
    return text


def can_elicit(ctx: Context[Any, Any]) -> bool:
    """Whether the client declared form elicitation (a bare ``elicitation: {}`` counts)."""
    try:
        caps = ctx.client_capabilities
    except (ValueError, AttributeError):
        return False
    if caps is None or caps.elicitation is None:
        return False
    return caps.elicitation.form is not None or caps.elicitation.url is None


def _fleet_advice(status: FleetStatus) -> tuple[list[NodeProblem], list[str]]:
    problems = []
    for node in sorted(status.nodes, key=lambda n: n.node_id):
        note = advice.node_problem(node)
        if note is not None:
            problems.append(
                NodeProblem(node_id=node.node_id, status=node.status, what_to_check=note)
            )
    notes = [] if status.fleet.nodes_online else [advice.NO_NODE]
    return problems, notes


def build_server(
    client: RouterClient,
    *,
    read_only: bool = False,
    guard: ConfirmationGuard[Any] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> MCPServer:
    """The MCP server for one router; ``read_only`` leaves out every changing tool."""
    guard = guard if guard is not None else ConfirmationGuard(clock)
    server: MCPServer = MCPServer(
        "herd",
        title="herd: one Ollama fleet",
        instructions=INSTRUCTIONS,
        version=_version(),
    )

    def tool(
        name: str, annotations: ToolAnnotations, title: str
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            if not (read_only and name in CHANGING_TOOLS):
                server.add_tool(
                    fn,
                    name=name,
                    title=title,
                    annotations=annotations.model_copy(update={"title": title}),
                    structured_output=True,
                )
            return fn

        return register

    # --- reads -----------------------------------------------------------------------------------

    @tool("fleet_status", READ, "Fleet status")
    async def fleet_status() -> FleetStatusResult:
        """The whole fleet: every node (online, degraded or offline) with its hardware, memory,
        disk and models; the router's queues; and, for any node that needs attention, what a
        person should check. Offline nodes are reported, never restarted."""
        async with _router_errors(client):
            status = await client.fleet_status()
        problems, notes = _fleet_advice(status)
        return FleetStatusResult(**status.model_dump(), problems=problems, advice=notes)

    @tool("model_list", READ, "Models in the fleet")
    async def model_list() -> ModelListResult:
        """Every model on the fleet's reachable nodes, which nodes hold it, and whether it is hot
        (loaded in memory somewhere) or cold (on disk only; the first request loads it)."""
        async with _router_errors(client):
            status = await client.fleet_status()
        models = model_entries(status)
        _, notes = _fleet_advice(status)
        return ModelListResult(models=models, count=len(models), advice=notes)

    @tool("loaded_models", READ, "Loaded models")
    async def loaded_models() -> LoadedModelsResult:
        """The models loaded in memory right now, one entry per node, with memory used, context
        length and when Ollama will unload them (from the router's merged /api/ps)."""
        async with _router_errors(client):
            data = await client.ps()
        entries = []
        for item in data.get("models", []):
            holders = item.get("nodes") or ([item["node_id"]] if item.get("node_id") else [])
            for node_id in holders or ["?"]:
                entries.append(
                    LoadedEntry(
                        name=str(item.get("name", "")),
                        node_id=str(node_id),
                        size_gb=round(float(item.get("size", 0) or 0) / 1e9, 2),
                        size_vram_gb=round(float(item.get("size_vram", 0) or 0) / 1e9, 2),
                        context_length=int(item.get("context_length", 0) or 0),
                        expires_at=str(item.get("expires_at", "") or ""),
                    )
                )
        notes = [] if entries else ["No model is loaded; the first request for a model loads it."]
        return LoadedModelsResult(models=entries, count=len(entries), advice=notes)

    @tool("find_model", READ, "Find a model")
    async def find_model(
        model: Annotated[str, Field(description="Model name, e.g. llama3.2:3b (tag optional)")],
    ) -> FindModelResult:
        """Which nodes have a model: loaded (hot), on disk (cold), or last reported by a node that
        is unreachable now; suggests other tags of the same model when it is missing."""
        async with _router_errors(client):
            status = await client.fleet_status()
        return find(status, model)

    @tool("traces", READ, "Request traces")
    async def traces(
        limit: Annotated[int, Field(ge=1, le=500, description="How many, newest first")] = 20,
        model: Annotated[str | None, Field(description="Only this model")] = None,
        node_id: Annotated[str | None, Field(description="Only this node")] = None,
        status: Annotated[
            str | None,
            Field(description="completed, failed, retried, client_disconnected, incomplete..."),
        ] = None,
        tag: Annotated[str | None, Field(description="Only requests carrying this tag")] = None,
        since: Annotated[float | None, Field(description="Epoch seconds; only newer")] = None,
    ) -> TracesResult:
        """Recent routing decisions from the router's trace store: model, node, status, latency,
        score, retries, fallbacks, tags and errors of each request."""
        filters = {"model": model, "node_id": node_id, "status": status, "tag": tag, "since": since}
        async with _router_errors(client):
            data = await client.traces(limit, **filters)
        rows = [TraceRow.model_validate(row) for row in data.get("traces", [])]
        kept = {k: v for k, v in filters.items() if v is not None}
        return TracesResult(traces=rows, count=int(data.get("count", len(rows))), filters=kept)

    @tool("health", READ, "Fleet health")
    async def health() -> HealthReport:
        """The router's health checks: a score, an overall status and each finding with the
        numbers behind it and a concrete fix (offline nodes, memory pressure, error and retry
        rates, model thrashing, KV-cache bloat, version mismatches...)."""
        async with _router_errors(client):
            return await client.health()

    @tool("recommendations", READ, "Model recommendations")
    async def recommendations() -> RecommendationsReport:
        """Which models each node should hold, from its memory, disk, the fleet's role split and
        recent usage, with models that could be removed to free disk."""
        async with _router_errors(client):
            return await client.recommendations()

    @tool("usage", READ, "Usage")
    async def usage(
        days: Annotated[int, Field(ge=1, le=365, description="Window in days")] = 7,
    ) -> UsageResult:
        """Requests and tokens over the last days, by model and node, from the trace store."""
        async with _router_errors(client):
            data = await client.usage(days)
        return UsageResult(days=days, usage=data)

    @tool("model_insights", READ, "Model insights")
    async def model_insights(
        days: Annotated[int, Field(ge=1, le=365, description="Window in days")] = 7,
    ) -> ModelInsightsResult:
        """Per-model performance over the last days: request counts, latency percentiles,
        time to first token, tokens per second and error rates."""
        async with _router_errors(client):
            data = await client.model_insights(days)
        models = data.get("models", [])
        extra = {k: v for k, v in data.items() if k != "models"}
        return ModelInsightsResult(days=days, models=models, extra=extra)

    @tool("app_analytics", READ, "App analytics")
    async def app_analytics(
        days: Annotated[int, Field(ge=1, le=365, description="Window in days")] = 7,
    ) -> AppAnalyticsResult:
        """Traffic per application tag (metadata.tags, X-Herd-Tags, OpenAI user) over the last
        days: requests, tokens, latency and errors of each."""
        async with _router_errors(client):
            data = await client.apps(days)
        apps = data.get("apps", [])
        extra = {k: v for k, v in data.items() if k != "apps"}
        return AppAnalyticsResult(days=days, apps=apps, extra=extra)

    @tool("get_settings", READ, "Router settings")
    async def get_settings() -> SettingsResult:
        """The router's configuration, its runtime toggles (auto_pull, vram_fallback,
        context_protection, session_affinity, zombie_reaper, reaper_timeout_s, max_retries,
        trace_retention_days) and the agent and Ollama version of every node."""
        async with _router_errors(client):
            data = await client.settings()
        return SettingsResult(
            toggles=Toggles.model_validate(data.get("toggles", {})),
            config=data.get("config", {}) or {},
            nodes=[NodeVersion.model_validate(n) for n in data.get("nodes", []) or []],
            router_version=str(data.get("router_version", "") or ""),
        )

    # --- pull ------------------------------------------------------------------------------------

    async def pull_plan(model: str, node: str | None) -> PullPlan:
        async with _router_errors(client):
            status = await client.fleet_status()
        plan = plan_pull(status, model, node)
        if plan.problem == "no node is online":
            plan.problem = advice.NO_NODE
        return plan

    async def pull_question(
        plan: Annotated[PullPlan, Resolve(pull_plan)],
        confirm_token: str | None,
        ctx: Context,
    ) -> Elicit[Confirmation] | _NoQuestion:
        if plan.problem or confirm_token or not can_elicit(ctx):
            return NO_QUESTION
        return Elicit(plan.question, Confirmation)

    @tool(
        "pull_model",
        ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=True,
        ),
        "Pull a model onto a node",
    )
    async def pull_model(
        model: Annotated[str, Field(description="Model to download, e.g. qwen3:8b")],
        plan: Annotated[PullPlan, Resolve(pull_plan)],
        answer: Annotated[ElicitationResult[Confirmation], Resolve(pull_question)],
        ctx: Context,
        node: Annotated[
            str | None, Field(description="Node id; omitted: the best-fitting online node")
        ] = None,
        confirm_token: Annotated[
            str | None,
            Field(description="Only after the user said yes to a preview: the token it gave"),
        ] = None,
    ) -> PullResult:
        """Download a model from the Ollama library onto one node, with progress. Asks the user
        first (model, node, download size, free disk); without elicitation the first call only
        returns a preview and a confirm_token, and a second call with that token pulls."""
        binding = {"model": model, "node": node}
        facts = _pull_facts(plan)
        if confirm_token:
            redeemed = guard.redeem(confirm_token, "pull_model", binding)
            if not redeemed.ok:
                return PullResult(
                    status="refused",
                    message=f"Nothing was pulled: {redeemed.reason}. Call pull_model without a "
                    "token for a fresh preview and ask the user again.",
                    **facts,
                )
            return await _pull(redeemed.payload, ctx)
        if plan.problem:
            return PullResult(
                status="refused", message=f"Nothing was pulled: {plan.problem}", **facts
            )
        if isinstance(answer, AcceptedElicitation) and isinstance(answer.data, _NoQuestion):
            ticket = guard.issue("pull_model", binding, plan)
            return PullResult(
                status="needs_confirmation",
                message=f"Preview only, nothing was pulled. {plan.question} Show this to the user "
                "and wait for their explicit yes; then call pull_model again with the same "
                "arguments and confirm_token.",
                confirm_token=ticket.token,
                token_expires_in_s=guard.expires_in(ticket),
                **facts,
            )
        if isinstance(answer, AcceptedElicitation) and answer.data.confirm:
            return await _pull(plan, ctx)
        said = "cancelled" if answer.action == "cancel" else "declined"
        return PullResult(status=said, message=f"The user {said}; nothing was pulled.", **facts)

    async def _pull(plan: PullPlan, ctx: Context) -> PullResult:
        assert plan.node_id is not None
        facts = _pull_facts(plan)
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
        except RouterUnreachable as exc:
            return PullResult(
                status="failed",
                message=advice.unreachable(exc.url, str(exc.cause)),
                progress_updates=updates,
                final_status=last,
                **facts,
            )
        except RouterApiError as exc:
            return PullResult(
                status="failed",
                message=await _api_error_text(client, exc),
                progress_updates=updates,
                final_status=last,
                **facts,
            )
        if last != "success":
            return PullResult(
                status="failed",
                message=f"The pull of {plan.model} on {plan.node_id} ended without success "
                f"(last status: {last}). {advice.api_error('POST', '/api/pull', 200, str(last))}",
                progress_updates=updates,
                final_status=last,
                **facts,
            )
        return PullResult(
            status="done",
            message=f"Pulled {plan.model} onto {plan.node_id}.",
            progress_updates=updates,
            final_status=last,
            **facts,
        )

    # --- delete ----------------------------------------------------------------------------------

    async def delete_plan(model: str, node: str) -> DeletePlan:
        async with _router_errors(client):
            status = await client.fleet_status()
        return plan_delete(status, model, node)

    async def delete_question(
        plan: Annotated[DeletePlan, Resolve(delete_plan)],
        confirm_token: str | None,
        ctx: Context,
    ) -> Elicit[Confirmation] | _NoQuestion:
        if plan.problem or confirm_token or not can_elicit(ctx):
            return NO_QUESTION
        return Elicit(plan.question, Confirmation)

    @tool(
        "delete_model",
        ToolAnnotations(
            read_only_hint=False,
            destructive_hint=True,
            idempotent_hint=True,
            open_world_hint=False,
        ),
        "Delete a model from a node",
    )
    async def delete_model(
        model: Annotated[str, Field(description="Model to delete, e.g. qwen3:8b")],
        node: Annotated[str, Field(description="Node id to delete it from (one node only)")],
        plan: Annotated[DeletePlan, Resolve(delete_plan)],
        answer: Annotated[ElicitationResult[Confirmation], Resolve(delete_question)],
        confirm_token: Annotated[
            str | None,
            Field(description="Only after the user said yes to a preview: the token it gave"),
        ] = None,
    ) -> DeleteResult:
        """Delete a model from one node's disk. Asks the user first (model, node, GB freed, free
        disk); without elicitation the first call only returns a preview and a confirm_token, and
        a second call with that token deletes."""
        binding = {"model": model, "node": node}
        facts = _delete_facts(plan)
        if confirm_token:
            redeemed = guard.redeem(confirm_token, "delete_model", binding)
            if not redeemed.ok:
                return DeleteResult(
                    status="refused",
                    message=f"Nothing was deleted: {redeemed.reason}. Call delete_model without "
                    "a token for a fresh preview and ask the user again.",
                    **facts,
                )
            return await _delete(redeemed.payload)
        if plan.problem:
            return DeleteResult(
                status="refused", message=f"Nothing was deleted: {plan.problem}", **facts
            )
        if isinstance(answer, AcceptedElicitation) and isinstance(answer.data, _NoQuestion):
            ticket = guard.issue("delete_model", binding, plan)
            return DeleteResult(
                status="needs_confirmation",
                message=f"Preview only, nothing was deleted. {plan.question} Show this to the "
                "user and wait for their explicit yes; then call delete_model again with the "
                "same arguments and confirm_token.",
                confirm_token=ticket.token,
                token_expires_in_s=guard.expires_in(ticket),
                **facts,
            )
        if isinstance(answer, AcceptedElicitation) and answer.data.confirm:
            return await _delete(plan)
        said = "cancelled" if answer.action == "cancel" else "declined"
        return DeleteResult(status=said, message=f"The user {said}; nothing was deleted.", **facts)

    async def _delete(plan: DeletePlan) -> DeleteResult:
        facts = _delete_facts(plan)
        try:
            data = await client.delete(plan.model, plan.node_id)
        except RouterUnreachable as exc:
            return DeleteResult(
                status="failed", message=advice.unreachable(exc.url, str(exc.cause)), **facts
            )
        except RouterApiError as exc:
            return DeleteResult(
                status="failed",
                message=await _api_error_text(client, exc),
                **facts,
            )
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

    # --- settings --------------------------------------------------------------------------------

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
        async with _router_errors(client):
            current = (await client.settings()).get("toggles", {}) or {}
        return plan_settings(current, changes)

    async def settings_question(
        plan: Annotated[SettingsPlan, Resolve(settings_plan)],
        confirm_token: str | None,
        ctx: Context,
    ) -> Elicit[Confirmation] | _NoQuestion:
        if plan.problem or confirm_token or not can_elicit(ctx):
            return NO_QUESTION
        return Elicit(plan.question, Confirmation)

    @tool(
        "update_settings",
        ToolAnnotations(
            read_only_hint=False,
            destructive_hint=True,
            idempotent_hint=True,
            open_world_hint=False,
        ),
        "Change router settings",
    )
    async def update_settings(
        plan: Annotated[SettingsPlan, Resolve(settings_plan)],
        answer: Annotated[ElicitationResult[Confirmation], Resolve(settings_question)],
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
        confirm_token: Annotated[
            str | None,
            Field(description="Only after the user said yes to a preview: the token it gave"),
        ] = None,
    ) -> SettingsUpdateResult:
        """Change the router's runtime toggles (only the ones given). Asks the user first, showing
        each old and new value; without elicitation the first call only returns a preview and a
        confirm_token, and a second call with that token applies the change."""
        binding = dict(plan.changes)
        facts = {"changes": plan.changes, "previous": plan.previous}
        if confirm_token:
            redeemed = guard.redeem(confirm_token, "update_settings", binding)
            if not redeemed.ok:
                return SettingsUpdateResult(
                    status="refused",
                    message=f"Nothing was changed: {redeemed.reason}. Call update_settings "
                    "without a token for a fresh preview and ask the user again.",
                    **facts,
                )
            return await _apply(redeemed.payload)
        if plan.problem:
            return SettingsUpdateResult(
                status="refused", message=f"Nothing was changed: {plan.problem}", **facts
            )
        if isinstance(answer, AcceptedElicitation) and isinstance(answer.data, _NoQuestion):
            ticket = guard.issue("update_settings", binding, plan)
            return SettingsUpdateResult(
                status="needs_confirmation",
                message=f"Preview only, nothing was changed. {plan.question} Show this to the "
                "user and wait for their explicit yes; then call update_settings again with the "
                "same arguments and confirm_token.",
                confirm_token=ticket.token,
                token_expires_in_s=guard.expires_in(ticket),
                **facts,
            )
        if isinstance(answer, AcceptedElicitation) and answer.data.confirm:
            return await _apply(plan)
        said = "cancelled" if answer.action == "cancel" else "declined"
        return SettingsUpdateResult(
            status=said, message=f"The user {said}; nothing was changed.", **facts
        )

    async def _apply(plan: SettingsPlan) -> SettingsUpdateResult:
        facts = {"changes": plan.changes, "previous": plan.previous}
        try:
            data = await client.update_settings(dict(plan.changes))
        except RouterUnreachable as exc:
            return SettingsUpdateResult(
                status="failed", message=advice.unreachable(exc.url, str(exc.cause)), **facts
            )
        except RouterApiError as exc:
            return SettingsUpdateResult(
                status="failed",
                message=await _api_error_text(client, exc),
                **facts,
            )
        return SettingsUpdateResult(
            status="done",
            message="Changed: " + ", ".join(f"{k}={v}" for k, v in sorted(plan.changes.items())),
            toggles=data.get("toggles", {}) or {},
            **facts,
        )

    # --- inference -------------------------------------------------------------------------------

    @tool(
        "test_inference",
        ToolAnnotations(
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=False,
        ),
        "Test inference",
    )
    async def test_inference(
        model: Annotated[
            str | None, Field(description="Model; omitted: a loaded one, else the smallest")
        ] = None,
        prompt: Annotated[str, Field(max_length=2000)] = "Reply with one short sentence.",
        max_tokens: Annotated[int, Field(ge=1, le=512)] = 32,
    ) -> InferenceResult:
        """Send one short chat through the fleet, as any client would, and report which node
        answered, the latency, time to first chunk, tokens and tokens/s, the routing score,
        retries and any fallback (from the X-Fleet-* headers and the final chunk). It may load
        the model on a node and is recorded as a trace tagged herd-mcp:test_inference."""
        async with _router_errors(client):
            if model is None:
                status = await client.fleet_status()
                if not status.fleet.nodes_online:
                    raise ToolError(advice.NO_NODE)
                model = pick_test_model(status)
                if model is None:
                    raise ToolError("No online node has a chat model; pull one first.")
            outcome = await client.chat(model, prompt, max_tokens)
        final = outcome.final
        eval_count = final.get("eval_count")
        eval_ns = final.get("eval_duration")
        tps = eval_count / eval_ns * 1e9 if eval_count and eval_ns else None
        headers = outcome.headers
        score = headers.get("x-fleet-score")
        load_ns = final.get("load_duration")
        return InferenceResult(
            model=str(final.get("model") or headers.get("x-fleet-fallback") or model),
            requested_model=model,
            node_id=headers.get("x-fleet-node"),
            latency_ms=round(outcome.latency_ms, 1),
            time_to_first_chunk_ms=None
            if outcome.time_to_first_chunk_ms is None
            else round(outcome.time_to_first_chunk_ms, 1),
            prompt_tokens=final.get("prompt_eval_count"),
            completion_tokens=eval_count,
            tokens_per_s=None if tps is None else round(tps, 1),
            load_ms=None if not load_ns else round(load_ns / 1e6, 1),
            score=_float(score),
            retries=int(_float(headers.get("x-fleet-retries")) or 0),
            fallback_model=headers.get("x-fleet-fallback") or None,
            done_reason=final.get("done_reason"),
            reply=outcome.reply,
        )

    # --- resources -------------------------------------------------------------------------------

    @server.resource(
        "herd://fleet/status",
        name="fleet-status",
        title="Fleet status",
        description="GET /fleet/status: every node, its models and the router's queues.",
        mime_type="application/json",
    )
    async def fleet_resource() -> str:
        try:
            status = await client.fleet_status()
        except RouterUnreachable as exc:
            raise ResourceError(advice.unreachable(exc.url, str(exc.cause))) from exc
        except RouterApiError as exc:
            raise ResourceError(await _api_error_text(client, exc)) from exc
        problems, notes = _fleet_advice(status)
        result = FleetStatusResult(**status.model_dump(), problems=problems, advice=notes)
        return result.model_dump_json(indent=2)

    @server.resource(
        "herd://nodes/{node_id}",
        name="node",
        title="One node",
        description="One node as /fleet/status shows it, with what to check when it is unwell.",
        mime_type="application/json",
    )
    async def node_resource(node_id: str) -> str:
        try:
            status = await client.fleet_status()
        except RouterUnreachable as exc:
            raise ResourceError(advice.unreachable(exc.url, str(exc.cause))) from exc
        except RouterApiError as exc:
            raise ResourceError(await _api_error_text(client, exc)) from exc
        node = next((n for n in status.nodes if n.node_id == node_id), None)
        if node is None:
            known = ", ".join(sorted(n.node_id for n in status.nodes)) or "none"
            raise ResourceError(f"unknown node {node_id!r}; known nodes: {known}")
        body = node.model_dump(mode="json")
        body["what_to_check"] = advice.node_problem(node)
        return json.dumps(body, indent=2)

    # --- prompts ---------------------------------------------------------------------------------

    @server.prompt(
        name="check_fleet_health",
        title="Check fleet health",
        description="Walk through the fleet's health and say what needs a person's attention.",
    )
    def check_fleet_health() -> str:
        return (
            "Check the health of my herd fleet. Call `health` and `fleet_status`. Summarise the "
            "score and overall status, then list each warning or critical finding with its numbers "
            "and its fix, grouped by node. For every node that is offline or degraded, say what "
            "to check (device awake, herd-node running, network path to the router); do not "
            "restart or change anything. If no node is online, explain how to start `herd-node` "
            "on each device (with `--router-url http://ROUTER:11435` when mDNS fails)."
        )

    @server.prompt(
        name="diagnose_slow_responses",
        title="Diagnose slow responses",
        description="Find why requests are slow: queues, cold loads, memory, retries, nodes.",
    )
    def diagnose_slow_responses(model: str = "") -> str:
        scope = f" for the model {model}" if model else ""
        traces_call = f'`traces` with model="{model}"' if model else "`traces`"
        return (
            f"Responses{scope} from my herd fleet feel slow. Diagnose it step by step: "
            f"1) {traces_call} (limit 50): compare latency_ms and time to first token, look for "
            "cold loads, retries, fallbacks and failed requests, and which nodes served them. "
            "2) `fleet_status`: queue depth (pending, in_flight) per node:model, memory pressure, "
            "CPU load, thermal state. 3) `loaded_models`: is the model hot, and where? "
            "4) `health`: thrashing, KV-cache bloat, context protection, timeouts. "
            "5) `model_insights` for per-model latency percentiles. Optionally `test_inference` "
            "once to measure a fresh request. Conclude with the most likely causes, the evidence "
            "for each, and concrete fixes; change nothing without asking me."
        )

    @server.prompt(
        name="find_model_location",
        title="Find where a model lives",
        description="Which nodes hold a model, whether it is loaded, and how to get it if not.",
    )
    def find_model_location(model: str) -> str:
        return (
            f"Where does the model {model} live in my herd fleet? Call `find_model` with "
            f'model="{model}". Say which nodes have it loaded (hot) and which only on disk '
            "(cold), mention unreachable holders, and if no node has it, list similar tags and "
            "offer to pull it with `pull_model` - only after I confirm."
        )

    return server


def _pull_facts(plan: PullPlan) -> dict[str, Any]:
    return {
        "model": plan.model,
        "node_id": plan.node_id,
        "download_gb": plan.download_gb,
        "disk_free_gb": plan.disk_free_gb,
        "disk_free_after_gb": plan.disk_free_after_gb,
    }


def _delete_facts(plan: DeletePlan) -> dict[str, Any]:
    return {
        "model": plan.model,
        "node_id": plan.node_id,
        "freed_gb": plan.freed_gb,
        "disk_free_gb": plan.disk_free_gb,
        "disk_free_after_gb": plan.disk_free_after_gb,
    }


def _changes(**values: SettingValue | None) -> dict[str, SettingValue]:
    return {k: v for k, v in values.items() if v is not None}


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("ollama-herd")
    except Exception:
        return "0.1.0"
