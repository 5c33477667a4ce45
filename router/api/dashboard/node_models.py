"""The models on each node, for managing them: what every node holds (size, loaded, last used,
request count) and deleting one from one node."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from herd_contract.heartbeat import AvailableModel
from herd_contract.model_names import normalize
from herd_contract.units import to_gb
from router import management
from router.api.access import route
from router.api.bodies import read_json_object
from router.api.dashboard.params import DAY, node_views
from router.api.intake import model_and_node
from router.api.responses import json_response
from router.errors import NotFound
from router.parts import AppParts
from router.registry import NodeRecord


def routes(ctx: AppParts) -> list[Route]:

    async def model_management(request: Request) -> Response:
        now = ctx.clock()
        rows = await ctx.store.node_model_usage(since=now - 30 * DAY, until=now)
        return json_response(management.model_management(node_views(ctx), rows))

    async def delete(request: Request) -> Response:
        body = await read_json_object(request, 65_536)
        model, node_id = model_and_node(body, node_required=True)
        assert node_id is not None  # node_required
        record = ctx.registry.get(node_id)
        if record is None:
            raise NotFound(f"unknown node {node_id!r}")
        wanted = normalize(model)

        def on_disk(node: NodeRecord) -> AvailableModel | None:
            models = node.heartbeat.ollama.models_available
            return next((m for m in models if normalize(m.name) == wanted), None)

        entry = on_disk(record)
        if entry is None:  # a heartbeat sent before a pull ended can still be the latest one
            await ctx.pulls.refresh(record)
            record = ctx.registry.get(node_id) or record
            entry = on_disk(record)
        if entry is None:
            raise NotFound(f"model {model!r} is not on node {node_id!r}")
        ok, problem = await ctx.pulls.delete(record, entry.name)
        result: dict[str, Any] = {
            "ok": ok,
            "model": entry.name,
            "node_id": node_id,
            "freed_gb": to_gb(entry.size, 2) if ok else 0.0,
        }
        if problem:
            result["error"] = problem
        return json_response(result, status=200 if ok else 502)

    return [
        route("/dashboard/api/model-management", model_management, methods=["GET"], access="use"),
        route("/dashboard/api/delete", delete, methods=["POST"], access="admin"),
    ]
