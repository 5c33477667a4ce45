"""Ollama's native model administration in front of the fleet: ``/api/show`` (asked of a node
that holds the model, traced), ``/api/pull`` (a pull job on the best-fitting or named node, its
progress streamed) and ``/api/delete`` (on one node or every node that holds the model).

Translation only: the pipeline's ``ModelShow`` and ``PullCoordinator`` act on the nodes. Errors
are ``{"error": "..."}`` with the right status.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from herd_contract.model_names import normalize
from router.api.access import route
from router.api.bodies import read_json_object
from router.api.intake import model_and_node, require_bool
from router.api.request_ids import request_id_of
from router.api.responses import json_response
from router.errors import BadRequest, NotFound
from router.parts import AppParts

NDJSON = "application/x-ndjson"


def routes(ctx: AppParts) -> list[Route]:
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
        route("/api/show", show, methods=["POST"], access="use"),
        route("/api/pull", pull, methods=["POST"], access="admin"),
        route("/api/delete", delete, methods=["DELETE"], access="admin"),
    ]
