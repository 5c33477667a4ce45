"""Ollama's native API in front of the fleet: ``/api/chat``, ``/api/generate``, ``/api/embed``,
``/api/embeddings``, ``/api/show``, ``/api/pull``, ``/api/delete``.

Inference bodies already are Ollama's shape, so this front end validates, splits off router-only
fields and passes bytes through; the pipeline does the rest. Pull and delete act on nodes
through the pull coordinator. Errors are ``{"error": "..."}`` with the right status.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from herd_contract.model_names import normalize
from router.api.access import route
from router.api.bodies import read_json_object
from router.api.intake import intake, model_and_node, require_bool, traced
from router.api.request_ids import request_id_of
from router.api.responses import json_response
from router.api.streaming import RoutedStream
from router.errors import BadRequest, NotFound
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

    async def show(request: Request) -> Response:
        body = await read_json_object(request, ctx.settings.max_body_bytes)
        model = body.get("model") or body.get("name")
        if not isinstance(model, str) or not model:
            raise BadRequest("model is required")
        client_ip = request.client.host if request.client else None
        node_id, content = await ctx.model_show.show(
            model, body, request_id_of(request.scope), client_ip
        )
        return Response(content, media_type="application/json", headers={"X-Fleet-Node": node_id})

    async def pull(request: Request) -> Response:
        body = await read_json_object(request, ctx.settings.max_body_bytes)
        model, node_id = model_and_node(body)
        stream = require_bool(body, "stream", True)
        job = ctx.pulls.start(model, node_id, "api")
        headers = {"X-Fleet-Node": job.node_id, "X-Herd-Pull-Job": job.id}
        if stream:
            # The response follows the job: a client that goes away leaves the pull running.
            return StreamingResponse(job.follow(), media_type=NDJSON, headers=headers)
        await job.wait()
        if job.state != "done":
            return json_response({"error": job.error or f"pull {job.state}"}, 502, headers)
        return json_response({"status": "success", "node_id": job.node_id}, headers=headers)

    async def delete(request: Request) -> Response:
        body = await read_json_object(request, ctx.settings.max_body_bytes)
        model, node_id = model_and_node(body)
        wanted = normalize(model)
        if node_id:
            record = ctx.registry.get(node_id)
            if record is None:
                raise NotFound(f"unknown node {node_id!r}")
            targets = [record]
        else:
            targets = [r for r, _ in ctx.registry.routable() if wanted in r.available_models]
        targets = [r for r in targets if wanted in r.available_models]
        if not targets:
            raise NotFound(f"model '{model}' not found")
        deleted: list[str] = []
        errors: dict[str, str] = {}
        for record in targets:
            ok, problem = await ctx.pulls.delete(record, model)
            if ok:
                deleted.append(record.node_id)
            else:
                errors[record.node_id] = problem or "failed"
        status = 200 if deleted else 502
        result: dict[str, Any] = {"model": model, "deleted": deleted}
        if errors:
            result["errors"] = errors
            if not deleted:
                result["error"] = "; ".join(f"{n}: {e}" for n, e in errors.items())
        return json_response(result, status=status)

    return [
        route("/api/chat", inference("chat", True), methods=["POST"], access="use"),
        route("/api/generate", inference("generate", True), methods=["POST"], access="use"),
        route("/api/embed", inference("embed", False), methods=["POST"], access="use"),
        route("/api/embeddings", inference("embeddings", False), methods=["POST"], access="use"),
        route("/api/show", show, methods=["POST"], access="use"),
        route("/api/pull", pull, methods=["POST"], access="admin"),
        route("/api/delete", delete, methods=["DELETE"], access="admin"),
    ]
