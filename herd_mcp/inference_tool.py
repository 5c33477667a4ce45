"""herd's ``test_inference`` tool: one short chat through the fleet, as any client would send it,
reported with the node that answered, latency, tokens/s, routing score, retries and fallback.

Owns that tool. It puts work on the fleet (it may load a model), so it is not annotated read-only
and ``--read-only`` leaves it out; it must never pull, delete or reconfigure
anything. No ``from __future__ import annotations``: the SDK evaluates tool annotations.
"""

from typing import Annotated

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from herd_contract.model_names import normalize
from herd_mcp import advice
from herd_mcp.client import ChatOutcome, RouterClient
from herd_mcp.failures import router_errors
from herd_mcp.models import InferenceResult
from herd_mcp.plans import backend_holders, pick_test_model
from herd_mcp.registration import Tool, changing


def register_inference_tool(tool: Tool, client: RouterClient) -> None:
    """Register ``test_inference`` for ``client``'s router."""

    @tool(
        "test_inference",
        changing(destructive=False, idempotent=False, open_world=False),
        "Test inference",
    )
    async def test_inference(
        model: Annotated[
            str | None, Field(description="Model; omitted: a loaded one, else the smallest")
        ] = None,
        prompt: Annotated[str, Field(max_length=2000)] = "Reply with one short sentence.",
        max_tokens: Annotated[int, Field(ge=1, le=512)] = 32,
    ) -> InferenceResult:
        """Send one short chat through the fleet (for an image model one small image, for a
        speech model one second of audio), as any client would, and report which node
        answered, the latency, time to first chunk, tokens and tokens/s, the routing score,
        retries and any fallback (from the X-Fleet-* headers and the final chunk). It may load
        the model on a node and is recorded as a trace tagged herd-mcp:test_inference."""
        async with router_errors(client):
            if model is not None:
                kind, _ = backend_holders(await client.fleet_status(), normalize(model))
                if kind in ("image", "stt"):
                    return _media_result(model, await client.try_media(kind, model))
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


def _media_result(model: str, outcome: ChatOutcome) -> InferenceResult:
    """An image or transcription test, in the same result: node, latency and what came back."""
    headers = outcome.headers
    return InferenceResult(
        model=headers.get("x-fleet-model") or model,
        requested_model=model,
        node_id=headers.get("x-fleet-node"),
        latency_ms=round(outcome.latency_ms, 1),
        score=_float(headers.get("x-fleet-score")),
        retries=int(_float(headers.get("x-fleet-retries")) or 0),
        reply=outcome.reply,
    )


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None
