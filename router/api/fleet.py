"""The fleet as the router sees it: ``GET /fleet/status`` (nodes, queues, pull jobs) and the
administrator's node-identity actions (reset a node's key, approve a node's new address).

Translation only: state lives in the registry, the queues and the identity book.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from router.api.access import route
from router.api.responses import json_response
from router.errors import NotFound
from router.fleet_view import fleet_status
from router.parts import AppParts

log = logging.getLogger("herd.fleet")


def routes(ctx: AppParts) -> list[Route]:
    async def status(request: Request) -> Response:
        now = ctx.clock()
        view = fleet_status(
            ctx.registry.with_status(now),
            ctx.queues.stats(),
            now,
            waiting=ctx.queues.waiting(),
            router_info={
                "uptime_s": round(now - ctx.started_at, 1),
                "traces_dropped": ctx.store.dropped,
                "open_circuits": ctx.pipeline.breakers.snapshot(),
            },
        )
        view.pulls = [job.view() for job in ctx.pulls.jobs.all()]
        return json_response(view.model_dump(mode="json"))

    async def identity_reset(request: Request) -> Response:
        node_id = request.path_params["node_id"]
        if not ctx.identities.reset(node_id):
            raise NotFound(f"node id {node_id!r} is not bound")
        log.warning("the admin reset the identity of node %s", node_id, extra={"console": True})
        return json_response({"node_id": node_id, "reset": True})

    async def address_approve(request: Request) -> Response:
        node_id = request.path_params["node_id"]
        identity = ctx.identities.approve(node_id, ctx.clock())
        if identity is None:
            raise NotFound(f"node id {node_id!r} is not bound")
        log.warning("the admin approved %s at %s", node_id, identity.url, extra={"console": True})
        return json_response({"node_id": node_id, "url": identity.url, **identity.view()})

    return [
        route("/fleet/status", status, methods=["GET"], access="use"),
        route(
            "/dashboard/api/nodes/{node_id}/identity/reset",
            identity_reset,
            methods=["POST"],
            access="admin",
        ),
        route(
            "/dashboard/api/nodes/{node_id}/address/approve",
            address_approve,
            methods=["POST"],
            access="admin",
        ),
    ]
