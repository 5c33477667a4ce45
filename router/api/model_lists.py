"""The fleet's merged model lists, in Ollama's and OpenAI's shapes: ``GET /api/tags``,
``GET /api/ps`` (asked live of every node), ``GET /api/version``, ``GET /v1/models`` and
``GET /v1/models/{id}`` (404 as an OpenAI error for a model no routable node has).

Translation only: the lists are built by ``router.fleet_view`` from the registry.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from herd_contract.model_names import normalize
from router import __version__
from router.api.access import route
from router.api.responses import json_response
from router.errors import NotFound
from router.fleet_view import (
    fleet_ollama_version,
    heartbeat_ps,
    merged_ps,
    merged_tags,
    openai_models,
)
from router.http_client import HTTPError
from router.parts import AppParts
from router.registry import NodeRecord

LIVE_PS_TIMEOUT_S = 1.5


def routes(ctx: AppParts) -> list[Route]:
    async def tags(request: Request) -> Response:
        return json_response(merged_tags(r for r, _ in ctx.registry.routable()))

    async def ps(request: Request) -> Response:
        # Asked live: what is loaded changes by the second, and a heartbeat can be seconds old.
        records = [r for r, _ in ctx.registry.routable()]
        live = await asyncio.gather(*(_live_ps(r) for r in records))
        return json_response(merged_ps(zip((r.node_id for r in records), live, strict=True)))

    async def _live_ps(record: NodeRecord) -> list[dict[str, Any]]:
        try:
            answer = await ctx.upstream.get_json(
                record.ollama_url, "/api/ps", timeout=LIVE_PS_TIMEOUT_S
            )
        except (HTTPError, ValueError):
            pass
        else:
            models = answer.get("models") if isinstance(answer, dict) else None
            if isinstance(models, list):
                return [m for m in models if isinstance(m, dict) and m.get("name")]
        return heartbeat_ps(record)

    async def version(request: Request) -> Response:
        records = [r for r, _ in ctx.registry.routable()]
        return json_response({"version": fleet_ollama_version(records), "herd": __version__})

    async def models(request: Request) -> Response:
        records = [r for r, _ in ctx.registry.routable()]
        return json_response(openai_models(records, created=int(ctx.started_at)))

    async def model(request: Request) -> Response:
        wanted = normalize(request.path_params["model"])
        records = [r for r, _ in ctx.registry.routable()]
        for entry in openai_models(records, created=int(ctx.started_at))["data"]:
            if normalize(entry["id"]) == wanted:
                return json_response(entry)
        raise NotFound(f"The model '{request.path_params['model']}' does not exist")

    return [
        route("/api/tags", tags, methods=["GET"], access="use"),
        route("/api/ps", ps, methods=["GET"], access="use"),
        route("/api/version", version, methods=["GET"], access="use"),
        route("/v1/models", models, methods=["GET"], access="use"),
        route("/v1/models/{model:path}", model, methods=["GET"], access="use"),
    ]
