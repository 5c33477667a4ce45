"""Fleet endpoints: heartbeats in, fleet status and the merged model lists out.

``POST /fleet/heartbeat``, ``GET /fleet/status``, ``GET /api/tags``, ``GET /api/ps``,
``GET /api/version``, ``GET /v1/models``, ``GET /``. Translation only: state lives in the registry.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from router import __version__
from router.api.access import route
from router.api.bodies import read_body
from router.api.responses import json_response
from router.errors import NotFound
from router.fleet_view import (
    fleet_ollama_version,
    fleet_status,
    heartbeat_ps,
    merged_ps,
    merged_tags,
    openai_models,
)
from router.http_client import HTTPError
from router.node_identity import KEY_HEADER, AddressError, checked_backend_url
from router.parts import AppParts
from router.registry import NodeRecord, reachable_ollama_url
from router.wire import MAX_HEARTBEAT_BYTES, Heartbeat, HeartbeatAck

log = logging.getLogger("herd.fleet")
LIVE_PS_TIMEOUT_S = 1.5


def routes(ctx: AppParts) -> list[Route]:
    async def heartbeat(request: Request) -> Response:
        raw = await read_body(request, MAX_HEARTBEAT_BYTES)
        try:
            beat = Heartbeat.model_validate_json(raw)
        except ValidationError as exc:
            errors = [
                {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"], "type": e["type"]}
                for e in exc.errors(include_url=False, include_input=False)
            ]
            first = errors[0] if errors else {"loc": "", "msg": "invalid"}
            return json_response(
                {"error": f"invalid heartbeat: {first['loc']}: {first['msg']}", "detail": errors},
                status=422,
            )
        client = request.client.host if request.client else None
        try:
            url = reachable_ollama_url(checked_backend_url(beat.ollama.url), client)
        except AddressError as exc:
            return json_response({"error": f"invalid heartbeat: ollama.url: {exc}"}, status=422)
        admission = ctx.identities.admit(
            beat.node_id, request.headers.get(KEY_HEADER), client, url, ctx.clock()
        )
        if admission.verdict == "refused":
            log.warning(
                "refused a heartbeat for %s from %s: %s",
                beat.node_id,
                client,
                admission.reason,
                extra={"node_id": beat.node_id},
            )
            return json_response({"error": admission.reason}, status=403)
        identity = ctx.identities.get(beat.node_id)
        known = ctx.registry.get(beat.node_id) is not None
        status = ctx.registry.apply(
            beat, client, url=admission.url, identity=identity.view() if identity else None
        )
        if not known:
            log.info(
                "node %s joined (%s)",
                beat.node_id,
                ctx.registry.get(beat.node_id).ollama_url,  # type: ignore[union-attr]
                extra={"console": True, "node_id": beat.node_id},
            )
        elif beat.status == "draining":
            log.info("node %s is draining", beat.node_id, extra={"console": True})
        ack = HeartbeatAck(
            node_id=beat.node_id,
            status=status,
            router_version=__version__,
            heartbeat_interval_s=ctx.settings.heartbeat_interval_s,
            node_key=admission.key,
        )
        return json_response(ack.model_dump(exclude_none=True))

    async def status(request: Request) -> Response:
        now = ctx.clock()
        view = fleet_status(
            ctx.registry.with_status(now),
            ctx.queues.stats(),
            now,
            router_info={
                "uptime_s": round(now - ctx.started_at, 1),
                "traces_dropped": ctx.store.dropped,
            },
        )
        view.pulls = [job.view() for job in ctx.pulls.jobs.all()]
        return json_response(view.model_dump(mode="json"))

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
        route("/fleet/heartbeat", heartbeat, methods=["POST"], access="heartbeat"),
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
        route("/api/tags", tags, methods=["GET"], access="use"),
        route("/api/ps", ps, methods=["GET"], access="use"),
        route("/api/version", version, methods=["GET"], access="use"),
        route("/v1/models", models, methods=["GET"], access="use"),
    ]
