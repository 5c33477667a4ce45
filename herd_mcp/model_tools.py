"""herd's model tools: ``model_list``, ``loaded_models``, ``find_model`` (where models are) and
``delete_model`` (confirmed: planned from the router's current state, asked, then done).

Owns those tools' names, descriptions, arguments and results. ``delete_model`` must never act
without the user's yes (an elicited confirmation or a redeemed token). No
``from __future__ import annotations``: the SDK evaluates the ``Resolve(...)`` annotations.
"""

import json
from typing import Annotated, Any

from mcp.server.mcpserver import ElicitationResult, Resolve
from pydantic import Field

from herd_mcp import advice
from herd_mcp.client import RouterApiError, RouterClient, RouterUnreachable
from herd_mcp.confirmation import Confirmation, ConfirmToken, plan_facts, question, settle
from herd_mcp.failures import failure_text, router_errors
from herd_mcp.fleet_tools import fleet_advice
from herd_mcp.guard import ConfirmationGuard
from herd_mcp.models import (
    DeleteResult,
    FindModelResult,
    LoadedEntry,
    LoadedModelsResult,
    ModelListResult,
)
from herd_mcp.plans import DeletePlan, find, model_entries, plan_delete
from herd_mcp.registration import READ, Tool, changing


def register_model_tools(tool: Tool, client: RouterClient, guard: ConfirmationGuard[Any]) -> None:
    """Register ``model_list``, ``loaded_models``, ``find_model`` and ``delete_model``; the
    delete's confirmation tokens are kept by ``guard``."""
    register_model_views(tool, client)
    register_delete_model(tool, client, guard)


def register_model_views(tool: Tool, client: RouterClient) -> None:
    """Register ``model_list``, ``loaded_models`` and ``find_model``."""

    @tool("model_list", READ, "Models in the fleet")
    async def model_list() -> ModelListResult:
        """Every model on the fleet's reachable nodes, which nodes hold it, and whether it is hot
        (loaded in memory somewhere) or cold (on disk only; the first request loads it)."""
        async with router_errors(client):
            status = await client.fleet_status()
        models = model_entries(status)
        _, notes = fleet_advice(status)
        return ModelListResult(models=models, count=len(models), advice=notes)

    @tool("loaded_models", READ, "Loaded models")
    async def loaded_models() -> LoadedModelsResult:
        """The models loaded in memory right now, one entry per node, with memory used, context
        length and when Ollama will unload them (from the router's merged /api/ps)."""
        async with router_errors(client):
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
        async with router_errors(client):
            status = await client.fleet_status()
        return find(status, model)


def register_delete_model(tool: Tool, client: RouterClient, guard: ConfirmationGuard[Any]) -> None:
    """Register ``delete_model``: plan from the fleet, confirm, delete through the router."""

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
