"""Ollama's native API in front of the fleet: inference at ``/api/chat``, ``/api/generate``,
``/api/embed`` and ``/api/embeddings``, with the model administration of
``router.api.ollama_models`` (``/api/show``, ``/api/pull``, ``/api/delete``).

Inference bodies already are Ollama's shape, so this front end validates, splits off router-only
fields and passes bytes through; the pipeline does the rest. Errors are ``{"error": "..."}`` with
the right status.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from router.api import ollama_models
from router.api.access import route
from router.api.intake import intake, require_bool, traced
from router.api.responses import json_response
from router.api.streaming import RoutedStream
from router.errors import BadRequest
from router.parts import AppParts
from router.pipeline.request import RequestKind
from router.translate.option_ranges import check_options
from router.unload import is_unload, unload_everywhere

NDJSON = "application/x-ndjson"


def _validate(kind: RequestKind, body: dict[str, Any]) -> None:
    if kind == "chat":
        messages = body.get("messages", [])
        if messages is not None and not isinstance(messages, list):
            raise BadRequest("messages must be a list of {role, content} objects")
        for i, message in enumerate(messages or []):
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise BadRequest(f"messages[{i}] must be an object with a string role")
    if kind == "generate" and not isinstance(body.get("prompt", ""), str):
        raise BadRequest("prompt must be a string")
    if kind == "embed":
        value = body.get("input")
        ok = isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        )
        if not ok:
            raise BadRequest("input must be a string or a list of strings")
    if kind == "embeddings" and not isinstance(body.get("prompt", ""), str):
        raise BadRequest("prompt must be a string")
    check_options(body.get("options"))


def routes(ctx: AppParts) -> list[Route]:
    def inference(kind: RequestKind, streams_by_default: bool) -> Any:
        async def handle(request: Request, state: dict[str, Any]) -> Response:
            got = await intake(request, ctx, state)
            _validate(kind, got.body)
            if is_unload(kind, got.body):
                answer = await unload_everywhere(ctx.registry, ctx.upstream, kind, got.model)
                return json_response(answer, headers={"X-Fleet-Node": ",".join(answer["nodes"])})
            stream = require_bool(got.body, "stream", streams_by_default)
            routed = await ctx.pipeline.open(got.inference(kind, "ollama", got.body, stream))
            if routed.complete:
                return Response(
                    routed.first, media_type="application/json", headers=routed.headers()
                )
            return RoutedStream(routed.lines(), routed.close, NDJSON, routed.headers())  # type: ignore[return-value]

        return traced(ctx, kind, "ollama", handle)

    return [
        route("/api/chat", inference("chat", True), methods=["POST"], access="use"),
        route("/api/generate", inference("generate", True), methods=["POST"], access="use"),
        route("/api/embed", inference("embed", False), methods=["POST"], access="use"),
        route("/api/embeddings", inference("embeddings", False), methods=["POST"], access="use"),
        *ollama_models.routes(ctx),
    ]
